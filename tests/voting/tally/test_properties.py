"""Properties of greedy and Phragmén on generated elections, each a statement that could fail."""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from burgerbegroting.voting.tally.greedy import greedy, scores
from burgerbegroting.voting.tally.model import (
    Ballot,
    BallotType,
    CapKind,
    Election,
    Outcome,
    Project,
    supporters,
)
from burgerbegroting.voting.tally.phragmen import phragmen
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.voting.tally.strategies import elections

LEX = TieBreak("lexicographic")
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Count = Callable[[Election, TieBreak], Outcome]


def approvalish() -> st.SearchStrategy[BallotType]:
    return st.sampled_from([BallotType.APPROVAL, BallotType.CHOOSE1])


@st.composite
def counts(draw: st.DrawFn) -> tuple[Election, Count]:
    """An election with a way to count it: greedy (any options) or Phragmén (approval)."""
    if draw(st.booleans()):
        election = draw(elections(caps=draw(st.booleans()), zero_costs=True))
        no_skip = draw(st.booleans())
        threshold = draw(st.none() | st.integers(0, 6))

        def count_greedy(e: Election, tb: TieBreak) -> Outcome:
            return greedy(e, tie_break=tb, no_skip=no_skip, threshold=threshold)

        return election, count_greedy
    election = draw(elections(ballot_type=draw(approvalish()), zero_costs=True))
    skip = draw(st.booleans())

    def count_phragmen(e: Election, tb: TieBreak) -> Outcome:
        return phragmen(e, tie_break=tb, skip=skip)

    return election, count_phragmen


@PROPS
@given(counts())
def test_every_outcome_fits_the_budget_and_accounts_for_every_project(
    case: tuple[Election, Count],
) -> None:
    election, count = case
    outcome = count(election, LEX)
    cost = {p.id: p.cost for p in election.projects}
    assert outcome.cost == sum(cost[p] for p in outcome.selected) <= election.budget
    assert len(set(outcome.selected)) == len(outcome.selected)
    unselected = [p for p, _ in outcome.unselected]
    assert sorted(unselected + list(outcome.selected)) == sorted(cost)
    support = supporters(election)
    assert all(support[p] > 0 for p in outcome.selected)


@PROPS
@given(elections(caps=True, zero_costs=True), st.booleans())
def test_caps_are_never_exceeded(election: Election, no_skip: bool) -> None:
    outcome = greedy(election, tie_break=LEX, no_skip=no_skip)
    projects = {p.id: p for p in election.projects}
    for cap in election.caps:
        spent = sum(
            projects[pid].cost
            for pid in outcome.selected
            if (projects[pid].theme if cap.kind is CapKind.THEME else projects[pid].district)
            == cap.key
        )
        assert spent <= cap.limit


@PROPS
@given(elections(zero_costs=True))
def test_greedy_is_exhaustive(election: Election) -> None:
    # Without threshold, caps or no-skip, nothing supported that was left out would still fit.
    outcome = greedy(election, tie_break=LEX)
    support = supporters(election)
    for p in election.projects:
        if p.id not in outcome.selected and support[p.id]:
            assert p.cost > outcome.leftover


@PROPS
@given(elections(zero_costs=True))
def test_greedy_funds_in_order_of_decreasing_score(election: Election) -> None:
    outcome = greedy(election, tie_break=LEX)
    score = scores(election)
    funded = [score[p] for p in outcome.selected]
    assert funded == sorted(funded, reverse=True)


@PROPS
@given(st.data())
def test_phragmen_with_skip_is_exhaustive(data: st.DataObject) -> None:
    election = data.draw(elections(ballot_type=data.draw(approvalish()), zero_costs=True))
    outcome = phragmen(election, tie_break=LEX, skip=True)
    support = supporters(election)
    for p in election.projects:
        if p.id not in outcome.selected and support[p.id]:
            assert p.cost > outcome.leftover


@PROPS
@given(counts(), st.randoms(use_true_random=False))
def test_shuffling_and_splitting_ballots_changes_nothing(
    case: tuple[Election, Count], rnd: random.Random
) -> None:
    election, count = case
    voters = [Ballot(b.projects, b.points) for b in election.ballots for _ in range(b.weight)]
    rnd.shuffle(voters)
    shuffled = Election(
        election.budget,
        election.projects,
        tuple(voters),
        election.ballot_type,
        election.decimals,
        election.caps,
    )
    first, second = count(election, LEX), count(shuffled, LEX)
    assert first.selected == second.selected
    assert first.steps == second.steps
    # The default tie-break draws its lot from the election's fingerprint: also unchanged.
    default = TieBreak("lowest-cost")
    assert count(election, default).selected == count(shuffled, default).selected


@PROPS
@given(counts(), st.randoms(use_true_random=False))
def test_renaming_projects_with_the_tie_break_order_renamed_changes_nothing(
    case: tuple[Election, Count], rnd: random.Random
) -> None:
    election, count = case
    ids = [p.id for p in election.projects]
    order = ids[:]
    rnd.shuffle(order)
    new_names = [f"n{i}" for i in range(len(ids))]
    rnd.shuffle(new_names)
    rename = dict(zip(ids, new_names, strict=True))
    renamed = Election(
        election.budget,
        tuple(
            Project(rename[p.id], p.cost, p.name, p.theme, p.district) for p in election.projects
        ),
        tuple(
            Ballot(tuple(rename[p] for p in b.projects), b.points, b.weight)
            for b in election.ballots
        ),
        election.ballot_type,
        election.decimals,
        election.caps,
    )
    first = count(election, TieBreak("explicit", explicit=tuple(order)))
    second = count(renamed, TieBreak("explicit", explicit=tuple(rename[p] for p in order)))
    assert tuple(rename[p] for p in first.selected) == second.selected
    assert [(rename[p], r) for p, r in first.unselected] == list(second.unselected)


@PROPS
@given(counts())
def test_counting_twice_gives_the_same_outcome(case: tuple[Election, Count]) -> None:
    election, count = case
    assert count(election, LEX) == count(election, LEX)
    default = TieBreak("lowest-cost")
    assert count(election, default) == count(election, default)


@PROPS
@given(elections(ballot_type=BallotType.APPROVAL, caps=True), st.data())
def test_greedy_winner_stays_a_winner_with_more_approvals(
    election: Election, data: st.DataObject
) -> None:
    threshold = data.draw(st.none() | st.integers(0, 6))
    outcome = greedy(election, tie_break=LEX, threshold=threshold)
    assume(outcome.selected)
    winner = data.draw(st.sampled_from(outcome.selected))
    ballots = list(election.ballots)
    change_existing = data.draw(st.booleans())
    if ballots and change_existing:
        # An existing ballot adds the winner (if it did not approve it yet).
        i = data.draw(st.integers(0, len(ballots) - 1))
        b = ballots[i]
        if winner not in b.projects:
            ballots[i : i + 1] = [
                Ballot(b.projects, (), b.weight - 1),
                Ballot((*b.projects, winner)),
            ]
    else:
        ballots.append(Ballot((winner,)))  # a new voter approves only the winner
    more = Election(
        election.budget,
        election.projects,
        tuple(b for b in ballots if b.weight),
        election.ballot_type,
        election.decimals,
        election.caps,
    )
    assert winner in greedy(more, tie_break=LEX, threshold=threshold).selected
