"""Plain helpers for round tests: valid round data, users, proposals and row counts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service as accounts
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.settings import Settings

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def round_data(**overrides: Any) -> dict[str, Any]:
    """A valid round: € 450.000 over three districts, four themes, a full schedule."""
    data: dict[str, Any] = {
        "title": "Burgerbegroting Sociaal Domein 2027",
        "description": "Verdeel mee over zorg en welzijn.",
        "total_budget_cents": 45_000_000,
        "budget_scope": "districts",
        "districts": [
            {"name": "Centrum", "budget_cents": 15_000_000},
            {"name": "Noord", "budget_cents": 15_000_000},
            {"name": "Zuid", "budget_cents": 15_000_000, "eligible": True},
        ],
        "themes": [
            {"name": "Eenzaamheid"},
            {"name": "Mantelzorg", "max_spend_cents": 10_000_000},
            {"name": "Armoede"},
            {"name": "Jongerenparticipatie"},
        ],
        "submission_starts_at": T0,
        "review_starts_at": T0 + timedelta(days=30),
        "voting_starts_at": T0 + timedelta(days=60),
        "closed_starts_at": T0 + timedelta(days=75),
        "published_starts_at": T0 + timedelta(days=80),
        "ballot_type": "knapsack",
        "min_projects": 1,
        "max_projects": 10,
        "min_budget_share_permille": 0,
        "counting_rule": "greedy",
        "tie_break": "lowest-cost",
        "min_age": 12,
        "vote_by_code": True,
        "vote_by_account": False,
        "supports_enabled": True,
        "support_threshold": 10,
    }
    data.update(overrides)
    return data


def api_round_data(**overrides: Any) -> dict[str, Any]:
    """``round_data`` with times as ISO strings, for JSON bodies."""
    data = round_data(**overrides)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


async def create_user(session: AsyncSession, role: Role, email: str | None = None) -> int:
    user = await accounts.create_user(
        session,
        email=email or f"{role.value}-{id(session)}@example.nl",
        password="een-lang-wachtwoord-1",
        display_name=f"Test {role.value}",
        roles={role},
        confirmed=True,
    )
    return user.id


async def add_proposal(
    session: AsyncSession,
    *,
    round_id: int,
    author_id: int,
    theme_id: int,
    district_id: int | None = None,
    status: ProposalStatus = ProposalStatus.ACCEPTED,
    cost_cents: int = 2_500_000,
    title: str = "Buurtkamer voor ouderen",
) -> Proposal:
    proposal = Proposal(
        round_id=round_id,
        author_id=author_id,
        theme_id=theme_id,
        district_id=district_id,
        status=status.value,
        title=title,
        estimated_cost_cents=cost_cents,
        municipal_cost_cents=cost_cents if status == ProposalStatus.ACCEPTED else None,
    )
    session.add(proposal)
    await session.flush()
    return proposal


async def count(session: AsyncSession, model: type[Any]) -> int:
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


def db_rows(settings: Settings, *tables: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of ``tables``, in order, as text (a separate connection: committed rows only).

    For "a refused request wrote nothing": row counts miss a refused PATCH that changed a row.
    """

    async def run() -> dict[str, list[tuple[str, ...]]]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                out = {}
                for table in tables:
                    rows = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
                    out[table] = [tuple(str(value) for value in row) for row in rows]
                return out
        finally:
            await engine.dispose()

    return asyncio.run(run())


def db_counts(settings: Settings, *tables: str) -> dict[str, int]:
    """Row counts straight from the database (a separate connection: committed rows only)."""

    async def run() -> dict[str, int]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                return {
                    t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                    for t in tables
                }
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def add_missing_projects(
    session: AsyncSession, round_id: int, *, cost_cents: int = 1_000_000
) -> list[int]:
    """Give every election of the round that has no accepted project one (opening voting needs
    it): one per district in a round with a budget per district, else one city-wide."""
    from burgerbegroting.rounds import service as rounds

    round_ = await rounds.get_round(session, round_id)
    accepted = await rounds.accepted_projects(session, round_id)
    if round_.budget_scope == "districts":
        covered = {p.district_id for p in accepted}
        wanted: list[int | None] = [d.id for d in round_.districts if d.id not in covered]
    else:
        wanted = [] if accepted else [None]
    if not wanted:
        return []
    author = await create_user(
        session, Role.RESIDENT, email=f"project-{uuid.uuid4().hex[:8]}@example.nl"
    )
    ids = []
    for index, district_id in enumerate(wanted):
        proposal = await add_proposal(
            session,
            round_id=round_id,
            author_id=author,
            theme_id=round_.themes[0].id,
            district_id=district_id,
            cost_cents=cost_cents,
            title=f"Project voor de stemming {index + 1}",
        )
        ids.append(proposal.id)
    return ids


def ready_for_voting(database_url: str, round_id: int, *, cost_cents: int = 1_000_000) -> list[int]:
    """``add_missing_projects`` in its own transaction, for tests that drive the app over HTTP."""

    async def run() -> list[int]:
        engine = create_engine(database_url)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                ids = await add_missing_projects(session, round_id, cost_cents=cost_cents)
                await session.commit()
                return ids
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def disable_freeze_trigger(session: AsyncSession, table: str) -> None:
    """Switch off the trigger that keeps a frozen round's rows of ``table`` unchanged (what an
    attacker with DDL rights could do), in the session's transaction."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_frozen"))
    else:
        await session.execute(text(f"DROP TRIGGER {table}_frozen_no_update"))
