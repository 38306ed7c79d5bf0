"""Pure parts of the results service: percentages, small counts, visibility rules, ties."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, Forbidden, NotAuthenticated
from burgerbegroting.results.participation import percent, rounded_cents, small
from burgerbegroting.results.service import _ties, check_visible
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.voting.tally.model import Ballot, BallotType, Election, Project


@pytest.mark.parametrize(("n", "shown"), [(0, "<10"), (1, "<10"), (9, "<10"), (10, 10), (11, 11)])
def test_counts_under_ten_are_hidden(n: int, shown: int | str) -> None:
    assert small(n) == shown


@pytest.mark.parametrize(
    ("numerator", "denominator", "shown"),
    [
        (1, 3, "33.3"),
        (2, 3, "66.7"),
        (1, 8, "12.5"),
        (12, 13, "92.3"),
        (0, 5, "0.0"),
        (5, 5, "100.0"),
    ],
)
def test_percentages_round_half_up_from_exact_fractions(
    numerator: int, denominator: int, shown: str
) -> None:
    assert percent(numerator, denominator) == shown


def test_no_percentage_of_nothing() -> None:
    assert percent(3, 0) is None


@given(st.integers(0, 10**12), st.integers(1, 10**12))
def test_percentage_is_within_half_a_tenth_of_the_exact_value(
    numerator: int, denominator: int
) -> None:
    shown = percent(numerator, denominator)
    assert shown is not None
    exact = Fraction(numerator * 100, denominator)
    assert abs(Fraction(shown) - exact) <= Fraction(1, 20)


@pytest.mark.parametrize(
    ("exact", "cents"), [("2450000/3", 816_667), ("5/2", 3), ("7/3", 2), ("1000000", 1_000_000)]
)
def test_exact_amounts_round_to_cents_for_display(exact: str, cents: int) -> None:
    assert rounded_cents(Fraction(exact)) == cents


def _round(phase: Phase) -> Round:
    return Round(title="t", total_budget_cents=1, phase=phase.value)


@pytest.mark.parametrize("phase", [Phase.SUBMISSION, Phase.REVIEW, Phase.VOTING])
def test_nobody_sees_results_before_closing(phase: Phase) -> None:
    for roles in (None, frozenset({Role.ADMIN}), frozenset({Role.COUNCIL, Role.AUDITOR})):
        with pytest.raises(Conflict):
            check_visible(_round(phase), roles)


def test_closed_results_are_for_council_auditors_and_admins() -> None:
    closed = _round(Phase.CLOSED)
    with pytest.raises(NotAuthenticated):
        check_visible(closed, None)
    with pytest.raises(Forbidden):
        check_visible(closed, frozenset({Role.RESIDENT, Role.MODERATOR}))
    for role in (Role.COUNCIL, Role.AUDITOR, Role.ADMIN):
        check_visible(closed, frozenset({role}))
    check_visible(_round(Phase.PUBLISHED), None)


def test_ties_name_the_groups_and_the_ones_a_lot_ordered() -> None:
    # 1 and 2: equal votes, equal cost, equal supporters -> the lot ordered them.
    # 3 and 4: equal votes, different cost -> the cost did, not the lot. 5: no votes, no tie.
    election = Election(
        budget=100,
        projects=(
            Project("1", 10),
            Project("2", 10),
            Project("3", 20),
            Project("4", 30),
            Project("5", 10),
        ),
        ballots=(Ballot(("1", "3")), Ballot(("2", "4")), Ballot(("1", "2", "3", "4"))),
        ballot_type=BallotType.APPROVAL,
    )
    votes = {1: 2, 2: 2, 3: 2, 4: 2, 5: 0}
    ties, lots = _ties(election, votes, [2, 1, 5, 3, 4], "lowest-cost")
    assert ties == ((2, 1, 3, 4),)
    assert lots == ((2, 1),)
    assert _ties(election, votes, [1, 2, 3, 4, 5], "lexicographic")[1] == ()
