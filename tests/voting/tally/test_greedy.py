"""Greedy: hand-checked elections for every option and ballot type, and the official results
of the two greedy-threshold elections in the shared files."""

from __future__ import annotations

from pathlib import Path

import pytest

from burgerbegroting.voting.tally.greedy import greedy, scores
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
from burgerbegroting.voting.tally.pabulib import read_election
from burgerbegroting.voting.tally.tiebreak import TieBreak

LEX = TieBreak("lexicographic")
DATA = Path("/work/shared/data/pabulib")


def approval(budget: int, costs: dict[str, int], *ballots: str) -> Election:
    return Election(
        budget=budget,
        projects=tuple(Project(pid, c) for pid, c in costs.items()),
        ballots=tuple(Ballot(tuple(b)) for b in ballots),
        ballot_type=BallotType.APPROVAL,
        decimals=0,
    )


# Votes: a 3, b 2, c 2, d 0. Costs: a 6, b 5, c 4, d 3. Budget 10.
ELECTION = approval(10, {"a": 6, "b": 5, "c": 4, "d": 3}, "abc", "ab", "ac")


def detail(outcome: Outcome, pid: str) -> dict[str, str]:
    return next(dict(s.detail) for s in outcome.steps if s.project == pid)


def test_most_votes_first_skipping_what_no_longer_fits() -> None:
    # a (6) leaves 4; b (5, tied with c, "b" < "c") does not fit; c (4) fits; d has no votes.
    outcome = greedy(ELECTION, tie_break=LEX)
    assert outcome.selected == ("a", "c")
    assert outcome.cost == 10
    assert dict(outcome.unselected) == {"b": Reason.DOES_NOT_FIT, "d": Reason.NO_SUPPORT}
    assert [s.project for s in outcome.steps] == ["a", "b", "c", "d"]
    assert [s.votes for s in outcome.steps] == [3, 2, 2, 0]
    assert detail(outcome, "b") == {"rank": "2", "cost": "5", "remaining": "4"}
    assert detail(outcome, "c")["remaining"] == "0"


def test_no_skip_stops_at_the_first_project_that_does_not_fit() -> None:
    outcome = greedy(ELECTION, tie_break=LEX, no_skip=True)
    assert outcome.selected == ("a",)
    assert dict(outcome.unselected) == {
        "b": Reason.DOES_NOT_FIT,
        "c": Reason.NOT_REACHED,
        "d": Reason.NO_SUPPORT,
    }


def test_lowest_cost_tie_break_puts_the_cheaper_of_two_equal_projects_first() -> None:
    outcome = greedy(ELECTION, tie_break=TieBreak("lowest-cost", seed="x"))
    assert outcome.selected == ("a", "c")
    assert [s.project for s in outcome.steps][:3] == ["a", "c", "b"]
    assert outcome.seed == "x"


def test_projects_below_the_threshold_are_never_funded() -> None:
    outcome = greedy(ELECTION, tie_break=LEX, threshold=3)
    assert outcome.selected == ("a",)
    assert dict(outcome.unselected)["c"] is Reason.BELOW_THRESHOLD
    assert ("threshold", "3") in outcome.parameters


def test_unsupported_projects_are_never_funded_even_with_money_left() -> None:
    outcome = greedy(approval(100, {"a": 1, "z": 1}, "a"), tie_break=LEX)
    assert outcome.selected == ("a",)
    assert dict(outcome.unselected) == {"z": Reason.NO_SUPPORT}


def test_theme_and_district_caps_are_respected() -> None:
    # Theme "zorg" may spend 7: a (6) is funded, then b (zorg, 5) would make 11 > 7.
    # District "Noord" may spend 4: c (4) fits exactly.
    election = Election(
        budget=20,
        projects=(
            Project("a", 6, theme="zorg"),
            Project("b", 5, theme="zorg"),
            Project("c", 4, district="Noord"),
            Project("e", 1, district="Noord"),
        ),
        ballots=(Ballot(("a", "b", "c", "e")), Ballot(("a", "b", "c")), Ballot(("a", "b"))),
        ballot_type=BallotType.APPROVAL,
        decimals=0,
        caps=(Cap(CapKind.THEME, "zorg", 7), Cap(CapKind.DISTRICT, "Noord", 4)),
    )
    outcome = greedy(election, tie_break=LEX)
    assert outcome.selected == ("a", "c")
    assert dict(outcome.unselected) == {"b": Reason.CAP_REACHED, "e": Reason.CAP_REACHED}
    assert detail(outcome, "b")["cap"] == "theme:zorg"
    assert detail(outcome, "b")["cap_left"] == "1"
    assert detail(outcome, "e")["cap"] == "district:Noord"


def test_cumulative_ballots_count_points() -> None:
    # x: 3 + 1 = 4 points from 2 voters; y: 5 points from 1 voter. Budget fits one.
    election = Election(
        budget=10,
        projects=(Project("x", 10), Project("y", 10)),
        ballots=(Ballot(("x", "y"), (3, 5)), Ballot(("x",), (1,))),
        ballot_type=BallotType.CUMULATIVE,
        decimals=0,
    )
    assert scores(election) == {"x": 4, "y": 5}
    assert greedy(election, tie_break=LEX).selected == ("y",)


def test_ranked_ballots_count_borda_scores() -> None:
    # Three projects: first choice 3 points, second 2, third 1.
    # (a, b, c): a 3, b 2, c 1; (b, a) twice: b 3, a 2 each; (c): c 3.
    # a = 3 + 4 = 7, b = 2 + 6 = 8, c = 1 + 3 = 4.
    election = Election(
        budget=5,
        projects=(Project("a", 3), Project("b", 3), Project("c", 2)),
        ballots=(Ballot(("a", "b", "c")), Ballot(("b", "a"), weight=2), Ballot(("c",))),
        ballot_type=BallotType.ORDINAL,
        decimals=0,
    )
    assert scores(election) == {"a": 7, "b": 8, "c": 4}
    outcome = greedy(election, tie_break=LEX)
    assert outcome.selected == ("b", "c")
    assert dict(outcome.unselected) == {"a": Reason.DOES_NOT_FIT}


def test_choose_one_ballots_count_like_approval() -> None:
    election = Election(
        budget=5,
        projects=(Project("a", 5), Project("b", 5)),
        ballots=(Ballot(("a",)), Ballot(("b",), weight=2)),
        ballot_type=BallotType.CHOOSE1,
        decimals=0,
    )
    assert greedy(election, tie_break=LEX).selected == ("b",)


@pytest.mark.parametrize("name", ["Poland_Lodz_2024.pb", "Poland_Katowice_2020.pb"])
@pytest.mark.parametrize("tie", ["lexicographic", "lowest-cost"])
def test_greedy_threshold_reproduces_the_official_winners(name: str, tie: str) -> None:
    parsed, election = read_election(DATA / name)
    fields = [f.strip() for f in parsed.project_fields]
    official = {
        row[fields.index("project_id")]
        for row in parsed.projects
        if row[fields.index("selected")].strip() == "1"
    }
    outcome = greedy(election, tie_break=TieBreak(tie), threshold=parsed.threshold)
    assert set(outcome.selected) == official
    assert outcome.cost <= election.budget


CAPPED = Election(
    budget=20,
    projects=(
        Project("a", 6, theme="zorg"),
        Project("b", 5, theme="zorg"),
        Project("c", 4, district="Noord"),
        Project("e", 1, district="Noord"),
        Project("f", 15),
    ),
    ballots=(Ballot(("a", "b", "c", "e", "f")), Ballot(("a", "b", "c", "f")), Ballot(("a", "b"))),
    ballot_type=BallotType.APPROVAL,
    decimals=0,
    caps=(Cap(CapKind.THEME, "zorg", 7), Cap(CapKind.DISTRICT, "Noord", 4)),
)


def test_leftover_pass_funds_capped_out_projects_by_score_ignoring_the_caps() -> None:
    # Pass with caps: a (6, 14 left), b cap, c (4, 10 left), f 15 does not fit, e cap.
    # Leftover pass, same order: b (5) fits 10 -> 5 left; e (1) fits -> 4 left. f never fits.
    kept = greedy(CAPPED, tie_break=LEX)
    assert kept.selected == ("a", "c")
    assert dict(kept.parameters)["leftover"] == "keep"
    funded = greedy(CAPPED, tie_break=LEX, leftover="fund-by-score")
    assert funded.selected == ("a", "c", "b", "e")
    assert funded.cost == 16
    assert dict(funded.unselected) == {"f": Reason.DOES_NOT_FIT}
    leftover_steps = [s for s in funded.steps if s.reason is Reason.LEFTOVER]
    assert [s.project for s in leftover_steps] == ["b", "e"]
    assert dict(leftover_steps[0].detail)["remaining"] == "5"
    assert dict(funded.parameters)["leftover"] == "fund-by-score"


def test_leftover_pass_respects_the_threshold_and_the_budget() -> None:
    # Scores: a 3, b 3, c 2, f 2, e 1. With threshold 3 only a and b may be funded: b, capped
    # out first, comes back in the leftover pass; c, e and f stay below the threshold.
    funded = greedy(CAPPED, tie_break=LEX, leftover="fund-by-score", threshold=3)
    assert funded.selected == ("a", "b")
    assert dict(funded.unselected) == {
        "c": Reason.BELOW_THRESHOLD,
        "e": Reason.BELOW_THRESHOLD,
        "f": Reason.BELOW_THRESHOLD,
    }
    assert funded.cost <= CAPPED.budget


def test_an_unknown_leftover_policy_is_refused() -> None:
    with pytest.raises(TallyError, match="leftover"):
        greedy(CAPPED, tie_break=LEX, leftover="fund-everything")


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("Netherlands_Amsterdam_166.pb", "fund-by-score"),
        ("Netherlands_Amsterdam_643.pb", "fund-by-score"),
        ("Netherlands_Amsterdam_252.pb", "keep"),
    ],
)
def test_amsterdam_files_counted_with_their_published_leftover_rule(name: str, policy: str) -> None:
    """The shared Amsterdam files carry no ``selected`` column, so the published selection
    cannot be compared. What can be checked: our scores equal the file's ``votes`` column (so
    166's 50/50 paper/online weighting is already in the published ballots or absent), the
    file names the leftover rule, and the leftover pass funds exactly the capped-out projects
    that still fit, in score order, without breaking the budget."""
    parsed, election = read_election(DATA / name)
    assert parsed.leftover == policy
    fields = [f.strip() for f in parsed.project_fields]
    published = {row[0]: int(row[fields.index("votes")]) for row in parsed.projects}
    assert scores(election) == published
    capped = greedy(election, tie_break=LEX)
    funded = greedy(election, tie_break=LEX, leftover=parsed.leftover)
    assert funded.cost <= election.budget
    extra = list(funded.selected[len(capped.selected) :])
    assert funded.selected[: len(capped.selected)] == capped.selected
    remaining = capped.leftover
    costs = {p.id: p.cost for p in election.projects}
    expected = []
    if policy == "fund-by-score":
        for pid, reason in capped.unselected:
            if reason is Reason.CAP_REACHED and costs[pid] <= remaining:
                remaining -= costs[pid]
                expected.append(pid)
    assert extra == expected
