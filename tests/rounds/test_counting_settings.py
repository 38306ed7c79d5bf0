"""Round settings the count depends on: every combination the engine cannot count is refused when
saved (checked against the engine itself), rule-specific settings only with their rule, and the
frozen definition carries them all."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import ValidationFailed
from burgerbegroting.rounds import service
from burgerbegroting.rounds.models import BallotType, CountingRule, Phase, Round
from burgerbegroting.voting.tally import model as tally
from burgerbegroting.voting.tally.rules import RULES
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.rounds.factories import add_missing_projects, count, create_user, round_data

# How a round's ballot reaches the engine: a knapsack ballot is an approval ballot there.
ENGINE_BALLOT = {
    BallotType.KNAPSACK: tally.BallotType.APPROVAL,
    BallotType.APPROVAL: tally.BallotType.APPROVAL,
    BallotType.CUMULATIVE: tally.BallotType.CUMULATIVE,
    BallotType.CHOOSE_ONE: tally.BallotType.CHOOSE1,
    BallotType.RANKED: tally.BallotType.ORDINAL,
}


def _engine_counts(rule: str, ballot_type: BallotType, *, capped: bool) -> bool:
    """Whether the tally engine counts a small election of this kind (or raises TallyError)."""
    kind = ENGINE_BALLOT[ballot_type]
    projects = (
        tally.Project("1", 40, theme="zorg"),
        tally.Project("2", 30, theme="zorg"),
        tally.Project("3", 50, theme="armoede"),
    )
    points = (3, 1) if kind is tally.BallotType.CUMULATIVE else ()
    ballots = (tally.Ballot(("1", "3"), points), tally.Ballot(("2", "1"), points))
    election = tally.Election(
        budget=100,
        projects=projects,
        ballots=ballots,
        ballot_type=kind,
        caps=(tally.Cap(tally.CapKind.THEME, "zorg", 50),) if capped else (),
    )
    try:
        RULES[rule](election, tie_break=TieBreak("lowest-cost").resolved(election))
    except tally.TallyError:
        return False
    return True


def _ballot_settings(ballot_type: BallotType) -> dict[str, Any]:
    settings: dict[str, Any] = {"ballot_type": ballot_type.value, "min_projects": 0}
    if ballot_type is BallotType.APPROVAL:
        settings["approval_max_k"] = 3
    if ballot_type is BallotType.CUMULATIVE:
        settings["cumulative_points"] = 10
    if ballot_type is BallotType.CHOOSE_ONE:
        settings["max_projects"] = 1
    return settings


COMBINATIONS = list(itertools.product(CountingRule, BallotType, (False, True)))


@pytest.mark.parametrize(("rule", "ballot_type", "capped"), COMBINATIONS)
def test_a_round_is_saved_exactly_when_the_engine_can_count_it(
    rule: CountingRule, ballot_type: BallotType, capped: bool
) -> None:
    data = round_data(
        counting_rule=rule.value,
        themes=[{"name": "Zorg", "max_spend_cents": 10_000_000 if capped else None}],
        **_ballot_settings(ballot_type),
    )
    if _engine_counts(rule.value, ballot_type, capped=capped):
        service.validate(None, data)
    else:
        with pytest.raises(ValidationFailed) as exc:
            service.validate(None, data)
        assert set(exc.value.fields) == {"counting_rule"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"counting_rule": "mes", "greedy_threshold": 10}, "greedy_threshold"),
        ({"counting_rule": "phragmen", "greedy_no_skip": True}, "greedy_no_skip"),
        ({"counting_rule": "mes-add1", "leftover": "fund-by-score"}, "leftover"),
        ({"leftover": "fund-by-score", "themes": [{"name": "Zorg"}]}, "leftover"),
        ({"leftover": "alles"}, "leftover"),
        ({"greedy_threshold": 0}, "greedy_threshold"),
        ({"ranked_scores": [3, 2, 1]}, "ranked_scores"),
        (
            {"ballot_type": "ranked", "max_projects": 3, "ranked_scores": [1, 2, 3]},
            "ranked_scores",
        ),
        (
            {"ballot_type": "ranked", "max_projects": 3, "ranked_scores": [3, 3, 1]},
            "ranked_scores",
        ),
        ({"ballot_type": "ranked", "max_projects": 4, "ranked_scores": [3, 2, 1]}, "max_projects"),
        ({"ballot_type": "ranked", "max_projects": 3, "ranked_scores": "3,2,1"}, "ranked_scores"),
        ({"tie_break": "lexicographic", "tie_break_seed": "lot-2027"}, "tie_break_seed"),
        ({"tie_break_seed": "x" * 201}, "tie_break_seed"),
        ({"tie_break_order": [3, 1, 2]}, "tie_break_order"),
        ({"tie_break": "explicit", "tie_break_order": [3, 1, 3]}, "tie_break_order"),
        ({"tie_break": "explicit", "tie_break_order": [0]}, "tie_break_order"),
        ({"tie_break": "random"}, "tie_break"),
        ({"export_public": "ja"}, "export_public"),
        (
            {"ballot_type": "approval", "approval_max_k": 2, "min_projects": 3},
            "min_projects",
        ),
    ],
)
async def test_settings_of_another_rule_or_bad_values_are_field_errors(
    session: AsyncSession, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await service.create_round(session, round_data(**overrides), actor_id=None)
    assert field in exc.value.fields
    assert await count(session, Round) == 0


async def test_the_new_settings_are_stored_and_frozen_into_the_definition(
    session: AsyncSession,
) -> None:
    admin = await create_user(session, Role.ADMIN)
    round_ = await service.create_round(
        session,
        round_data(
            ballot_type="ranked",
            max_projects=3,
            ranked_scores=[3, 2, 1],
            greedy_threshold=5,
            greedy_no_skip=True,
            leftover="fund-by-score",
            tie_break_seed="loting-2027-03-01",
            export_public=True,
        ),
        actor_id=admin,
    )
    assert (round_.ranked_scores, round_.leftover, round_.greedy_threshold) == (
        "3,2,1",
        "fund-by-score",
        5,
    )
    for phase in (Phase.SUBMISSION, Phase.REVIEW):
        await service.move_phase(session, round_.id, phase, actor_id=admin, reason="t")
    await add_missing_projects(session, round_.id)
    frozen = await service.move_phase(session, round_.id, Phase.VOTING, actor_id=admin, reason="t")
    assert frozen.frozen_definition is not None
    definition = json.loads(frozen.frozen_definition)
    assert definition["format"] == "burgerbegroting-round/2"
    assert definition["counting"] == {
        "rule": "greedy",
        "tie_break": "lowest-cost",
        "seed": "loting-2027-03-01",
        "order": None,
        "threshold": 5,
        "no_skip": True,
        "leftover": "fund-by-score",
        "ranked_scores": [3, 2, 1],
    }
    assert set(definition) == {
        "format",
        "round_id",
        "budget",
        "districts",
        "themes",
        "ballot",
        "counting",
        "eligibility",
        "supports",
        "projects",
    }
    # The export's publicity is not part of the count: it stays editable after the freeze.
    changed = await service.update_round(
        session, round_.id, {"export_public": False}, actor_id=admin
    )
    assert changed.export_public is False
    assert changed.fingerprint == frozen.fingerprint


async def test_an_explicit_order_names_proposals_of_the_round_and_is_frozen(
    session: AsyncSession,
) -> None:
    admin = await create_user(session, Role.ADMIN)
    round_ = await service.create_round(session, round_data(tie_break="explicit"), actor_id=admin)
    for phase in (Phase.SUBMISSION, Phase.REVIEW):
        await service.move_phase(session, round_.id, phase, actor_id=admin, reason="t")
    projects = await add_missing_projects(session, round_.id)
    with pytest.raises(ValidationFailed) as exc:
        await service.update_round(
            session, round_.id, {"tie_break_order": [*projects, 999_999]}, actor_id=admin
        )
    assert "tie_break_order" in exc.value.fields
    order = list(reversed(projects))
    await service.update_round(session, round_.id, {"tie_break_order": order}, actor_id=admin)
    frozen = await service.move_phase(session, round_.id, Phase.VOTING, actor_id=admin, reason="t")
    assert frozen.frozen_definition is not None
    assert json.loads(frozen.frozen_definition)["counting"]["order"] == order
