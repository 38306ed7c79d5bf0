"""The engine's data model: validation, supporter counts, the outcome's JSON form."""

from __future__ import annotations

import json

import pytest

from burgerbegroting.voting.tally.model import (
    Ballot,
    BallotType,
    Cap,
    CapKind,
    Election,
    Outcome,
    Project,
    Reason,
    Step,
    TallyError,
    check_election,
    supporters,
)


def election(
    *ballots: Ballot,
    kind: BallotType = BallotType.APPROVAL,
    projects: tuple[Project, ...] = (Project("a", 10), Project("b", 20)),
    budget: int = 30,
    decimals: int = 0,
    caps: tuple[Cap, ...] = (),
) -> Election:
    return Election(budget, projects, ballots, kind, decimals, caps)


def test_outcome_reports_leftover_and_serialises_every_decision() -> None:
    outcome = Outcome(
        rule="greedy",
        selected=("10", "9"),
        cost=70,
        budget=100,
        tie_break="lexicographic",
        tie_break_order=("10", "9", "x"),
        seed=None,
        steps=(
            Step("10", Reason.SELECTED, 5, (("rank", "1"),)),
            Step("9", Reason.SELECTED, 4, ()),
            Step("x", Reason.DOES_NOT_FIT, 3, (("remaining", "30"),)),
        ),
        unselected=(("x", Reason.DOES_NOT_FIT),),
        parameters=(("no_skip", "false"),),
    )
    assert outcome.leftover == 30
    data = json.loads(json.dumps(outcome.to_json()))
    assert data["selected"] == ["10", "9"]
    assert data["leftover"] == 30
    assert data["unselected"] == [{"project": "x", "reason": "does-not-fit"}]
    assert data["trace"][2] == {
        "project": "x",
        "reason": "does-not-fit",
        "votes": 3,
        "detail": {"remaining": "30"},
    }
    assert data["parameters"] == {"no_skip": "false"}


def test_supporters_count_each_ballot_once_with_its_weight() -> None:
    e = election(Ballot(("a", "a", "b"), weight=3), Ballot(("b",)))
    assert supporters(e) == {"a": 3, "b": 4}


def test_cumulative_supporters_need_points_above_zero() -> None:
    e = election(
        Ballot(("a", "b"), (2, 0), weight=2),
        Ballot(("b",), (1,)),
        kind=BallotType.CUMULATIVE,
    )
    assert supporters(e) == {"a": 2, "b": 1}


def test_check_election_returns_the_index_of_every_project() -> None:
    assert check_election(election(Ballot(("b",)))) == {"a": 0, "b": 1}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (election(projects=(Project("a", 1), Project("a", 2))), "appears twice"),
        (election(projects=(Project("a", -1),)), "negative cost"),
        (election(budget=-1), "budget"),
        (election(Ballot(("zz",))), "'zz'"),
        (election(Ballot(("a",), weight=-1)), "weight"),
        (election(Ballot(("a",), (1, 2)), kind=BallotType.CUMULATIVE), "one points value"),
        (election(Ballot(("a",), (-1,)), kind=BallotType.CUMULATIVE), "negative"),
        (election(Ballot(("a",), (1,))), "Only cumulative"),
        (election(caps=(Cap(CapKind.THEME, "t", -5),)), "cap"),
        (election(decimals=-1), "decimals"),
    ],
)
def test_invalid_elections_are_refused_with_a_clear_message(bad: Election, message: str) -> None:
    with pytest.raises(TallyError, match=message):
        check_election(bad)
