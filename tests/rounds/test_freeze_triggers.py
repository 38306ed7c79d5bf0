"""The database itself refuses to change what a frozen round's fingerprint covers (migration 0005).

Raw SQL on a separate connection, as a console session or a bug would send it: every change to the
count's inputs is refused on SQLite and PostgreSQL, and what does not affect the count still works.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine
from burgerbegroting.proposals.models import ProposalStatus
from burgerbegroting.rounds import service
from burgerbegroting.rounds.models import Phase
from tests.rounds.factories import add_missing_projects, add_proposal, create_user, round_data


@dataclass(frozen=True)
class Frozen:
    round: int
    district: int  # with an accepted project
    empty_district: int  # without proposals
    theme: int  # with an accepted project
    empty_theme: int  # without proposals
    accepted: int
    rejected: int
    author: int
    other_round: int  # a round in preparation, not frozen

    def fill(self, statement: str) -> str:
        return statement.format(**self.__dict__)


async def _frozen_round(database_url: str) -> Frozen:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            admin = await create_user(session, Role.ADMIN, email="beheer@example.nl")
            round_ = await service.create_round(
                session,
                round_data(
                    budget_scope="city",
                    districts=[{"name": "Centrum"}, {"name": "Leeg"}],
                    vote_by_account=True,
                ),
                actor_id=admin,
            )
            other = await service.create_round(session, round_data(), actor_id=admin)
            for phase in (Phase.SUBMISSION, Phase.REVIEW):
                await service.move_phase(session, round_.id, phase, actor_id=admin, reason="t")
            author = await create_user(session, Role.RESIDENT, email="anna@example.nl")
            accepted = await add_proposal(
                session,
                round_id=round_.id,
                author_id=author,
                theme_id=round_.themes[0].id,
                district_id=round_.districts[0].id,
            )
            rejected = await add_proposal(
                session,
                round_id=round_.id,
                author_id=author,
                theme_id=round_.themes[0].id,
                status=ProposalStatus.REJECTED,
                title="Afgewezen plan",
            )
            assert await add_missing_projects(session, round_.id) == []
            await service.move_phase(session, round_.id, Phase.VOTING, actor_id=admin, reason="t")
            await session.commit()
            return Frozen(
                round=round_.id,
                district=round_.districts[0].id,
                empty_district=round_.districts[1].id,
                theme=round_.themes[0].id,
                empty_theme=round_.themes[2].id,
                accepted=accepted.id,
                rejected=rejected.id,
                author=author,
                other_round=other.id,
            )
    finally:
        await engine.dispose()


async def _execute(database_url: str, statement: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _scalar(database_url: str, query: str) -> object:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(query))).scalar_one()
    finally:
        await engine.dispose()


@pytest.fixture
def frozen(database_url: str) -> Frozen:
    return asyncio.run(_frozen_round(database_url))


_NOW = "'2027-03-01 09:00:00'"

REFUSED = [
    # The round's count-affecting columns, the freeze itself, the phase backwards, deleting it.
    "UPDATE rounds SET total_budget_cents = total_budget_cents + 1 WHERE id = {round}",
    "UPDATE rounds SET budget_scope = 'districts' WHERE id = {round}",
    "UPDATE rounds SET ballot_type = 'approval', approval_max_k = 3 WHERE id = {round}",
    "UPDATE rounds SET min_projects = 2 WHERE id = {round}",
    "UPDATE rounds SET max_projects = 2 WHERE id = {round}",
    "UPDATE rounds SET min_budget_share_permille = 500 WHERE id = {round}",
    "UPDATE rounds SET blank_ballot_allowed = NOT blank_ballot_allowed WHERE id = {round}",
    "UPDATE rounds SET counting_rule = 'mes' WHERE id = {round}",
    "UPDATE rounds SET tie_break = 'lexicographic' WHERE id = {round}",
    "UPDATE rounds SET tie_break_seed = 'lot' WHERE id = {round}",
    "UPDATE rounds SET greedy_threshold = 5 WHERE id = {round}",
    "UPDATE rounds SET greedy_no_skip = true WHERE id = {round}",
    "UPDATE rounds SET min_age = 18 WHERE id = {round}",
    "UPDATE rounds SET vote_by_account = false WHERE id = {round}",
    "UPDATE rounds SET vote_by_code = false WHERE id = {round}",
    "UPDATE rounds SET approval_max_k = 3 WHERE id = {round}",
    "UPDATE rounds SET cumulative_points = 5 WHERE id = {round}",
    "UPDATE rounds SET leftover = 'fund-by-score' WHERE id = {round}",
    "UPDATE rounds SET supports_enabled = false WHERE id = {round}",
    "UPDATE rounds SET support_threshold = 1 WHERE id = {round}",
    "UPDATE rounds SET fingerprint = '" + "0" * 64 + "' WHERE id = {round}",
    "UPDATE rounds SET frozen_definition = '{{}}' WHERE id = {round}",
    f"UPDATE rounds SET frozen_at = {_NOW} WHERE id = {{round}}",
    "UPDATE rounds SET phase = 'review' WHERE id = {round}",
    "UPDATE rounds SET phase = 'review', frozen_at = NULL, fingerprint = NULL WHERE id = {round}",
    "DELETE FROM rounds WHERE id = {round}",
    # Districts and themes: added, removed, renamed, re-budgeted, re-capped.
    "INSERT INTO districts (round_id, name, eligible, position) VALUES ({round}, 'Nieuw', true, 9)",
    "DELETE FROM districts WHERE id = {empty_district}",
    "UPDATE districts SET name = 'Anders' WHERE id = {district}",
    "UPDATE districts SET budget_cents = 100 WHERE id = {district}",
    "UPDATE districts SET eligible = false WHERE id = {empty_district}",
    "UPDATE districts SET round_id = {other_round} WHERE id = {empty_district}",
    "INSERT INTO themes (round_id, name, position) VALUES ({round}, 'Nieuw', 9)",
    "DELETE FROM themes WHERE id = {empty_theme}",
    "UPDATE themes SET name = 'Anders' WHERE id = {theme}",
    "UPDATE themes SET max_spend_cents = 100 WHERE id = {theme}",
    "UPDATE themes SET round_id = {other_round} WHERE id = {empty_theme}",
    # Accepted proposals: cost, theme, district, title, status; accepting or adding one.
    "UPDATE proposals SET municipal_cost_cents = 1 WHERE id = {accepted}",
    "UPDATE proposals SET theme_id = {empty_theme} WHERE id = {accepted}",
    "UPDATE proposals SET district_id = {empty_district} WHERE id = {accepted}",
    "UPDATE proposals SET title = 'Een ander plan' WHERE id = {accepted}",
    "UPDATE proposals SET status = 'withdrawn' WHERE id = {accepted}",
    "UPDATE proposals SET round_id = {other_round} WHERE id = {accepted}",
    "UPDATE proposals SET status = 'accepted', municipal_cost_cents = 5 WHERE id = {rejected}",
    "DELETE FROM proposals WHERE id = {accepted}",
    "INSERT INTO proposals (round_id, theme_id, author_id, status, title, summary, description,"
    " societal_effect, target_group, estimated_cost_cents, municipal_cost_cents, created_at,"
    " updated_at) VALUES ({round}, {theme}, {author}, 'accepted', 'Nieuw project', '', '', '',"
    f" '', 5, 5, {_NOW}, {_NOW})",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_database_refuses_changes_to_a_frozen_round(
    database_url: str, frozen: Frozen, statement: str
) -> None:
    fingerprint = asyncio.run(
        _scalar(database_url, f"SELECT fingerprint FROM rounds WHERE id = {frozen.round}")
    )
    with pytest.raises(IntegrityError, match="round is frozen"):
        asyncio.run(_execute(database_url, frozen.fill(statement)))
    after = asyncio.run(
        _scalar(database_url, f"SELECT fingerprint FROM rounds WHERE id = {frozen.round}")
    )
    assert after == fingerprint


ALLOWED = [
    "UPDATE rounds SET title = 'Andere titel', description = 'Anders' WHERE id = {round}",
    f"UPDATE rounds SET closed_starts_at = {_NOW}, published_starts_at = NULL WHERE id = {{round}}",
    "UPDATE rounds SET export_public = true WHERE id = {round}",
    f"UPDATE rounds SET phase = 'closed', phase_changed_at = {_NOW} WHERE id = {{round}}",
    "UPDATE districts SET position = 7 WHERE id = {district}",
    "UPDATE themes SET position = 7 WHERE id = {theme}",
    "UPDATE proposals SET summary = 'Korter' WHERE id = {accepted}",
    "UPDATE proposals SET title = 'Ander afgewezen plan' WHERE id = {rejected}",
    "INSERT INTO proposals (round_id, theme_id, author_id, status, title, summary, description,"
    " societal_effect, target_group, created_at, updated_at) VALUES ({round}, {theme},"
    f" {{author}}, 'draft', 'Te laat', '', '', '', '', {_NOW}, {_NOW})",
]


@pytest.mark.parametrize("statement", ALLOWED)
def test_what_the_count_does_not_depend_on_stays_changeable(
    database_url: str, frozen: Frozen, statement: str
) -> None:
    asyncio.run(_execute(database_url, frozen.fill(statement)))


def test_an_unfrozen_round_is_not_held(database_url: str) -> None:
    async def run() -> int:
        engine = create_engine(database_url)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                round_ = await service.create_round(session, round_data(), actor_id=None)
                await session.commit()
                return round_.id
        finally:
            await engine.dispose()

    round_id = asyncio.run(run())
    for statement in (
        f"UPDATE rounds SET total_budget_cents = 1000, budget_scope = 'city' WHERE id = {round_id}",
        f"UPDATE districts SET budget_cents = NULL WHERE round_id = {round_id}",
        f"DELETE FROM themes WHERE round_id = {round_id}",
        f"DELETE FROM rounds WHERE id = {round_id}",
    ):
        asyncio.run(_execute(database_url, statement))


async def _frozen_ranked_round(database_url: str) -> tuple[int, int, int]:
    """(round, first project, second project) of a frozen round with a ranked ballot, its own
    points per place and an explicit tie-break order: the settings only such a round can hold."""
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            round_ = await service.create_round(
                session,
                round_data(
                    budget_scope="city",
                    districts=[{"name": "Centrum"}],
                    ballot_type="ranked",
                    max_projects=3,
                    ranked_scores=[3, 2, 1],
                    tie_break="explicit",
                ),
                actor_id=None,
            )
            for phase in (Phase.SUBMISSION, Phase.REVIEW):
                await service.move_phase(session, round_.id, phase, actor_id=None, reason="t")
            author = await create_user(session, Role.RESIDENT, email="anna@example.nl")
            first, second = [
                await add_proposal(
                    session,
                    round_id=round_.id,
                    author_id=author,
                    theme_id=round_.themes[0].id,
                    title=title,
                )
                for title in ("Eerste plan", "Tweede plan")
            ]
            await service.update_round(
                session, round_.id, {"tie_break_order": [first.id, second.id]}, actor_id=None
            )
            await service.move_phase(session, round_.id, Phase.VOTING, actor_id=None, reason="t")
            await session.commit()
            return round_.id, first.id, second.id
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE rounds SET tie_break_order = '[{second}, {first}]' WHERE id = {round}",
        "UPDATE rounds SET ranked_scores = '5,2,1' WHERE id = {round}",
    ],
)
def test_the_database_refuses_changes_to_a_frozen_ranked_rounds_order_and_points(
    database_url: str, statement: str
) -> None:
    round_id, first, second = asyncio.run(_frozen_ranked_round(database_url))
    with pytest.raises(IntegrityError, match="round is frozen"):
        asyncio.run(
            _execute(database_url, statement.format(round=round_id, first=first, second=second))
        )
