"""Ballots and ballot-log events are append-only in the database itself (migration 0006), on
SQLite and PostgreSQL: "the earlier ballot is kept as superseded, never deleted or updated in
place" must hold against a statement sent past the application too.

``tests/test_migrations.py`` checks that the triggers exist; this checks that they refuse, and
(the control) that the very same statements go through once the triggers are dropped, so the
refusals come from the triggers and not from something else.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.settings import Settings
from tests.proposals.factories import run
from tests.voting.factories import issue_codes, open_round, redeem, scalar
from tests.voting.replay import replay

CHANGES = (
    "UPDATE ballots SET content = '{\"projects\":[]}' WHERE id = (SELECT min(id) FROM ballots)",
    "DELETE FROM ballots WHERE id = (SELECT min(id) FROM ballots)",
    "UPDATE log_events SET payload = '{}' WHERE height = 1",
    "DELETE FROM log_events WHERE height = (SELECT max(height) FROM log_events)",
)


def _try(settings: Settings, statement: str, *, drop_triggers: bool = False) -> str | None:
    """Run ``statement`` in its own transaction, rolled back; the database's refusal, or None."""

    async def work(session: AsyncSession) -> str | None:
        if drop_triggers:
            if session.get_bind().dialect.name == "postgresql":
                for table in ("ballots", "log_events"):
                    await session.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
            else:
                for table in ("ballots", "log_events"):
                    for action in ("update", "delete"):
                        await session.execute(text(f"DROP TRIGGER {table}_no_{action}"))
        try:
            await session.execute(text(statement))
        except DBAPIError as refusal:
            await session.rollback()
            return str(refusal.orig)
        await session.rollback()
        return None

    return run(settings, work)


def test_ballots_and_log_events_cannot_be_changed_or_deleted(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    voter = redeem(client, issue_codes(settings, vr, 1)[0])
    for choice in ([vr.projects[0]], [vr.projects[1], vr.projects[2]]):
        cast = client.put(
            f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": choice}, headers=voter
        )
        assert cast.status_code == 200, cast.text
    before = replay(settings, vr.round_id)
    statements = list(CHANGES)
    if settings.database_url.startswith("postgresql"):
        statements += ["TRUNCATE ballots CASCADE", "TRUNCATE log_events CASCADE"]
    for statement in statements:
        refusal = _try(settings, statement)
        assert refusal is not None, statement
        assert "append-only" in refusal, (statement, refusal)
    assert replay(settings, vr.round_id) == before
    assert scalar(settings, "SELECT count(*) FROM ballots") == 2
    # The control: without the triggers the same statements are accepted (a ballot row cannot be
    # deleted even then: the later ballot and the voter point at it, so DELETE is left out).
    for statement in CHANGES:
        if statement.startswith("DELETE FROM ballots"):
            continue
        assert _try(settings, statement, drop_triggers=True) is None, statement
