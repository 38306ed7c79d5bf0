"""Sequential Phragmén: hand-checked loads, the stop rule pabutools uses, the skip variant."""

from __future__ import annotations

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
    TallyError,
)
from burgerbegroting.voting.tally.phragmen import phragmen
from burgerbegroting.voting.tally.tiebreak import TieBreak

LEX = TieBreak("lexicographic")


def approval(budget: int, costs: dict[str, int], *ballots: str) -> Election:
    """A ballot is a string of one-letter ids."""
    return Election(
        budget=budget,
        projects=tuple(Project(pid, c) for pid, c in costs.items()),
        ballots=tuple(Ballot(tuple(b)) for b in ballots),
        ballot_type=BallotType.APPROVAL,
        decimals=0,
    )


def load(outcome: Outcome, pid: str) -> str:
    return next(dict(s.detail)["load"] for s in outcome.steps if s.project == pid)


def test_loads_are_spread_equally_and_the_lowest_new_load_wins() -> None:
    # Voters v1, v2 approve a and c; v3 approves b and c. Budget 10.
    # Round 1: a (4) -> 4/2 = 2; b (3) -> 3/1 = 3; c (6) -> 6/3 = 2. Tie a/c: "a" first.
    #   v1, v2 now carry 2.
    # Round 2: b -> (0 + 3)/1 = 3; c -> (2 + 2 + 0 + 6)/3 = 10/3. b wins; v3 carries 3.
    # Round 3: c -> (2 + 2 + 3 + 6)/3 = 13/3, but c (6) > 3 left: stop.
    outcome = phragmen(approval(10, {"a": 4, "b": 3, "c": 6}, "ac", "ac", "bc"), tie_break=LEX)
    assert outcome.selected == ("a", "b")
    assert outcome.cost == 7
    assert load(outcome, "a") == "2/1"
    assert load(outcome, "b") == "3/1"
    assert load(outcome, "c") == "13/3"
    assert dict(outcome.unselected) == {"c": Reason.DOES_NOT_FIT}


def test_stops_at_the_first_project_that_does_not_fit_unless_skip_is_asked() -> None:
    # a (5) by v1..v5: load 1; c (3) by v6, v7: 3/2; d (2) by v1: 2. Budget 7.
    # Round 1: a (2 left). Round 2: c at 3/2 beats d at (1 + 2)/1 = 3, but c does not fit.
    election = approval(7, {"a": 5, "c": 3, "d": 2}, "ad", "a", "a", "a", "a", "c", "c")
    stopped = phragmen(election, tie_break=LEX)
    assert stopped.selected == ("a",)
    assert dict(stopped.unselected) == {"c": Reason.DOES_NOT_FIT, "d": Reason.NOT_REACHED}
    skipping = phragmen(election, tie_break=LEX, skip=True)
    assert skipping.selected == ("a", "d")
    assert skipping.cost == 7
    assert dict(skipping.unselected) == {"c": Reason.DOES_NOT_FIT}


def test_a_tie_with_a_project_that_does_not_fit_stops_the_count_as_in_pabutools() -> None:
    # a (3) by v1..v3: load 1 -> 2 left of 5. Round 2: x (2) by v4: 2; y (4) by v5, v6: 2.
    # Tied; x would fit and comes first, but y does not fit: pabutools stops here.
    election = approval(5, {"a": 3, "x": 2, "y": 4}, "a", "a", "a", "x", "y", "y")
    assert phragmen(election, tie_break=LEX).selected == ("a",)
    assert phragmen(election, tie_break=LEX, skip=True).selected == ("a", "x")


def test_projects_dearer_than_the_budget_and_unsupported_ones_are_never_candidates() -> None:
    # B (11) costs more than the whole budget (10); z has no votes.
    outcome = phragmen(approval(10, {"B": 11, "a": 5, "z": 1}, "B", "a"), tie_break=LEX)
    assert outcome.selected == ("a",)
    assert dict(outcome.unselected) == {"B": Reason.DOES_NOT_FIT, "z": Reason.NO_SUPPORT}


def test_weights_count_as_that_many_voters() -> None:
    grouped = Election(
        budget=10,
        projects=(Project("a", 4), Project("b", 3), Project("c", 6)),
        ballots=(Ballot(("a", "c"), weight=2), Ballot(("b", "c"))),
        ballot_type=BallotType.APPROVAL,
        decimals=0,
    )
    assert phragmen(grouped, tie_break=LEX).steps == (
        phragmen(approval(10, {"a": 4, "b": 3, "c": 6}, "ac", "ac", "bc"), tie_break=LEX).steps
    )


def test_cumulative_ordinal_and_capped_elections_are_refused() -> None:
    for kind in (BallotType.CUMULATIVE, BallotType.ORDINAL):
        election = Election(1, (Project("a", 1),), (), kind)
        with pytest.raises(TallyError, match="approval"):
            phragmen(election, tie_break=LEX)
    capped = Election(
        1,
        (Project("a", 1, theme="t"),),
        (),
        BallotType.APPROVAL,
        caps=(Cap(CapKind.THEME, "t", 1),),
    )
    with pytest.raises(TallyError, match="caps"):
        phragmen(capped, tie_break=LEX)
