"""The Method of Equal Shares: hand-checked elections, the Assen golden result, properties.

Money in the small elections uses ``decimals=0`` so that one Add1 step is one money unit and the
arithmetic in the comments stays readable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from burgerbegroting.voting.tally import mes
from burgerbegroting.voting.tally.mes import (
    mes_add1,
    mes_add1_exhaustive,
    mes_add1_greedy,
    mes_rule,
)
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
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.voting.tally.strategies import elections as any_elections

Rule = Callable[..., Outcome]
ALL_RULES: tuple[Rule, ...] = (mes_rule, mes_add1, mes_add1_exhaustive, mes_add1_greedy)
LEX = TieBreak("lexicographic")
ASSEN = Path("/work/shared/data/pabulib/Netherlands_Assen_2024.pb")


def approval(
    budget: int, costs: dict[str, int], *ballots: str | tuple[str, ...], decimals: int = 0
) -> Election:
    """Approval election; a ballot is a string of one-letter ids ("" = empty) or a tuple of ids."""
    return Election(
        budget=budget,
        projects=tuple(Project(pid, cost) for pid, cost in costs.items()),
        ballots=tuple(Ballot(tuple(b)) for b in ballots),
        ballot_type=BallotType.APPROVAL,
        decimals=decimals,
    )


def step_detail(outcome: Outcome, project: str) -> dict[str, str]:
    return next(dict(s.detail) for s in outcome.steps if s.project == project)


def params(outcome: Outcome) -> dict[str, str]:
    return dict(outcome.parameters)


# --------------------------------------------------------------------------------------------
# Hand-checked elections.


def test_cheapest_price_per_unit_of_cost_wins_and_spent_supporters_lose() -> None:
    # Budget 90, three voters: 30 each.
    # Round 1: a (60) split over v1, v2 -> 30 each, rho = 30/60 = 1/2;
    #          b (30) paid by v1 alone -> rho = 30/30 = 1; c (30) by v3 -> rho = 1. a wins.
    # v1 and v2 are now broke, so b (only v1) is unaffordable although v1 could pay it at the
    # start: "supporters spent". Round 2: c at rho = 1.
    election = approval(90, {"a": 60, "b": 30, "c": 30}, "ab", "a", "c")
    outcome = mes_rule(election, tie_break=LEX)
    assert outcome.selected == ("a", "c")
    assert outcome.cost == 90
    assert dict(outcome.unselected) == {"b": Reason.SUPPORTERS_SPENT}
    assert step_detail(outcome, "a")["price_per_voter"] == "30/1"
    assert step_detail(outcome, "a")["effective_votes"] == "2/1"
    assert step_detail(outcome, "a")["paid_by"] == "2"
    assert params(outcome)["per_voter_budget"] == "30/1"


def test_a_supporter_short_of_money_pays_what_is_left_and_others_cover_the_rest() -> None:
    # Budget 100, four voters: 25 each. x (60) by v1..v3: 20 each, rho = 1/3.
    # y (20) by v1, v4: 10 each, rho = 1/2. x first; v1 keeps 5.
    # Round 2: y: an equal split would be 10 each, but v1 has 5; v1 pays 5, v4 pays 15.
    # Price per voter 15, effective votes 20/15 = 4/3.
    election = approval(100, {"x": 60, "y": 20}, "xy", "x", "x", "y")
    outcome = mes_rule(election, tie_break=LEX)
    assert outcome.selected == ("x", "y")
    y = step_detail(outcome, "y")
    assert y["price_per_voter"] == "15/1"
    assert y["effective_votes"] == "4/3"
    assert y["paid_by"] == "2"
    assert y["paid_everything_left"] == "1"


def test_projects_nobody_can_pay_get_insufficient_support_and_unvoted_no_support() -> None:
    # Budget 100, 2 voters with 50 each: a (80) has one supporter with 50 < 80.
    election = approval(100, {"a": 80, "b": 10, "z": 5}, "a", "b")
    outcome = mes_rule(election, tie_break=LEX)
    assert outcome.selected == ("b",)
    assert dict(outcome.unselected) == {
        "a": Reason.INSUFFICIENT_SUPPORT,
        "z": Reason.NO_SUPPORT,
    }


def test_equal_prices_follow_the_tie_break_order() -> None:
    # Two voters with 10 each; "9" and "10" both cost 20 and are approved by both: equal rho.
    # Only one can be paid. Lexicographic compares strings, so "10" < "9" wins.
    election = approval(20, {"9": 20, "10": 20}, ("9", "10"), ("9", "10"))
    assert mes_rule(election, tie_break=LEX).selected == ("10",)
    explicit = TieBreak("explicit", explicit=("9", "10"))
    assert mes_rule(election, tie_break=explicit).selected == ("9",)


def test_cumulative_ballots_pay_in_proportion_to_points() -> None:
    # Two voters with 6 each. v1 gives p 3 points and q 1; v2 the reverse.
    # Round 1: p: rho = 6 / (3 + 1) = 3/2 per point, v1 pays 4.5, v2 pays 1.5; q the same: tie,
    # lexicographic -> p. Left: v1 1.5, v2 4.5. Round 2: q: rho = 3/2 again (v1 pays 1.5 = all
    # it has, v2 pays 4.5): both funded.
    election = Election(
        budget=12,
        projects=(Project("p", 6), Project("q", 6)),
        ballots=(Ballot(("p", "q"), (3, 1)), Ballot(("p", "q"), (1, 3))),
        ballot_type=BallotType.CUMULATIVE,
        decimals=0,
    )
    outcome = mes_rule(election, tie_break=LEX)
    assert outcome.selected == ("p", "q")
    assert step_detail(outcome, "p")["price_per_point"] == "3/2"
    assert step_detail(outcome, "q")["price_per_point"] == "3/2"
    # Effective support: the points that pay the cost in full at that price, 6 / (3/2) = 4 (as
    # effective votes are cost / price per voter on approval ballots).
    assert step_detail(outcome, "p")["effective_points"] == "4/1"


def test_add1_raises_the_share_until_the_next_step_would_overspend() -> None:
    # Budget 100, 3 voters (33 1/3 each): a (60) by v1, b (60) by v2, c (30) by v3.
    # Start: only c is affordable. From 60 per voter on (k = 27: 100/3 + 27 = 60 1/3) a, b and
    # c would all be bought (150 > 100), so Add1 keeps k = 26: {c}, per voter 100/3 + 26 = 178/3.
    election = approval(100, {"a": 60, "b": 60, "c": 30}, "a", "b", "c")
    outcome = mes_add1(election, tie_break=LEX)
    assert outcome.selected == ("c",)
    assert params(outcome)["add1_steps"] == "26"
    assert params(outcome)["per_voter_budget"] == "178/3"
    # Greedy completion then takes a (ties in votes go lexicographically; 60 fits in 70) but
    # not b (60 > 10 left).
    completed = mes_add1_greedy(election, tie_break=LEX)
    assert completed.selected == ("c", "a")
    assert completed.cost == 90
    assert dict(completed.unselected) == {"b": Reason.DOES_NOT_FIT}


def test_real_add1_goes_past_the_first_exhaustive_outcome_pabutools_add1_stops_there() -> None:
    # Budget 100, 4 voters (25 each): a (60) by v1, v2; b (40) by v3; c (45) by v4.
    # At 40 per voter (k = 15) a and b are bought: cost 100, nothing else fits (exhaustive):
    # pabutools' Add1 stops. Real Add1 continues while the outcome fits: at 45 (k = 20) c is
    # bought too (145 > 100), so it stops at k = 19 with the same two projects.
    election = approval(100, {"a": 60, "b": 40, "c": 45}, "a", "a", "b", "c")
    exhaustive = mes_add1_exhaustive(election, tie_break=LEX)
    real = mes_add1(election, tie_break=LEX)
    assert exhaustive.selected == real.selected == ("a", "b")
    assert params(exhaustive)["add1_steps"] == "15"
    assert params(real)["add1_steps"] == "19"


def test_add1_steps_are_whole_currency_units() -> None:
    # Same election in cents (decimals=2): steps of 100 cents, so the same number of steps.
    election = approval(10000, {"a": 6000, "b": 6000, "c": 3000}, "a", "b", "c", decimals=2)
    outcome = mes_add1(election, tie_break=LEX)
    assert params(outcome)["add1_steps"] == "26"
    assert params(outcome)["add1_increment"] == "100"


def test_ordinal_ballots_are_refused_with_a_clear_error() -> None:
    election = Election(
        budget=10,
        projects=(Project("a", 5),),
        ballots=(Ballot(("a",)),),
        ballot_type=BallotType.ORDINAL,
    )
    for rule in ALL_RULES:
        with pytest.raises(TallyError, match="ordinal"):
            rule(election, tie_break=LEX)


def test_caps_are_refused_rather_than_silently_ignored() -> None:
    election = Election(
        budget=10,
        projects=(Project("a", 5, theme="t"),),
        ballots=(Ballot(("a",)),),
        ballot_type=BallotType.APPROVAL,
        caps=(Cap(CapKind.THEME, "t", 3),),
    )
    with pytest.raises(TallyError, match="caps"):
        mes_rule(election, tie_break=LEX)


def test_a_ballot_naming_an_unknown_project_is_refused_by_name() -> None:
    approve = approval(10, {"a": 5}, "a", ("a", "zz"))
    cumulative = Election(
        budget=10,
        projects=(Project("a", 5),),
        ballots=(Ballot(("a", "zz"), (1, 2)),),
        ballot_type=BallotType.CUMULATIVE,
    )
    for election in (approve, cumulative):
        for rule in ALL_RULES:
            with pytest.raises(TallyError, match="'zz', which is not on the ballot"):
                rule(election, tie_break=LEX)


def test_free_supported_projects_are_funded_and_unsupported_ones_never() -> None:
    election = approval(10, {"a": 0, "b": 0, "c": 10}, "ac", "c")
    outcome = mes_rule(election, tie_break=LEX)
    assert outcome.selected == ("a", "c")
    assert dict(outcome.unselected) == {"b": Reason.NO_SUPPORT}


def test_an_election_without_ballots_funds_nothing() -> None:
    election = approval(10, {"a": 5})
    for rule in ALL_RULES:
        assert rule(election, tie_break=LEX).selected == ()


# --------------------------------------------------------------------------------------------
# The real Assen 2024 election (Method of Equal Shares with Add1).


def load_pabulib(path: Path) -> Election:
    from burgerbegroting.voting.tally.pabulib import read_pabulib

    return read_pabulib(path.read_text(encoding="utf-8-sig")).election


def test_assen_2024_official_winners_are_reproduced_by_mes_add1() -> None:
    election = load_pabulib(ASSEN)
    official: set[str] = set()
    projects_section = ASSEN.read_text(encoding="utf-8-sig").split("PROJECTS")[1].split("VOTES")[0]
    rows = [line.split(";") for line in projects_section.strip().splitlines()]
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("selected")] == "1":
            official.add(row[header.index("project_id")])
    outcome = mes_add1(election, tie_break=LEX)
    assert set(outcome.selected) == official
    assert len(outcome.selected) == len(official) == 9
    assert outcome.cost <= outcome.budget


# --------------------------------------------------------------------------------------------
# Properties on generated elections.

IDS = ("p1", "p2", "p3", "p4", "p5", "p6")


@st.composite
def elections(draw: st.DrawFn, *, cumulative: bool | None = None) -> Election:
    n_projects = draw(st.integers(1, 6))
    ids = IDS[:n_projects]
    costs = draw(st.lists(st.integers(1, 60), min_size=n_projects, max_size=n_projects))
    budget = draw(st.integers(1, 150))
    is_cumulative = draw(st.booleans()) if cumulative is None else cumulative
    ballots = []
    for _ in range(draw(st.integers(1, 7))):
        chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=n_projects))
        weight = draw(st.integers(1, 3))
        if is_cumulative:
            pts = draw(st.lists(st.integers(1, 4), min_size=len(chosen), max_size=len(chosen)))
            ballots.append(Ballot(tuple(chosen), tuple(pts), weight))
        else:
            ballots.append(Ballot(tuple(chosen), (), weight))
    return Election(
        budget=budget,
        projects=tuple(Project(pid, c) for pid, c in zip(ids, costs, strict=True)),
        ballots=tuple(ballots),
        ballot_type=BallotType.CUMULATIVE if is_cumulative else BallotType.APPROVAL,
        decimals=0,
    )


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(elections(), st.sampled_from(ALL_RULES))
def test_every_outcome_fits_the_budget_and_adds_up(election: Election, rule: Rule) -> None:
    outcome = rule(election, tie_break=LEX)
    costs = {p.id: p.cost for p in election.projects}
    assert outcome.cost == sum(costs[p] for p in outcome.selected)
    assert outcome.cost <= election.budget
    assert len(set(outcome.selected)) == len(outcome.selected)
    assert {p for p, _ in outcome.unselected} | set(outcome.selected) == set(costs)
    supported = {p for b in election.ballots for p in b.projects}
    assert set(outcome.selected) <= supported


def _voters(election: Election) -> list[Ballot]:
    return [Ballot(b.projects, b.points) for b in election.ballots for _ in range(b.weight)]


@FAST
@given(elections(cumulative=False))
def test_mes_satisfies_ejr_up_to_one_project(election: Election) -> None:
    # EJR up to one (cost utilities): for every set T of projects and the voters S approving all
    # of T with |S| * B / n >= cost(T), some voter in S has u(W) >= u(T) or would exceed u(T)
    # with one more project of T. Equivalently, the voters of S failing that must be fewer
    # than needed to be cohesive for T on their own.
    outcome = mes_rule(election, tie_break=LEX)
    voters = _voters(election)
    n = len(voters)
    cost = {p.id: p.cost for p in election.projects}
    won = set(outcome.selected)
    for size in range(1, len(cost) + 1):
        for group in combinations(cost, size):
            t_cost = sum(cost[p] for p in group)
            failing = 0
            for ballot in voters:
                if not set(group) <= set(ballot.projects):
                    continue
                u_w = sum(cost[p] for p in won if p in ballot.projects)
                satisfied = u_w >= t_cost or any(
                    u_w + cost[p] > t_cost for p in group if p not in won
                )
                failing += not satisfied
            assert failing * election.budget < t_cost * n, (group, outcome.selected)


@FAST
@given(elections())
def test_mes_trace_is_a_priceability_certificate(election: Election) -> None:
    # Replaying the prices in the trace: every voter starts with B/n, a supporter pays
    # min(money left, price * utility) for each funded project in order. Then
    # (1) each funded project is paid exactly, (2) nobody pays more than their share or for a
    # project they did not support, (3) no unfunded project's supporters have its cost left.
    outcome = mes_rule(election, tie_break=LEX)
    voters = _voters(election)
    share = Fraction(election.budget, len(voters))
    cost = {p.id: p.cost for p in election.projects}
    cumulative = election.ballot_type is BallotType.CUMULATIVE

    def utility(ballot: Ballot, pid: str) -> int:
        if cumulative:
            return sum(pt for q, pt in zip(ballot.projects, ballot.points, strict=True) if q == pid)
        return 1 if pid in ballot.projects else 0

    left = [share] * len(voters)
    for pid in outcome.selected:
        detail = step_detail(outcome, pid)
        unit = Fraction(detail["price_per_point" if cumulative else "price_per_voter"])
        paid = Fraction(0)
        for i, ballot in enumerate(voters):
            pay = min(left[i], unit * utility(ballot, pid))
            assert pay >= 0
            left[i] -= pay
            paid += pay
        assert paid == cost[pid]
    assert all(money >= 0 for money in left)
    for pid, price in cost.items():
        if pid not in outcome.selected:
            supporters_money = sum(
                (m for m, b in zip(left, voters, strict=True) if utility(b, pid) > 0), Fraction(0)
            )
            assert supporters_money < price or not any(utility(b, pid) for b in voters)


@FAST
@given(elections(), st.sampled_from(ALL_RULES), st.randoms(use_true_random=False))
def test_shuffling_and_splitting_ballots_changes_nothing(
    election: Election, rule: Rule, rnd: random.Random
) -> None:
    voters = _voters(election)
    rnd.shuffle(voters)
    shuffled = Election(
        budget=election.budget,
        projects=election.projects,
        ballots=tuple(voters),
        ballot_type=election.ballot_type,
        decimals=0,
    )
    first = rule(election, tie_break=LEX)
    second = rule(shuffled, tie_break=LEX)
    assert first.selected == second.selected
    assert first.parameters == second.parameters
    assert first.steps == second.steps


@FAST
@given(elections(), st.sampled_from(ALL_RULES), st.randoms(use_true_random=False))
def test_renaming_projects_with_the_tie_break_order_renamed_changes_nothing(
    election: Election, rule: Rule, rnd: random.Random
) -> None:
    ids = [p.id for p in election.projects]
    order = ids[:]
    rnd.shuffle(order)
    new_names = [f"x{i}" for i in range(len(ids))]
    rnd.shuffle(new_names)
    rename = dict(zip(ids, new_names, strict=True))
    renamed = Election(
        budget=election.budget,
        projects=tuple(Project(rename[p.id], p.cost) for p in election.projects),
        ballots=tuple(
            Ballot(tuple(rename[p] for p in b.projects), b.points, b.weight)
            for b in election.ballots
        ),
        ballot_type=election.ballot_type,
        decimals=0,
    )
    first = rule(election, tie_break=TieBreak("explicit", explicit=tuple(order)))
    second = rule(renamed, tie_break=TieBreak("explicit", explicit=tuple(rename[p] for p in order)))
    assert tuple(rename[p] for p in first.selected) == second.selected
    assert first.parameters == second.parameters


@FAST
@given(elections(), st.sampled_from(ALL_RULES))
def test_counting_twice_gives_the_same_outcome(election: Election, rule: Rule) -> None:
    assert rule(election, tie_break=LEX) == rule(election, tie_break=LEX)


def _both_ways(
    election: Election, *, exhaustive: bool
) -> tuple[tuple[mes._Run, int], tuple[mes._Run, int]]:
    prep = mes._prepare(election, LEX)
    unit = 10**election.decimals
    fast = mes._add1(prep, unit, exhaustive=exhaustive, progress=None)
    reference = mes._add1_step_by_one(prep, unit, exhaustive=exhaustive)
    return fast, reference


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([BallotType.APPROVAL, BallotType.CUMULATIVE, BallotType.CHOOSE1]).flatmap(
        lambda kind: any_elections(
            ballot_type=kind, max_projects=6, max_ballots=10, max_cost=40, zero_costs=True
        )
    ),
    st.booleans(),
)
def test_add1_with_skipping_equals_stepping_one_unit_at_a_time(
    election: Election, exhaustive: bool
) -> None:
    # Costs up to 40 with budgets up to 150 give many equal prices: ties decided by the
    # tie-break order must come out the same both ways too.
    if not election.ballots:
        return
    (fast, k), (reference, k_ref) = _both_ways(election, exhaustive=exhaustive)
    assert k == k_ref
    assert fast.purchases == reference.purchases  # same projects, order and prices
    assert fast.removed == reference.removed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_add1_with_skipping_equals_stepping_on_larger_tied_elections(data: st.DataObject) -> None:
    """Many voters with few distinct ballots and costs in steps of 10: stable stretches (where
    skipping happens) and exact ties between prices."""
    kind = data.draw(st.sampled_from([BallotType.APPROVAL, BallotType.CUMULATIVE]))
    n = data.draw(st.integers(2, 8))
    ids = [f"p{i}" for i in range(n)]
    projects = tuple(Project(pid, 10 * data.draw(st.integers(1, 12))) for pid in ids)
    ballots = []
    for _ in range(data.draw(st.integers(1, 12))):
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=n, unique=True))
        points = (
            tuple(data.draw(st.integers(1, 3)) for _ in chosen)
            if kind is BallotType.CUMULATIVE
            else ()
        )
        ballots.append(Ballot(tuple(chosen), points, data.draw(st.integers(1, 40))))
    budget = data.draw(st.integers(0, sum(p.cost for p in projects)))
    election = Election(budget, projects, tuple(ballots), kind, decimals=0)
    (fast, k), (reference, k_ref) = _both_ways(election, exhaustive=data.draw(st.booleans()))
    assert (fast.purchases, k) == (reference.purchases, k_ref)


@pytest.mark.parametrize("name", ["Netherlands_Assen_2024.pb", "Poland_Gdansk_2020_Jasien.pb"])
def test_add1_with_skipping_equals_stepping_on_real_files_and_skips_runs(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from burgerbegroting.voting.tally.pabulib import read_election

    _, election = read_election(Path("/work/shared/data/pabulib") / name)
    (fast, k), (reference, k_ref) = _both_ways(election, exhaustive=False)
    assert (fast.purchases, k) == (reference.purchases, k_ref)
    runs = 0
    real_run = mes._run_mes

    def counting(*args: object, **kwargs: object) -> mes._Run:
        nonlocal runs
        runs += 1
        return real_run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mes, "_run_mes", counting)
    mes_add1(election, tie_break=LEX)
    # Assen takes 843 one-euro steps, Gdańsk 323 one-zloty steps: most are certified at once.
    assert runs < k_ref // 2


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elections(), st.data())
def test_a_certified_run_has_the_same_purchases_at_every_budget_in_between(
    election: Election, data: st.DataObject
) -> None:
    """The certificate Add1 relies on, checked at many budgets between the two runs (not only
    whole steps): if it says the outcome is stable on [t0, t1], MES buys the same projects in
    the same order at every t in between."""
    prep = mes._prepare(election, LEX)
    n = prep.voters
    t0 = Fraction(data.draw(st.integers(0, 200)), data.draw(st.integers(1, 7)))
    t1 = t0 + Fraction(data.draw(st.integers(1, 400)), data.draw(st.integers(1, 7)))
    first = mes._run_mes(prep, t0.numerator * 1, t0.denominator)
    second = mes._run_mes(prep, t1.numerator, t1.denominator, previous=first)
    if not second.certified:
        return
    order = [b.project for b in first.purchases]
    assert [b.project for b in second.purchases] == order
    for i in range(1, 16):
        t = t0 + (t1 - t0) * i / 16
        between = mes._run_mes(prep, t.numerator, t.denominator)
        assert [b.project for b in between.purchases] == order, (t, n)


# a costs nothing and two voters want it; b (50) is wanted by two voters, c (60) by one.
FREE = approval(100, {"a": 0, "b": 50, "c": 60}, "ab", "b", "ca")


@pytest.mark.parametrize("rule", [mes_rule, mes_add1, mes_add1_exhaustive])
def test_a_wanted_free_project_is_funded_unless_told_to_skip_it_like_pabutools(
    rule: Rule,
) -> None:
    funded = rule(FREE, tie_break=LEX)
    assert funded.selected[0] == "a"
    assert params(funded)["fund_free"] == "true"
    skipped = rule(FREE, tie_break=LEX, fund_free=False)
    assert "a" not in skipped.selected
    assert dict(skipped.unselected)["a"] is Reason.FREE_NOT_FUNDED
    assert params(skipped)["fund_free"] == "false"
    assert funded.selected[1:] == skipped.selected
