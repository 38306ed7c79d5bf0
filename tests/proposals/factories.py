"""Plain helpers for proposal tests: rounds with themes and districts, users, proposals, phases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import District, Phase, Round, Theme
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.rounds.factories import add_missing_projects

T = TypeVar("T")
BUDGET_CENTS = 50_000_000  # € 500.000


@dataclass(frozen=True)
class RoundIds:
    round_id: int
    themes: list[int]
    districts: list[int]


def actor(user_id: int, *roles: Role) -> CurrentUser:
    """The signed-in user a service call is made as (a resident unless ``roles`` are given)."""
    return CurrentUser(
        id=user_id,
        email=f"u{user_id}@example.nl",
        display_name=f"U{user_id}",
        roles=frozenset(roles or (Role.RESIDENT,)),
    )


async def with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in its own engine and session and commit."""
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return asyncio.run(with_session(settings, work))


def make_round(
    settings: Settings,
    *,
    phase: Phase = Phase.SUBMISSION,
    supports: bool = True,
    support_threshold: int | None = None,
    title: str = "Burgerbegroting 2027",
    themes: tuple[str, ...] = ("Eenzaamheid", "Mantelzorg", "Armoede"),
    districts: tuple[str, ...] = ("Noord", "Zuid"),
) -> RoundIds:
    """A round in ``phase`` (draft, submission or review) with themes and districts."""
    assert phase in {Phase.DRAFT, Phase.SUBMISSION, Phase.REVIEW}

    async def work(session: AsyncSession) -> RoundIds:
        round_ = Round(
            title=title,
            total_budget_cents=BUDGET_CENTS,
            phase=phase.value,
            supports_enabled=supports,
            support_threshold=support_threshold,
        )
        session.add(round_)
        await session.flush()
        theme_rows = [Theme(round_id=round_.id, name=n, position=i) for i, n in enumerate(themes)]
        district_rows = [
            District(round_id=round_.id, name=n, position=i) for i, n in enumerate(districts)
        ]
        session.add_all([*theme_rows, *district_rows])
        await session.flush()
        return RoundIds(round_.id, [t.id for t in theme_rows], [d.id for d in district_rows])

    return run(settings, work)


def move_round(settings: Settings, round_id: int, target: Phase, actor_id: int) -> None:
    """Move the round forward with ROUNDS' own service (opening voting freezes it).

    Opening voting needs every proposal decided and an accepted project: proposals still
    submitted or in review are accepted first (municipal cost = the resident's estimate), and a
    project is added when none was accepted."""

    async def work(session: AsyncSession) -> None:
        if target == Phase.VOTING:
            await session.execute(
                update(Proposal)
                .where(
                    Proposal.round_id == round_id,
                    Proposal.status.in_(
                        [ProposalStatus.SUBMITTED.value, ProposalStatus.IN_REVIEW.value]
                    ),
                )
                .values(
                    status=ProposalStatus.ACCEPTED.value,
                    municipal_cost_cents=Proposal.estimated_cost_cents,
                )
            )
            await add_missing_projects(session, round_id)
        await rounds.move_phase(session, round_id, target, actor_id=actor_id, reason="test")

    run(settings, work)


def valid_body(ids: RoundIds, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Koffieochtend voor ouderen",
        "summary": "Elke week een koffieochtend in het buurthuis.",
        "description": "We organiseren *elke week* een ochtend.\n\n- koffie\n- gesprek",
        "theme_id": ids.themes[0],
        "district_id": ids.districts[0],
        "estimated_cost_cents": 1_250_000,
        "societal_effect": "Minder eenzaamheid onder ouderen in Noord.",
        "target_group": "Ouderen (65+) in Noord",
        "location": "Buurthuis De Linde",
    }
    body.update(overrides)
    return body


@dataclass(frozen=True)
class People:
    resident: int
    other: int
    moderator: int
    admin: int

    def headers(self, settings: Settings, who: str) -> dict[str, str]:
        user_id = getattr(self, who)
        return bearer(settings, user_id, staff=who in {"moderator", "admin"})


def make_people(settings: Settings) -> People:
    return People(
        resident=make_user(settings, "anna@example.nl", display_name="Anna de Vries"),
        other=make_user(settings, "bram@example.nl", display_name="Bram Jansen"),
        moderator=make_user(
            settings, "toetser@gemeente.nl", roles=(Role.MODERATOR,), display_name="Toetser Tim"
        ),
        admin=make_user(
            settings, "beheer@gemeente.nl", roles=(Role.ADMIN,), display_name="Beheerder Bea"
        ),
    )


def create_proposal(
    client: TestClient[Litestar],
    settings: Settings,
    ids: RoundIds,
    headers: dict[str, str],
    *,
    submit: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids, submit=submit, **overrides),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def table_counts(settings: Settings) -> dict[str, int]:
    async def work(session: AsyncSession) -> dict[str, int]:
        out = {}
        for table in ("proposals", "proposal_authors", "proposal_supports", "audit_log"):
            value = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            out[table] = int(value or 0)
        return out

    return run(settings, work)


def scalar(settings: Settings, sql: str, **params: Any) -> Any:
    async def work(session: AsyncSession) -> Any:
        return (await session.execute(text(sql), params)).scalar()

    return run(settings, work)


def expire(settings: Settings, email: str) -> None:
    """Make the invitations to ``email`` look sent 15 days ago (expired yesterday)."""
    if "postgresql" in settings.database_url:
        sent, until = "now() - interval '15 days'", "now() - interval '1 day'"
    else:
        sent, until = "datetime('now', '-15 days')", "datetime('now', '-1 day')"

    async def work(session: AsyncSession) -> None:
        await session.execute(
            text(
                f"UPDATE proposal_invitations SET created_at = {sent}, expires_at = {until} "
                "WHERE email = :e"
            ),
            {"e": email},
        )

    run(settings, work)
