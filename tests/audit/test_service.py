"""The staff action log: recording, paging, and append-only enforcement by the database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service
from tests.rounds.factories import create_user


async def test_record_stores_who_what_why_and_json_details(session: AsyncSession) -> None:
    admin = await create_user(session, Role.ADMIN)
    entry = await service.record(
        session,
        actor_id=admin,
        action="round.update",
        subject_type="round",
        subject_id=7,
        details={"before": {"budget": 1}, "after": {"budget": 2}},
        reason="  typfout hersteld ",
    )
    await session.commit()
    page = await service.list_entries(session)
    assert page.total == 1
    (stored,) = page.entries
    assert stored.id == entry.id
    assert (stored.actor_id, stored.action, stored.subject_type, stored.subject_id) == (
        admin,
        "round.update",
        "round",
        "7",
    )
    assert stored.details == {"after": {"budget": 2}, "before": {"budget": 1}}
    assert stored.reason == "typfout hersteld"
    assert page.actor_names == {admin: "Test admin"}


async def test_entries_are_paged_newest_first(session: AsyncSession) -> None:
    for number in range(7):
        await service.record(
            session,
            actor_id=None,
            action="round.phase",
            subject_type="round",
            subject_id=number,
            details={},
        )
    first = await service.list_entries(session, page=1, per_page=3)
    third = await service.list_entries(session, page=3, per_page=3)
    assert [e.subject_id for e in first.entries] == ["6", "5", "4"]
    assert [e.subject_id for e in third.entries] == ["0"]
    assert (first.total, first.pages) == (7, 3)
    only = await service.list_entries(session, subject_type="round", subject_id="3")
    assert [e.subject_id for e in only.entries] == ["3"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET reason = 'herschreven'",
        "UPDATE audit_log SET actor_id = NULL",
        "DELETE FROM audit_log",
    ],
)
async def test_the_database_refuses_to_change_or_delete_log_entries(
    session: AsyncSession, statement: str
) -> None:
    await service.record(
        session,
        actor_id=None,
        action="round.phase",
        subject_type="round",
        subject_id=1,
        details={"to": "voting"},
        reason="origineel",
    )
    await session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text(statement))
    await session.rollback()
    rows = (await session.execute(text("SELECT reason FROM audit_log"))).scalars().all()
    assert rows == ["origineel"]


async def test_triggers_are_in_the_schema_and_postgresql_refuses_truncate(
    session: AsyncSession, database_url: str
) -> None:
    """The triggers come from the migration; on PostgreSQL row triggers do not fire on TRUNCATE,
    so a statement trigger covers it (SQLite has no TRUNCATE)."""
    if not database_url.startswith("postgresql"):
        names = (
            (
                await session.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = 'audit_log' ORDER BY name"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert names == ["audit_log_no_delete", "audit_log_no_update"]
        return
    names = (
        (
            await session.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass "
                    "AND NOT tgisinternal ORDER BY tgname"
                )
            )
        )
        .scalars()
        .all()
    )
    assert names == ["audit_log_append_only", "audit_log_no_truncate"]
    await service.record(
        session, actor_id=None, action="round.phase", subject_type="round", subject_id=1, details={}
    )
    await session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text("TRUNCATE audit_log"))
    await session.rollback()
    assert (await session.execute(text("SELECT count(*) FROM audit_log"))).scalar_one() == 1
