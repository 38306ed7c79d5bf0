"""Differential tests: our rules against pabutools 1.2.3, the reference implementation.

pabutools is GPL-3.0 and a test-only dependency: it runs here as an oracle and is never imported
by the package. Instances are built from our own ``Election`` objects with exact integer costs
(pabutools turns them into gmpy2 rationals), so both tools count exactly the same data.

With the ``lexicographic`` tie-break both tools break ties by project id compared as strings.
Known, documented differences that the comparisons account for:
- pabutools' greedy (and its greedy completion) funds projects nobody voted for when money is
  left; those come last in its order and are dropped before comparing;
- greedy and Phragmén results are compared as sets: with free projects both tools may list the
  same projects in another order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pabutools.election import Additive_Cardinal_Sat as PointsSat
from pabutools.election import (
    AdditiveSatisfaction,
    ApprovalBallot,
    ApprovalProfile,
    Cost_Sat,
    CumulativeBallot,
    CumulativeProfile,
    Instance,
)
from pabutools.election import Project as PabuProject
from pabutools.fractions import frac
from pabutools.rules import (
    greedy_utilitarian_welfare,
    method_of_equal_shares,
    sequential_phragmen,
)

from burgerbegroting.voting.tally.model import BallotType, Election
from burgerbegroting.voting.tally.rules import RULES
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.voting.tally.strategies import elections as any_elections
from tests.voting.tally.test_mes import elections, load_pabulib

LEX = TieBreak("lexicographic")
DATA = Path("/work/shared/data/pabulib")
# Small enough to keep the suite quick; the big files run in benchmarks/tally.py.
SMALL_FILES = (
    "Netherlands_Assen_2024.pb",
    "Netherlands_Amsterdam_643.pb",
    "Netherlands_Amsterdam_166.pb",
    "Poland_Gdansk_2020_Jasien.pb",
)


class PointsTimesCost(AdditiveSatisfaction):  # type: ignore[misc]
    """Satisfaction points x cost: pabutools' greedy orders by satisfaction / cost, so this
    makes it order cumulative ballots by total points, as our greedy does."""

    def __init__(self, instance: Any, profile: Any, ballot: Any) -> None:
        super().__init__(
            instance, profile, ballot, lambda _i, _p, b, proj, _pre: b.get(proj, 0) * proj.cost
        )


def to_pabutools(election: Election) -> tuple[Any, Any, dict[str, Any]]:
    instance = Instance(budget_limit=frac(election.budget))
    projects: dict[str, Any] = {}
    for p in election.projects:
        projects[p.id] = PabuProject(p.id, frac(p.cost))
        instance.add(projects[p.id])
    profile: Any
    if election.ballot_type is BallotType.CUMULATIVE:
        profile = CumulativeProfile(instance=instance)
        for b in election.ballots:
            points: dict[Any, int] = {}
            for pid, pts in zip(b.projects, b.points, strict=True):
                points[projects[pid]] = points.get(projects[pid], 0) + pts
            for _ in range(b.weight):
                profile.append(CumulativeBallot({p: frac(v) for p, v in points.items() if v > 0}))
    else:
        profile = ApprovalProfile(instance=instance)
        for b in election.ballots:
            for _ in range(b.weight):
                profile.append(ApprovalBallot({projects[pid] for pid in b.projects}))
    return instance, profile, projects


def supported(election: Election) -> set[str]:
    return {pid for b in election.ballots if b.weight for pid in b.projects}


def oracle(rule: str, election: Election) -> list[str]:
    """Winners according to pabutools, zero-support projects dropped."""
    instance, profile, _ = to_pabutools(election)
    cumulative = election.ballot_type is BallotType.CUMULATIVE
    mes_sat = PointsSat if cumulative else Cost_Sat
    greedy_sat = PointsTimesCost if cumulative else Cost_Sat
    unit = 10**election.decimals
    if rule == "mes":
        result = method_of_equal_shares(instance, profile, sat_class=mes_sat)
    elif rule == "mes-add1-exhaustive":
        result = method_of_equal_shares(
            instance, profile, sat_class=mes_sat, voter_budget_increment=unit
        )
    elif rule == "mes-add1-greedy":
        first = method_of_equal_shares(
            instance, profile, sat_class=mes_sat, voter_budget_increment=unit
        )
        result = greedy_utilitarian_welfare(
            instance, profile, sat_class=greedy_sat, initial_budget_allocation=first
        )
    elif rule == "greedy":
        result = greedy_utilitarian_welfare(instance, profile, sat_class=greedy_sat)
    elif rule == "phragmen":
        result = sequential_phragmen(instance, profile)
    else:  # pragma: no cover - a typo in this file
        raise AssertionError(rule)
    keep = supported(election)
    return [p.name for p in result if p.name in keep]


ORDERED = {"mes", "mes-add1-exhaustive", "mes-add1-greedy"}


def assert_same_winners(rule: str, election: Election) -> None:
    ours = RULES[rule](election, tie_break=LEX).selected
    theirs = oracle(rule, election)
    if rule in ORDERED:
        assert list(ours) == theirs
    else:
        assert set(ours) == set(theirs)
        assert len(ours) == len(theirs)


RULES_FOR: dict[BallotType, tuple[str, ...]] = {
    BallotType.APPROVAL: ("greedy", "mes", "mes-add1-exhaustive", "mes-add1-greedy", "phragmen"),
    BallotType.CHOOSE1: ("greedy", "mes", "mes-add1-exhaustive", "mes-add1-greedy", "phragmen"),
    BallotType.CUMULATIVE: ("greedy", "mes", "mes-add1-exhaustive", "mes-add1-greedy"),
}


def _without_caps(election: Election) -> Election:
    # MES refuses caps; pabutools knows none. Compare the rules on the uncapped election.
    return Election(
        budget=election.budget,
        projects=election.projects,
        ballots=election.ballots,
        ballot_type=election.ballot_type,
        decimals=election.decimals,
    )


@pytest.mark.parametrize("name", SMALL_FILES)
def test_shared_files_give_the_same_winners_as_pabutools(name: str) -> None:
    election = _without_caps(load_pabulib(DATA / name))
    for rule in RULES_FOR[election.ballot_type]:
        assert_same_winners(rule, election)


def _check(rule: str) -> Callable[[Election], None]:
    def check(election: Election) -> None:
        if rule == "phragmen" and election.ballot_type is BallotType.CUMULATIVE:
            return
        assert_same_winners(rule, election)

    return check


MANY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MANY
@given(elections())
def test_mes_agrees_with_pabutools(election: Election) -> None:
    _check("mes")(election)


@MANY
@given(elections())
def test_mes_add1_exhaustive_agrees_with_pabutools(election: Election) -> None:
    _check("mes-add1-exhaustive")(election)


@MANY
@given(elections())
def test_mes_add1_greedy_agrees_with_pabutools(election: Election) -> None:
    _check("mes-add1-greedy")(election)


@MANY
@given(elections())
def test_greedy_agrees_with_pabutools(election: Election) -> None:
    _check("greedy")(election)


@MANY
@given(elections(cumulative=False))
def test_phragmen_agrees_with_pabutools(election: Election) -> None:
    _check("phragmen")(election)


@MANY
@given(any_elections(ordinal=False, zero_costs=True))
def test_mes_without_free_projects_agrees_with_pabutools_on_elections_with_free_projects(
    election: Election,
) -> None:
    """pabutools' MES buys a supported project costing nothing only if its supporters' utility
    is positive: never with cost utilities (approval, choose-1: the utility is the cost, 0),
    always with points (cumulative). Ours buys it by default and never with fund_free=False; the
    matching setting agrees with pabutools, and the two settings differ by exactly the
    supported free projects, bought first (buying something free moves no money)."""
    election = _without_caps(election)
    like_pabutools = election.ballot_type is BallotType.CUMULATIVE
    for rule in ("mes", "mes-add1-exhaustive"):
        theirs = oracle(rule, election)
        ours = RULES[rule](election, tie_break=LEX, fund_free=like_pabutools).selected
        assert list(ours) == theirs
        free = {p.id for p in election.projects if p.cost == 0} & supported(election)
        funded = RULES[rule](election, tie_break=LEX).selected
        skipped = RULES[rule](election, tie_break=LEX, fund_free=False).selected
        assert set(funded[: len(free)]) == free
        assert funded[len(free) :] == skipped
