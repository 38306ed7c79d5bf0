"""A change to which proposals are accepted, racing the opening of voting, on SQLite and PostgreSQL.

Opening voting reads the accepted projects into the frozen definition and fingerprints it. A
moderator's decision (or an author's withdrawal) made in another transaction at that moment must
either be in the definition or be refused; it must never land after the definition was read, which
would leave a frozen round whose fingerprint no longer matches its own projects.

Each side is its own connection and commits for real. The proposal's change is written first and
held open; the opening starts while it is open and the change commits half a second later. SQLite
serialises the two with its write lock (BEGIN IMMEDIATE); PostgreSQL with the round's row lock that
proposal writes take (FOR SHARE) against the phase move's (FOR NO KEY UPDATE). Without that lock the
opening does not wait, and the test fails on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from burgerbegroting import db
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine
from burgerbegroting.errors import Conflict
from burgerbegroting.proposals import review, service
from burgerbegroting.proposals.models import ProposalStatus
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.rounds.factories import add_proposal, create_user, round_data

Change = Callable[[AsyncSession, Settings, dict[str, int]], Awaitable[None]]


def _user(user_id: int, role: Role) -> CurrentUser:
    return CurrentUser(
        id=user_id, email=f"{role.value}@example.nl", display_name="Test", roles=frozenset({role})
    )


async def _round_in_review(engine: AsyncEngine) -> dict[str, int]:
    """A city-wide round in review: two accepted projects and a rejected proposal."""
    async with AsyncSession(engine, expire_on_commit=False) as setup:
        admin = await create_user(setup, Role.ADMIN, email="beheer@example.nl")
        moderator = await create_user(setup, Role.MODERATOR, email="toets@example.nl")
        author = await create_user(setup, Role.RESIDENT, email="anna@example.nl")
        round_ = await rounds.create_round(
            setup,
            round_data(
                budget_scope="city",
                districts=[{"name": "Centrum"}],
                supports_enabled=False,
                support_threshold=None,
            ),
            actor_id=admin,
        )
        for phase in (Phase.SUBMISSION, Phase.REVIEW):
            await rounds.move_phase(setup, round_.id, phase, actor_id=admin, reason="t")
        theme = round_.themes[0].id
        first = await add_proposal(setup, round_id=round_.id, author_id=author, theme_id=theme)
        second = await add_proposal(
            setup, round_id=round_.id, author_id=author, theme_id=theme, title="Tweede project"
        )
        rejected = await add_proposal(
            setup,
            round_id=round_.id,
            author_id=author,
            theme_id=theme,
            status=ProposalStatus.REJECTED,
            title="Afgewezen plan",
        )
        await setup.commit()
        return {
            "round": round_.id,
            "admin": admin,
            "moderator": moderator,
            "author": author,
            "first": first.id,
            "second": second.id,
            "rejected": rejected.id,
        }


async def _race(settings: Settings, change: Change) -> tuple[dict[str, int], str, list[int], bool]:
    """Run ``change`` in one transaction and open voting in another while it is still open.

    Returns the ids, how the change ended ("committed" or "conflict"), the project ids of the
    frozen definition, and whether the round's fingerprint still verifies."""
    engines = [create_engine(settings.database_url) for _ in range(2)]
    try:
        ids = await _round_in_review(engines[0])

        async def open_voting() -> None:
            async with AsyncSession(engines[1], expire_on_commit=False) as session:
                await rounds.move_phase(
                    session, ids["round"], Phase.VOTING, actor_id=ids["admin"], reason="open"
                )
                await session.commit()

        async with AsyncSession(engines[0], expire_on_commit=False) as session:
            try:
                await change(session, settings, ids)
            except Conflict:
                await session.rollback()
                outcome = "conflict"
                opening = asyncio.create_task(open_voting())
            else:
                opening = asyncio.create_task(open_voting())
                await asyncio.sleep(0.5)  # the opening runs now, while the change is uncommitted
                await session.commit()
                outcome = "committed"
        await opening
        async with AsyncSession(engines[0], expire_on_commit=False) as check:
            round_ = await rounds.get_round(check, ids["round"])
            assert round_.frozen_definition is not None
            projects = [p["id"] for p in json.loads(round_.frozen_definition)["projects"]]
            verified = await rounds.verify_fingerprint(check, round_)
        return ids, outcome, projects, verified
    finally:
        for engine in engines:
            await engine.dispose()


async def _accept_the_rejected(
    session: AsyncSession, settings: Settings, ids: dict[str, int]
) -> None:
    await review.review_proposal(
        session,
        settings,
        proposal_id=ids["rejected"],
        moderator=_user(ids["moderator"], Role.MODERATOR),
        data=review.ReviewInput(
            decision=ProposalStatus.ACCEPTED.value,
            municipal_cost_cents=1_000_000,
            public_reasoning="Bij nader inzien haalbaar.",
        ),
    )


async def _withdraw_the_second(
    session: AsyncSession, _settings: Settings, ids: dict[str, int]
) -> None:
    await service.withdraw_proposal(
        session, proposal_id=ids["second"], user=_user(ids["author"], Role.RESIDENT)
    )


async def _merge_the_second_into_the_first(
    session: AsyncSession, settings: Settings, ids: dict[str, int]
) -> None:
    await review.merge_proposals(
        session,
        settings,
        source_id=ids["second"],
        target_id=ids["first"],
        moderator=_user(ids["moderator"], Role.MODERATOR),
        reason="Hetzelfde plan.",
    )


CHANGES = pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_accept_the_rejected, {"first", "second", "rejected"}),
        (_withdraw_the_second, {"first"}),
        (_merge_the_second_into_the_first, {"first"}),
    ],
    ids=["moderator-accepts", "author-withdraws", "moderator-merges"],
)


@CHANGES
async def test_a_change_racing_the_opening_of_voting_is_in_the_frozen_definition(
    settings: Settings, change: Change, expected: set[str]
) -> None:
    ids, outcome, projects, verified = await _race(settings, change)
    assert outcome == "committed"
    assert sorted(projects) == sorted(ids[name] for name in expected)
    assert verified, "the frozen round's fingerprint no longer matches its accepted projects"


@CHANGES
async def test_without_its_lock_the_change_misses_the_frozen_definition(
    settings: Settings, change: Change, expected: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control. PostgreSQL: with the round read unlocked, the opening reads the projects
    before the change commits, and the frozen fingerprint no longer verifies. SQLite: with a
    deferred BEGIN instead of BEGIN IMMEDIATE the two writers cannot both finish."""
    if settings.database_url.startswith("postgresql"):
        monkeypatch.setattr(rounds, "get_round_held", rounds.get_round)
        ids, outcome, projects, verified = await _race(settings, change)
        assert outcome == "committed"
        assert sorted(projects) != sorted(ids[name] for name in expected)
        assert not verified
    else:
        token = db.set_read_only(True)  # every transaction begins deferred
        try:
            with pytest.raises(OperationalError, match="locked"):
                await _race(settings, change)
        finally:
            db.reset_read_only(token)


async def _opposite_merges(settings: Settings) -> tuple[list[str], list[str]]:
    """Two moderators merge the same two proposals into each other at once: the first merge is
    written and held open while the second starts, then commits. Returns how each ended and the
    two proposals' statuses afterwards."""
    engines = [create_engine(settings.database_url) for _ in range(2)]
    try:
        ids = await _round_in_review(engines[0])
        first, second = ids["first"], ids["second"]
        moderator = _user(ids["moderator"], Role.MODERATOR)

        async def merge(session: AsyncSession, source: int, target: int) -> None:
            await review.merge_proposals(
                session,
                settings,
                source_id=source,
                target_id=target,
                moderator=moderator,
                reason="Dubbel.",
            )

        async def second_merge() -> str:
            async with AsyncSession(engines[1], expire_on_commit=False) as session:
                try:
                    await merge(session, second, first)
                    await session.commit()
                except Conflict:
                    return "conflict"
            return "merged"

        async with AsyncSession(engines[0], expire_on_commit=False) as session:
            await merge(session, first, second)
            other = asyncio.create_task(second_merge())
            await asyncio.sleep(0.5)  # the second merge runs now, while the first is uncommitted
            await session.commit()
        outcomes = ["merged", await other]
        async with AsyncSession(engines[0]) as check:
            statuses = [
                (await service.load(check, proposal_id)).status for proposal_id in (first, second)
            ]
        return outcomes, statuses
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_opposite_merges_at_once_make_one_merge(settings: Settings) -> None:
    """Merging A into B while another moderator merges B into A: the row locks make the second
    see the first, so one proposal stays (never both merged, each pointing at the other)."""
    outcomes, statuses = await _opposite_merges(settings)
    assert outcomes == ["merged", "conflict"]
    assert statuses == ["merged", "accepted"]


async def test_without_the_row_locks_opposite_merges_both_land(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control. PostgreSQL: without FOR UPDATE on the two proposals both merges commit and
    both proposals end up merged. SQLite: with a deferred BEGIN the two writers cannot both finish."""
    if settings.database_url.startswith("postgresql"):
        original = Select.with_for_update

        def no_row_locks(self: Select[Any], **kwargs: Any) -> Select[Any]:
            if kwargs.get("read"):  # the round's FOR SHARE stays; only the row locks go
                return original(self, **kwargs)
            return self

        monkeypatch.setattr(Select, "with_for_update", no_row_locks)
        outcomes, statuses = await _opposite_merges(settings)
        assert outcomes == ["merged", "merged"]
        assert statuses == ["merged", "merged"]
    else:
        token = db.set_read_only(True)  # every transaction begins deferred
        try:
            with pytest.raises(OperationalError, match="locked"):
                await _opposite_merges(settings)
        finally:
            db.reset_read_only(token)
