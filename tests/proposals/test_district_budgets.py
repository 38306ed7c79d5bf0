"""District budgets, enforced on proposals: in a round with a budget per district every project is
in a district (city-wide proposals are refused at submission, edit and acceptance), and a cost is
checked against the budget it competes for (its district's, or the total in a city-wide round)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, ValidationFailed
from burgerbegroting.proposals import review, service
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.proposals.factories import actor, make_people, run
from tests.rounds.factories import round_data

DISTRICT_BUDGET = 15_000_000  # € 150.000 for each of Centrum, Noord and Zuid (total € 450.000)


def _round(settings: Settings, **overrides: Any) -> tuple[int, list[int], int]:
    async def work(session: AsyncSession) -> tuple[int, list[int], int]:
        round_ = await rounds.create_round(session, round_data(**overrides), actor_id=None)
        await rounds.move_phase(session, round_.id, Phase.SUBMISSION, actor_id=None, reason="t")
        return round_.id, [d.id for d in round_.districts], round_.themes[0].id

    return run(settings, work)


def _input(theme: int, **changes: object) -> service.ProposalInput:
    values: dict[str, object] = {
        "title": "Buurtmaaltijd elke week",
        "summary": "Samen eten.",
        "description": "Koken met buren.",
        "theme_id": theme,
        "estimated_cost_cents": 300_000,
        "societal_effect": "Minder eenzaamheid.",
        "target_group": "Alleenstaanden",
    }
    values.update(changes)
    given = frozenset(k for k in changes if k == "district_id")
    return service.ProposalInput(**values, given=given)  # type: ignore[arg-type]


def _create(settings: Settings, round_id: int, user: int, data: service.ProposalInput) -> int:
    async def work(session: AsyncSession) -> int:
        proposal = await service.create_proposal(
            session, round_id=round_id, user=actor(user), data=data, submit=True
        )
        return proposal.id

    return run(settings, work)


def _count(settings: Settings) -> int:
    async def work(session: AsyncSession) -> int:
        return (await session.execute(select(func.count()).select_from(Proposal))).scalar_one()

    return run(settings, work)


@pytest.mark.parametrize("city_wide", [{"city_wide": True}, {"district_id": None}, {}])
def test_a_city_wide_proposal_is_refused_in_a_districts_round(
    settings: Settings, city_wide: dict[str, Any]
) -> None:
    people = make_people(settings)
    round_id, _districts, theme = _round(settings)
    with pytest.raises(ValidationFailed) as exc:
        _create(settings, round_id, people.resident, _input(theme, **city_wide))
    assert "district_id" in exc.value.fields
    assert "eigen budget" in exc.value.fields["district_id"]
    assert _count(settings) == 0


def test_a_proposal_cannot_be_made_city_wide_by_an_edit(settings: Settings) -> None:
    people = make_people(settings)
    round_id, districts, theme = _round(settings)
    proposal_id = _create(
        settings, round_id, people.resident, _input(theme, district_id=districts[0])
    )

    async def edit(session: AsyncSession) -> None:
        await service.update_proposal(
            session,
            proposal_id=proposal_id,
            user=actor(people.resident),
            data=_input(theme, city_wide=True),
        )

    with pytest.raises(ValidationFailed) as exc:
        run(settings, edit)
    assert "district_id" in exc.value.fields


def test_the_estimate_is_checked_against_the_districts_budget(settings: Settings) -> None:
    people = make_people(settings)
    round_id, districts, theme = _round(settings)
    with pytest.raises(ValidationFailed) as exc:
        _create(
            settings,
            round_id,
            people.resident,
            _input(theme, district_id=districts[1], estimated_cost_cents=DISTRICT_BUDGET + 1),
        )
    assert "Noord" in exc.value.fields["estimated_cost_cents"]
    assert "150.000" in exc.value.fields["estimated_cost_cents"]
    # Exactly the district's budget fits.
    _create(
        settings,
        round_id,
        people.resident,
        _input(theme, district_id=districts[1], estimated_cost_cents=DISTRICT_BUDGET),
    )
    assert _count(settings) == 1


def test_in_a_city_round_a_project_competes_for_the_total(settings: Settings) -> None:
    people = make_people(settings)
    round_id, districts, theme = _round(
        settings, budget_scope="city", districts=[{"name": "Centrum"}, {"name": "Noord"}]
    )
    _create(settings, round_id, people.resident, _input(theme, city_wide=True))
    _create(
        settings,
        round_id,
        people.resident,
        _input(theme, district_id=districts[0], estimated_cost_cents=20_000_000),
    )
    assert _count(settings) == 2


def _review(settings: Settings, proposal_id: int, moderator: int, cost: int) -> Proposal:
    async def work(session: AsyncSession) -> Proposal:
        return await review.review_proposal(
            session,
            settings,
            proposal_id=proposal_id,
            moderator=actor(moderator, Role.MODERATOR),
            data=review.ReviewInput(
                decision=ProposalStatus.ACCEPTED.value,
                municipal_cost_cents=cost,
                public_reasoning="Haalbaar.",
            ),
        )

    return run(settings, work)


def test_acceptance_checks_the_district_and_its_budget(settings: Settings) -> None:
    people = make_people(settings)
    round_id, districts, theme = _round(settings, supports_enabled=False, support_threshold=None)
    in_district = _create(
        settings, round_id, people.resident, _input(theme, district_id=districts[2])
    )
    with pytest.raises(ValidationFailed) as exc:
        _review(settings, in_district, people.moderator, DISTRICT_BUDGET + 1)
    assert "Zuid" in exc.value.fields["municipal_cost_cents"]
    assert _review(settings, in_district, people.moderator, DISTRICT_BUDGET).status == "accepted"

    # A city-wide proposal from before the round had a budget per district cannot be accepted.
    async def make_city_wide(session: AsyncSession) -> int:
        proposal = Proposal(
            round_id=round_id,
            author_id=people.resident,
            theme_id=theme,
            district_id=None,
            status=ProposalStatus.SUBMITTED.value,
            title="Stedelijk plan",
            estimated_cost_cents=100_000,
        )
        session.add(proposal)
        await session.flush()
        return proposal.id

    city_wide = run(settings, make_city_wide)
    with pytest.raises(Conflict) as conflict:
        _review(settings, city_wide, people.moderator, 100_000)
    assert "district_id" in conflict.value.fields

    async def status(session: AsyncSession) -> str:
        proposal = await session.get(Proposal, city_wide)
        assert proposal is not None
        return proposal.status

    assert run(settings, status) == "submitted"
