"""The rule registry, and the worked example of docs/counting.md counted by every rule."""

from __future__ import annotations

import pytest

from burgerbegroting.voting.tally.model import Ballot, BallotType, Election, Project, TallyError
from burgerbegroting.voting.tally.rules import RULES, count
from burgerbegroting.voting.tally.tiebreak import TieBreak, election_fingerprint

LEX = TieBreak("lexicographic")

# docs/counting.md, "Worked example": budget 100, five voters.
EXAMPLE = Election(
    budget=100,
    projects=(Project("A", 60), Project("B", 30), Project("C", 30), Project("D", 20)),
    ballots=(
        Ballot(("A", "B"), weight=2),
        Ballot(("A",)),
        Ballot(("C", "D")),
        Ballot(("C",)),
    ),
    ballot_type=BallotType.APPROVAL,
    decimals=0,
)


@pytest.mark.parametrize(
    ("rule", "options", "selected", "cost"),
    [
        ("greedy", {}, ("A", "B"), 90),
        ("mes", {}, ("A", "C"), 90),
        ("mes-add1", {}, ("A", "C"), 90),
        ("mes-add1-exhaustive", {}, ("A", "C"), 90),
        ("mes-add1-greedy", {}, ("A", "C"), 90),
        ("phragmen", {}, ("B", "C"), 60),
        ("phragmen", {"skip": True}, ("B", "C", "D"), 80),
    ],
)
def test_the_documented_worked_example(
    rule: str, options: dict[str, object], selected: tuple[str, ...], cost: int
) -> None:
    outcome = count(EXAMPLE, rule, tie_break=LEX, **options)
    assert outcome.selected == selected
    assert outcome.cost == cost
    assert outcome.rule == rule


def test_the_worked_example_add1_figures() -> None:
    outcome = count(EXAMPLE, "mes-add1", tie_break=LEX)
    assert dict(outcome.parameters)["add1_steps"] == "14"
    assert dict(outcome.parameters)["per_voter_budget"] == "34/1"
    a = next(dict(s.detail) for s in outcome.steps if s.project == "A")
    assert (a["price_per_voter"], a["effective_votes"]) == ("20/1", "3/1")


def test_every_name_in_the_issue_is_registered() -> None:
    assert set(RULES) == {
        "greedy",
        "mes",
        "mes-add1",
        "mes-add1-exhaustive",
        "mes-add1-greedy",
        "phragmen",
    }


def test_count_records_the_fingerprint_as_the_seed_of_the_default_lot() -> None:
    for rule in RULES:
        outcome = count(EXAMPLE, rule, tie_break=TieBreak("lowest-cost"))
        assert outcome.seed == election_fingerprint(EXAMPLE)
        assert outcome.tie_break == "lowest-cost"


def test_unknown_rules_and_options_are_refused() -> None:
    with pytest.raises(TallyError, match="Unknown rule 'borda'"):
        count(EXAMPLE, "borda", tie_break=LEX)
    with pytest.raises(TallyError, match="does not take the option"):
        count(EXAMPLE, "mes", tie_break=LEX, no_skip=True)
