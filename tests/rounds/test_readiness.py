"""Opening voting checks that the round can be voted on; a refusal is a Dutch 409 naming what is
missing, and nothing changes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit.models import AuditEntry
from burgerbegroting.errors import Conflict
from burgerbegroting.proposals.models import ProposalStatus
from burgerbegroting.rounds import readiness, service
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.rounds.readiness import share_reachable
from tests.rounds.factories import add_missing_projects, add_proposal, create_user, round_data


async def _in_review(session: AsyncSession, **overrides: Any) -> tuple[Round, int]:
    admin = await create_user(session, Role.ADMIN, email="beheer@example.nl")
    round_ = await service.create_round(session, round_data(**overrides), actor_id=admin)
    for phase in (Phase.SUBMISSION, Phase.REVIEW):
        await service.move_phase(session, round_.id, phase, actor_id=admin, reason="t")
    author = await create_user(session, Role.RESIDENT, email="anna@example.nl")
    return await service.get_round(session, round_.id), author


async def _refused(session: AsyncSession, round_id: int) -> Conflict:
    with pytest.raises(Conflict) as exc:
        await service.move_phase(session, round_id, Phase.VOTING, actor_id=None, reason="open")
    after = await service.get_round(session, round_id)
    assert (after.phase, after.fingerprint, after.frozen_at) == (Phase.REVIEW, None, None)
    logged = await session.execute(
        select(AuditEntry).where(AuditEntry.details["to"].as_string() == "voting")
    )
    assert logged.scalars().all() == []
    assert exc.value.message.startswith("Het stemmen kan nog niet worden geopend")
    return exc.value


@pytest.mark.parametrize("status", [ProposalStatus.SUBMITTED, ProposalStatus.IN_REVIEW])
async def test_a_proposal_still_waiting_for_a_decision_keeps_voting_closed(
    session: AsyncSession, status: ProposalStatus
) -> None:
    round_, author = await _in_review(session)
    await add_missing_projects(session, round_.id)
    await add_proposal(
        session,
        round_id=round_.id,
        author_id=author,
        theme_id=round_.themes[0].id,
        district_id=round_.districts[0].id,
        status=status,
        title="Nog niet beoordeeld",
    )
    error = await _refused(session, round_.id)
    assert set(error.fields) == {"proposals"}
    assert "1 voorstel(len) wacht(en) nog op een besluit" in error.message


async def test_every_district_needs_an_accepted_project(session: AsyncSession) -> None:
    round_, author = await _in_review(session)
    for district in round_.districts[:2]:
        await add_proposal(
            session,
            round_id=round_.id,
            author_id=author,
            theme_id=round_.themes[0].id,
            district_id=district.id,
        )
    error = await _refused(session, round_.id)
    assert "Zuid" in error.message
    assert "Centrum" not in error.message


async def test_a_city_round_without_projects_does_not_open(session: AsyncSession) -> None:
    round_, _author = await _in_review(
        session, budget_scope="city", districts=[{"name": "Centrum"}]
    )
    error = await _refused(session, round_.id)
    assert "geen goedgekeurde projecten" in error.message


async def test_a_city_wide_project_in_a_district_round_keeps_voting_closed(
    session: AsyncSession,
) -> None:
    round_, author = await _in_review(session)
    await add_missing_projects(session, round_.id)
    await add_proposal(session, round_id=round_.id, author_id=author, theme_id=round_.themes[0].id)
    error = await _refused(session, round_.id)
    assert set(error.fields) == {"district_id"}


async def test_min_projects_must_be_reachable(session: AsyncSession) -> None:
    round_, author = await _in_review(
        session,
        budget_scope="city",
        districts=[],
        min_projects=2,
        max_projects=5,
    )
    await add_proposal(session, round_id=round_.id, author_id=author, theme_id=round_.themes[0].id)
    error = await _refused(session, round_.id)
    assert set(error.fields) == {"min_projects"}
    # Two projects that do not fit the budget together: still no valid knapsack ballot.
    await add_proposal(
        session,
        round_id=round_.id,
        author_id=author,
        theme_id=round_.themes[0].id,
        cost_cents=44_000_000,
        title="Een heel duur plan",
    )
    error = await _refused(session, round_.id)
    assert set(error.fields) == {"min_projects"}
    assert "passen geen 2 projecten" in error.message


async def test_a_minimum_budget_share_must_be_reachable_and_exactness_lets_it_open(
    session: AsyncSession,
) -> None:
    """Budget € 100.000, at least 90 % to spend. Projects of 60, 45 and 45 thousand: the most
    expensive first (60) reaches only 60 %, but 45 + 45 reaches 90 %: the round opens."""
    round_, author = await _in_review(
        session,
        budget_scope="city",
        districts=[],
        total_budget_cents=10_000_000,
        themes=[{"name": "Zorg"}],
        min_projects=0,
        max_projects=None,
        min_budget_share_permille=900,
    )
    for title, cost in (("Zestig duizend", 6_000_000), ("Vijfenveertig A", 4_500_000)):
        await add_proposal(
            session,
            round_id=round_.id,
            author_id=author,
            theme_id=round_.themes[0].id,
            cost_cents=cost,
            title=title,
        )
    error = await _refused(session, round_.id)
    assert set(error.fields) == {"min_budget_share_permille"}
    await add_proposal(
        session,
        round_id=round_.id,
        author_id=author,
        theme_id=round_.themes[0].id,
        cost_cents=4_500_000,
        title="Vijfenveertig B",
    )
    opened = await service.move_phase(session, round_.id, Phase.VOTING, actor_id=None, reason="o")
    assert opened.phase == Phase.VOTING


async def test_an_explicit_order_must_name_every_accepted_project(session: AsyncSession) -> None:
    round_, _author = await _in_review(session, tie_break="explicit")
    projects = await add_missing_projects(session, round_.id)
    error = await _refused(session, round_.id)
    assert set(error.fields) == {"tie_break_order"}
    await service.update_round(session, round_.id, {"tie_break_order": projects[:2]}, actor_id=None)
    error = await _refused(session, round_.id)
    assert str(projects[2]) in error.fields["tie_break_order"]
    await service.update_round(session, round_.id, {"tie_break_order": projects}, actor_id=None)
    opened = await service.move_phase(session, round_.id, Phase.VOTING, actor_id=None, reason="o")
    assert opened.phase == Phase.VOTING


def _brute_force(
    costs: list[int], budget: int, target: int, min_count: int, max_count: int | None
) -> bool:
    upper = len(costs) if max_count is None else max_count
    return any(
        target <= sum(chosen) <= budget
        for size in range(min_count, min(upper, len(costs)) + 1)
        for chosen in itertools.combinations(costs, size)
    )


@settings(max_examples=300, deadline=None)
@given(
    costs=st.lists(st.integers(1, 60), max_size=8),
    budget=st.integers(1, 150),
    share=st.integers(0, 1000),
    min_count=st.integers(0, 4),
    max_count=st.one_of(st.none(), st.integers(0, 6)),
)
def test_the_budget_share_search_is_exact_on_small_rounds(
    costs: list[int], budget: int, share: int, min_count: int, max_count: int | None
) -> None:
    if max_count is not None and max_count < min_count:
        max_count = min_count
    target = -(-budget * share // 1000)
    expected = _brute_force(costs, budget, target, min_count, max_count)
    found = share_reachable(
        costs, budget=budget, target=target, min_count=min_count, max_count=max_count
    )
    assert found == expected


def test_the_budget_share_search_gives_the_benefit_of_the_doubt_when_it_gives_up() -> None:
    """Even costs never add up to an odd target: unreachable. Small, the search says so; past its
    limit of partial sums it stops and answers "reachable" (never a false refusal)."""
    target = 2 * sum(range(1, 41)) // 3 | 1
    assert not share_reachable([2, 4, 6], budget=target, target=target, min_count=0, max_count=None)
    costs = [2 * i for i in range(1, 41)]
    assert not share_reachable(
        costs, budget=target, target=target, min_count=0, max_count=None, state_limit=10**6
    )
    assert share_reachable(
        costs, budget=target, target=target, min_count=0, max_count=None, state_limit=100
    )


DOUBLE_VOTE = (
    "In deze ronde kan iemand met een stemcode én een account twee keer stemmen. "
    "De twee stemmen zijn niet aan elkaar te koppelen. Kies één manier van stemmen als de "
    "uitslag bindend moet zijn."
)


@pytest.mark.parametrize(
    ("by_code", "by_account", "expected"),
    [(True, True, [DOUBLE_VOTE]), (True, False, []), (False, True, []), (False, False, [])],
)
def test_voting_with_code_and_account_is_warned_about(
    by_code: bool, by_account: bool, expected: list[str]
) -> None:
    assert readiness.warnings(vote_by_code=by_code, vote_by_account=by_account) == expected


AGE_UNCHECKED = (
    "Deze ronde heeft een minimumleeftijd van 16 jaar, maar bij stemmen met een account wordt de "
    "leeftijd niet gecontroleerd: de inwoner geeft zelf een leeftijdsgroep op. Alleen stemcodes "
    "worden per leeftijdsgroep uit de basisregistratie uitgegeven."
)


@pytest.mark.parametrize(
    ("by_code", "by_account", "min_age", "expected"),
    [
        (False, True, 16, [AGE_UNCHECKED]),
        (True, True, 16, [DOUBLE_VOTE, AGE_UNCHECKED]),
        (True, False, 16, []),
        (False, True, None, []),
    ],
)
def test_a_minimum_age_with_account_voting_is_warned_about(
    by_code: bool, by_account: bool, min_age: int | None, expected: list[str]
) -> None:
    assert (
        readiness.warnings(vote_by_code=by_code, vote_by_account=by_account, min_age=min_age)
        == expected
    )
