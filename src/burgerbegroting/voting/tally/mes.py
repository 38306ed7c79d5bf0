"""The Method of Equal Shares (MES) and its completions, counted exactly and fast.

Definition (Peters & Skowron; equalshares.net). Every voter receives an equal share of the
budget. A project costing ``c`` can be bought by its supporters if together they still hold at
least ``c``. Among the affordable projects MES buys the one whose *price per unit of utility*
``rho`` is lowest, where ``rho`` is the smallest number such that the supporters, each paying
``min(own money, rho * utility)``, together pay exactly ``c``. Supporters pay and the process
repeats until no project is affordable.

Utilities follow pabutools 1.2.3 so that both tools count the same:
- approval and choose-1 ballots: *cost utilities*, a supporter's utility of a project is its
  cost. Then ``rho * cost`` is the price a supporter with enough money pays (the "price per
  voter") and ``cost / price`` is the project's *effective vote count*;
- cumulative ballots: the points the voter gave the project (pabutools'
  ``Additive_Cardinal_Sat``); ``rho`` is then a price per point.
Ordinal ballots have no utilities MES could use: they are refused with a ``TallyError``.

Exactness without fraction arithmetic in the hot loop. Voters who cast the same ballot are
grouped. All voters with the same amount of money left share a *money level*; the level values
are kept as integers over one common denominator ``D`` that is enlarged (and every level
rescaled) whenever a purchase introduces a new denominator. Each project keeps a histogram
{level: weight} of its supporters, updated only for the ballots that just paid. Computing a
project's price therefore touches its distinct money levels, not its voters, and every decision
is an exact integer comparison. A project's price can only rise from round to round (its
supporters only lose money), so candidates are visited in order of their previous price and
the scan stops as soon as that lower bound exceeds the best price found (equalshares.net).

Add1 completions rerun MES with a larger per-voter budget; budgets grow in steps of one whole
currency unit of the election (``10 ** decimals`` money units: 1 zloty for a pabulib file in
PLN, 1 euro for our own rounds counted in cents).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from burgerbegroting.voting.tally.model import (
    BallotType,
    Election,
    Outcome,
    Reason,
    Step,
    TallyError,
)
from burgerbegroting.voting.tally.tiebreak import TieBreak

Progress = Callable[[int, int], None]

__all__ = ["mes_add1", "mes_add1_exhaustive", "mes_add1_greedy", "mes_rule"]


# --------------------------------------------------------------------------------------------
# Preparation: everything that does not depend on the per-voter budget, computed once.


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The election reduced to integer arrays indexed by project and by distinct ballot."""

    ids: tuple[str, ...]
    costs: tuple[int, ...]
    budget: int
    voters: int  # total weight of all ballots, empty ones included (pabutools' n)
    cumulative: bool
    key_base: int  # histogram key = level * key_base + utility (approval: key_base 1, utility 0)
    sort_scale: int  # lcm of the point values: money * sort_scale // points is an exact sort key
    group_weight: tuple[int, ...]
    group_items: tuple[tuple[int, ...], ...]  # project indices on the distinct ballot
    group_utils: tuple[tuple[int, ...], ...]  # aligned utilities (approval: all 1)
    supporters: tuple[tuple[int, ...], ...]  # per project: the distinct ballots naming it
    support: tuple[int, ...]  # per project: number of voters (weights) naming it
    points: tuple[int, ...]  # per project: total utility units (approval: = support)
    initial_hist: tuple[tuple[tuple[int, int], ...], ...]  # per project: (utility, weight)
    rank: tuple[int, ...]  # per project: position in the tie-break order (0 = first)
    order: tuple[str, ...]


def _prepare(election: Election, tie_break: TieBreak) -> _Prepared:
    if election.ballot_type is BallotType.ORDINAL:
        raise TallyError(
            "The Method of Equal Shares needs approval, choose-1 or cumulative ballots; "
            "ranked (ordinal) ballots carry no utilities it could use. Count them with greedy."
        )
    if election.caps:
        raise TallyError(
            "The Method of Equal Shares does not support theme or district caps; "
            "remove the caps or count with greedy."
        )
    ids = tuple(p.id for p in election.projects)
    index = {pid: i for i, pid in enumerate(ids)}
    if len(index) != len(ids):
        raise TallyError("Project ids must be unique.")
    for project in election.projects:
        if project.cost < 0:
            raise TallyError(f"Project {project.id!r} has a negative cost.")
    if election.budget < 0:
        raise TallyError("The budget must not be negative.")
    cumulative = election.ballot_type is BallotType.CUMULATIVE
    # Identical ballots are counted once with their total weight: first on the raw ids (cheap),
    # then on the canonical form (the same ballot may list its projects in another order).
    raw: dict[tuple[tuple[str, ...], tuple[int, ...]], int] = {}
    voters = 0
    for ballot in election.ballots:
        if ballot.weight < 0:
            raise TallyError("A ballot weight must not be negative.")
        voters += ballot.weight
        raw_key = (ballot.projects, ballot.points)
        raw[raw_key] = raw.get(raw_key, 0) + ballot.weight
    groups: dict[tuple[tuple[int, int], ...], int] = {}
    for (raw_projects, raw_points), weight in raw.items():
        key = _ballot_key(raw_projects, raw_points, index, cumulative)
        if key and weight:
            groups[key] = groups.get(key, 0) + weight
    group_weight: list[int] = []
    group_items: list[tuple[int, ...]] = []
    group_utils: list[tuple[int, ...]] = []
    supporters: list[list[int]] = [[] for _ in ids]
    support = [0] * len(ids)
    points = [0] * len(ids)
    hist: list[dict[int, int]] = [{} for _ in ids]
    point_values: set[int] = set()
    for g, (key, weight) in enumerate(groups.items()):
        group_weight.append(weight)
        group_items.append(tuple(p for p, _ in key))
        group_utils.append(tuple(u for _, u in key))
        for p, u in key:
            supporters[p].append(g)
            support[p] += weight
            points[p] += weight * u
            hist[p][u] = hist[p].get(u, 0) + weight
            point_values.add(u)
    max_util = max(point_values, default=1)
    order = tie_break.order(election)
    if sorted(order) != sorted(ids):
        raise TallyError("The tie-break order must list every project exactly once.")
    position = {pid: i for i, pid in enumerate(order)}
    return _Prepared(
        ids=ids,
        costs=tuple(p.cost for p in election.projects),
        budget=election.budget,
        voters=voters,
        cumulative=cumulative,
        key_base=max_util + 1 if cumulative else 1,
        sort_scale=math.lcm(*point_values) if cumulative and point_values else 1,
        group_weight=tuple(group_weight),
        group_items=tuple(group_items),
        group_utils=tuple(group_utils),
        supporters=tuple(tuple(s) for s in supporters),
        support=tuple(support),
        points=tuple(points),
        initial_hist=tuple(tuple(sorted(h.items())) for h in hist),
        rank=tuple(position[pid] for pid in ids),
        order=order,
    )


def _ballot_key(
    projects: tuple[str, ...], points: tuple[int, ...], index: dict[str, int], cumulative: bool
) -> tuple[tuple[int, int], ...]:
    """A canonical form of one ballot: sorted (project index, utility) pairs.

    Approval ballots count a project named twice once (the documented policy); cumulative
    points given twice to one project are added up; zero or negative points are no support.
    """
    utilities: dict[int, int] = {}
    if cumulative:
        if len(points) != len(projects):
            raise TallyError("A cumulative ballot needs one points value per project.")
        for pid, pts in zip(projects, points, strict=True):
            p = _project_index(index, pid)
            utilities[p] = utilities.get(p, 0) + pts
        return tuple(sorted((p, u) for p, u in utilities.items() if u > 0))
    for pid in projects:
        utilities[_project_index(index, pid)] = 1
    return tuple(sorted(utilities.items()))


def _project_index(index: dict[str, int], pid: str) -> int:
    try:
        return index[pid]
    except KeyError:
        raise TallyError(f"A ballot names project {pid!r}, which is not on the ballot.") from None


# --------------------------------------------------------------------------------------------
# One run of MES for one per-voter budget.
#
# Besides the outcome, a run can report how far the per-voter budget ``t`` may grow before the
# outcome could change (the idea of ADD-OPT in Kraiczy, Robinson & Elkind, "Streamlining Equal
# Shares", 2025, implemented here on our own). While the run's combinatorial structure stays the
# same (who pays in full, who pays all they have left, which project wins each round), every
# amount of money in it is an affine function of ``t``: a money level is ``value + slope * x``
# with ``x = t - t0``. Every decision the run took is a sign condition ``g0 + g1 * x >= 0`` that
# holds at ``x = 0``; the outcome is the same for all ``x`` below the smallest root
# ``g0 / -g1`` of a condition with ``g1 < 0``. Conditions recorded:
# - each supporter in a price computation stays on its side (pays in full / pays all it has);
# - every project found unaffordable stays unaffordable;
# - the winner of each round stays at least as cheap as every other project priced in that round
#   and strictly cheaper than the lower bound of every project the scan skipped.
# These conditions are sufficient, not necessary: the search may stop earlier than needed, which
# costs a rerun, never a wrong result.


@dataclass(frozen=True, slots=True)
class _Purchase:
    project: int
    round: int
    rho: Fraction  # price per unit of utility, in money units (approval: price / cost)
    payers: int  # voters who paid something
    paid_all: int  # of whom this many paid all the money they had left


@dataclass(frozen=True, slots=True)
class _Run:
    selected: tuple[int, ...]
    purchases: tuple[_Purchase, ...]
    removed: tuple[tuple[int, int, Fraction], ...]  # (project, round, money its supporters had)
    cost: int
    stable_for: Fraction | None = None  # outcome unchanged for t in [t0, t0 + stable_for)


class _Horizon:
    """The smallest root ``g0 / -g1`` over the recorded conditions, kept as an exact ratio."""

    __slots__ = ("den", "num")

    def __init__(self) -> None:
        self.num = 1
        self.den = 0  # 1/0: no condition yet, the outcome never changes

    def keep(self, g0: int, g1: int) -> None:
        if g1 < 0 and (self.den == 0 or g0 * self.den < self.num * -g1):
            self.num, self.den = g0, -g1

    def value(self) -> Fraction | None:
        return None if self.den == 0 else Fraction(max(self.num, 0), self.den)


# A price as an affine function of x, over a positive integer: (a + b * x) / m.
_Affine = tuple[int, int, int]


def _empty_run() -> _Run:
    return _Run((), (), (), 0)


def _run_mes(prep: _Prepared, start_num: int, start_den: int, *, track: bool = False) -> _Run:
    """MES with every voter starting at ``start_num / start_den`` money units."""
    n_projects = len(prep.ids)
    costs = prep.costs
    base = prep.key_base
    cumulative = prep.cumulative
    group_items = prep.group_items
    group_utils = prep.group_utils
    group_weight = prep.group_weight
    rank = prep.rank
    horizon = _Horizon() if track else None

    # Money levels: value[level] is the money of a voter at that level, times the common
    # denominator ``denom``; slope[level] its derivative in t (times ``denom``). Level 0 is "no
    # money left"; zero-money supporters are left out of the histograms because they can
    # neither pay nor change a price.
    denom = start_den
    value: list[int] = [0, start_num]
    slope: list[int] = [0, start_den]
    level = [1] * len(group_weight)
    active = [False] * n_projects
    hist: list[dict[int, int]] = [{} for _ in range(n_projects)]
    stale: list[Fraction] = [Fraction(0)] * n_projects
    stale_affine: list[_Affine] = [(0, 0, 1)] * n_projects

    selected: list[int] = []
    purchases: list[_Purchase] = []
    removed: list[tuple[int, int, Fraction]] = []
    cost = 0
    # Supported projects that cost nothing are bought first, as pabutools does.
    free = sorted(
        (p for p in range(n_projects) if prep.support[p] and costs[p] == 0), key=rank.__getitem__
    )
    for p in free:
        selected.append(p)
        purchases.append(_Purchase(p, 0, Fraction(0), 0, 0))
    for p in range(n_projects):
        if not prep.support[p] or costs[p] == 0:
            continue
        if start_num <= 0:
            removed.append((p, 0, Fraction(0)))
            continue
        active[p] = True
        hist[p] = {base + (u if cumulative else 0): w for u, w in prep.initial_hist[p]}
        # The price if nobody were short of money: a lower bound for every later round.
        low = (costs[p], prep.points[p]) if cumulative else (1, prep.support[p])
        stale[p] = Fraction(*low)
        stale_affine[p] = (low[0], 0, low[1])

    round_no = 0
    candidates = [p for p in range(n_projects) if active[p]]
    while candidates:
        round_no += 1
        candidates.sort(key=lambda p: (stale[p], rank[p]))
        best: Fraction | None = None
        priced: list[tuple[int, _Price]] = []
        skipped: list[int] = []
        still: list[int] = []
        for pos, p in enumerate(candidates):
            if best is not None and stale[p] > best:
                skipped = candidates[pos:]
                still.extend(skipped)
                break
            price = _price(
                prep, p=p, h=hist[p], value=value, slope=slope, denom=denom, horizon=horizon
            )
            if price is None:
                active[p] = False
                money = Fraction(sum(w * value[k // base] for k, w in hist[p].items()), denom)
                removed.append((p, round_no, money))
                continue
            still.append(p)
            scale = 1 if cumulative else costs[p]
            rho = Fraction(price.num, price.den_u * denom * scale)
            stale[p] = rho
            stale_affine[p] = (price.num, price.num_slope, price.den_u * denom * scale)
            priced.append((p, price))
            if best is None or rho < best:
                best = rho
        if best is None:
            break
        s, chosen = min(((p, pr) for p, pr in priced if stale[p] == best), key=lambda t: rank[t[0]])
        if horizon is not None:
            a_s, b_s, m_s = stale_affine[s]
            for p, _ in priced:
                if p != s:
                    a, b, m = stale_affine[p]
                    horizon.keep(a * m_s - a_s * m, b * m_s - b_s * m)
            for p in skipped:
                # Strictly above the winner, or a tie could hand this project the round.
                a, b, m = stale_affine[p]
                horizon.keep(a * m_s - a_s * m, b * m_s - b_s * m)
        candidates = [p for p in still if p != s]
        active[s] = False
        selected.append(s)
        cost += costs[s]
        purchases.append(_Purchase(s, round_no, best, chosen.payers, chosen.paid_all))

        # Pay: a supporter at money ``b`` with utility ``u`` pays min(b, num * u / den_u).
        # Enlarge the common denominator so that every new money level is an integer again.
        num, num_slope, den_u = chosen.num, chosen.num_slope, chosen.den_u
        factor = den_u // math.gcd(num, den_u)
        if track:
            factor = math.lcm(factor, den_u // math.gcd(num_slope, den_u))
        if factor != 1:
            denom *= factor
            value = [v * factor for v in value]
            if track:
                slope = [v * factor for v in slope]
        unit_price = num * factor // den_u
        unit_slope = num_slope * factor // den_u
        moves: dict[int, int] = {}  # old histogram key of s -> new level
        seen: dict[tuple[int, int], int] = {}
        for key in hist[s]:
            old_level, u = divmod(key, base)
            u = max(u, 1)
            rest = value[old_level] - unit_price * u
            rest_slope = slope[old_level] - unit_slope * u if track else 0
            # Paying exactly all one has leaves no money now but, when tracking, still some
            # for a larger budget: such a voter keeps a level of its own with value 0.
            if rest < 0 or (rest == 0 and rest_slope == 0):
                moves[key] = 0
                continue
            new_level = seen.get((rest, rest_slope))
            if new_level is None:
                new_level = len(value)
                value.append(rest)
                slope.append(rest_slope)
                seen[rest, rest_slope] = new_level
            moves[key] = new_level
        hist[s] = {}
        for g in prep.supporters[s]:
            old = level[g]
            if old == 0:
                continue
            items = group_items[g]
            w = group_weight[g]
            if cumulative:
                utils = group_utils[g]
                new = moves[old * base + utils[items.index(s)]]
                level[g] = new
                for p, u in zip(items, utils, strict=True):
                    if active[p]:
                        h = hist[p]
                        k_old = old * base + u
                        left = h[k_old] - w
                        if left:
                            h[k_old] = left
                        else:
                            del h[k_old]
                        if new:
                            k_new = new * base + u
                            h[k_new] = h.get(k_new, 0) + w
            else:
                new = moves[old]
                level[g] = new
                for p in items:
                    if active[p]:
                        h = hist[p]
                        left = h[old] - w
                        if left:
                            h[old] = left
                        else:
                            del h[old]
                        if new:
                            h[new] = h.get(new, 0) + w
    return _Run(
        tuple(selected),
        tuple(purchases),
        tuple(removed),
        cost,
        horizon.value() if horizon is not None else None,
    )


@dataclass(frozen=True, slots=True)
class _Price:
    num: int  # each supporter with enough money pays num * utility / den_u (over denom)
    num_slope: int  # derivative of num in t
    den_u: int
    payers: int
    paid_all: int


def _price(
    prep: _Prepared,
    *,
    p: int,
    h: dict[int, int],
    value: list[int],
    slope: list[int],
    denom: int,
    horizon: _Horizon | None,
) -> _Price | None:
    """The exact price of project ``p`` now, or None if its supporters cannot afford it."""
    base = prep.key_base
    need = prep.costs[p] * denom
    entries: list[tuple[int, int, int, int, int]]  # sort key, money, slope, utility, weight
    if prep.cumulative:
        scale = prep.sort_scale
        entries = []
        for k, w in h.items():
            lv, u = divmod(k, base)
            entries.append((value[lv] * scale // u, value[lv], slope[lv], u, w))
    else:
        entries = [(value[k], value[k], slope[k], 1, w) for k, w in h.items()]
    money = 0
    utility = 0
    payers = 0
    for _, b, _, u, w in entries:
        money += w * b
        utility += w * u
        payers += w
    if money < need:
        if horizon is not None:
            horizon.keep(need - money, -sum(w * s for _, _, s, _, w in entries))
        return None
    entries.sort()
    paid = 0
    paid_slope = 0
    paid_all = 0
    for poor, (_, b, s, u, w) in enumerate(entries):
        num = need - paid
        # Affordable at this price for everyone from here on (sorted by money / utility)?
        if num * u <= b * utility:
            if horizon is not None:
                num_slope = -paid_slope
                for pos, (_, b2, s2, u2, _) in enumerate(entries):
                    if pos < poor:  # pays all it has: b2 < rho * u2
                        horizon.keep(num * u2 - b2 * utility, num_slope * u2 - s2 * utility)
                    else:
                        horizon.keep(b2 * utility - num * u2, s2 * utility - num_slope * u2)
            return _Price(num, -paid_slope, utility, payers, paid_all)
        paid += w * b
        paid_slope += w * s
        utility -= w * u
        paid_all += w
    raise AssertionError("unreachable: enough money implies a price")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Outcomes and traces.


def _fraction(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _build_outcome(
    rule: str,
    *,
    election: Election,
    tie_break: TieBreak,
    prep: _Prepared,
    run: _Run,
    start: Fraction,
    add1_steps: int | None,
    completion: tuple[tuple[int, int], ...] = (),
) -> Outcome:
    """Turn a run (plus optional greedy completion: (project, remaining after)) into an Outcome."""
    steps: list[Step] = []
    reasons: dict[int, Reason] = {}
    for buy in run.purchases:
        p = buy.project
        cost = prep.costs[p]
        detail: list[tuple[str, str]] = [("round", str(buy.round))]
        if cost == 0:
            detail.append(("price_per_point" if prep.cumulative else "price_per_voter", "0/1"))
        elif prep.cumulative:
            detail += [
                ("price_per_point", _fraction(buy.rho)),
                ("effective_points", _fraction(1 / buy.rho)),
            ]
        else:
            price = buy.rho * cost
            detail += [
                ("price_per_voter", _fraction(price)),
                ("effective_votes", _fraction(cost / price)),
            ]
        detail += [
            ("paid_by", str(buy.payers)),
            ("paid_everything_left", str(buy.paid_all)),
            ("total_paid", str(cost)),
        ]
        steps.append(Step(prep.ids[p], Reason.SELECTED, prep.support[p], tuple(detail)))
    for p, round_no, money in run.removed:
        start_money = start * prep.support[p]
        reason = (
            Reason.INSUFFICIENT_SUPPORT if start_money < prep.costs[p] else Reason.SUPPORTERS_SPENT
        )
        reasons[p] = reason
        steps.append(
            Step(
                prep.ids[p],
                reason,
                prep.support[p],
                (
                    ("round", str(round_no)),
                    ("supporters_money_at_start", _fraction(start_money)),
                    ("supporters_money_left", _fraction(money)),
                    ("cost", str(prep.costs[p])),
                ),
            )
        )
    selected = list(run.selected)
    cost = run.cost
    for p, remaining in completion:
        selected.append(p)
        cost += prep.costs[p]
        steps.append(
            Step(
                prep.ids[p],
                Reason.SELECTED,
                prep.support[p],
                (
                    ("completion", "greedy"),
                    ("votes", str(prep.points[p])),
                    ("remaining", str(remaining)),
                ),
            )
        )
    chosen = set(selected)
    unselected: list[tuple[str, Reason]] = []
    for p in sorted(range(len(prep.ids)), key=prep.rank.__getitem__):
        if p in chosen:
            continue
        if prep.support[p] == 0:
            reason = Reason.NO_SUPPORT
            steps.append(Step(prep.ids[p], reason, 0, ()))
        elif completion or p not in reasons:
            # After a greedy pass every supported project left over was too expensive for the
            # remaining budget (MES itself had already passed it over, see its earlier step).
            reason = Reason.DOES_NOT_FIT
            steps.append(
                Step(prep.ids[p], reason, prep.support[p], (("cost", str(prep.costs[p])),))
            )
        else:
            reason = reasons[p]
        unselected.append((prep.ids[p], reason))
    parameters: list[tuple[str, str]] = [("per_voter_budget", _fraction(start))]
    if add1_steps is not None:
        parameters.append(("add1_steps", str(add1_steps)))
        parameters.append(("add1_increment", str(10**election.decimals)))
    return Outcome(
        rule=rule,
        selected=tuple(prep.ids[p] for p in selected),
        cost=cost,
        budget=election.budget,
        tie_break=tie_break.name,
        tie_break_order=prep.order,
        seed=tie_break.seed,
        steps=tuple(steps),
        unselected=tuple(unselected),
        parameters=tuple(parameters),
    )


# --------------------------------------------------------------------------------------------
# Public rules.


def _start(prep: _Prepared, extra_units: int, unit: int) -> tuple[int, int]:
    """Per-voter budget B/n + extra_units * unit as (numerator, denominator)."""
    n = max(prep.voters, 1)
    return prep.budget + extra_units * unit * n, n


def mes_rule(
    election: Election, *, tie_break: TieBreak, progress: Progress | None = None
) -> Outcome:
    """Method of Equal Shares without completion: each voter starts with budget / voters.

    Ties between projects with the same price per unit of utility go to the project that
    comes first in ``tie_break.order(election)``. The outcome may leave money unspent.
    """
    prep = _prepare(election, tie_break)
    num, den = _start(prep, 0, 1)
    run = _run_mes(prep, num, den) if prep.voters else _empty_run()
    if progress is not None:
        progress(1, 1)
    return _build_outcome(
        "mes",
        election=election,
        tie_break=tie_break,
        prep=prep,
        run=run,
        start=Fraction(num, den),
        add1_steps=None,
    )


def _everything(prep: _Prepared, run: _Run) -> bool:
    """True if the run bought every supported project: more money cannot change the set."""
    return len(run.selected) == sum(1 for s in prep.support if s)


def _exhaustive(prep: _Prepared, run: _Run) -> bool:
    """pabutools' test: no supported, non-free project left out would still fit the budget."""
    chosen = set(run.selected)
    left = prep.budget - run.cost
    return not any(
        prep.support[p] and prep.costs[p] > 0 and prep.costs[p] <= left
        for p in range(len(prep.ids))
        if p not in chosen
    )


def _add1(
    prep: _Prepared, unit: int, *, exhaustive: bool, progress: Progress | None
) -> tuple[_Run, int]:
    """Add1: the run kept and its number of increments ``k`` (per-voter budget B/n + k*unit).

    Steps at which the outcome provably equals the previous one (see ``_run_mes``) are not
    rerun: they would give the same projects at the same total cost, so they fit, and they are
    not exhaustive if the previous outcome was not.
    """
    k = 0
    run = _run_mes(prep, *_start(prep, 0, unit), track=True)
    # Tracking costs about a fifth more per run and pays off only where the outcome is stable
    # over several steps (small elections, large currency units). After a run that could not
    # skip anything, the next runs go untracked, more of them after each further failure.
    tracked = True
    untracked = 0
    misses = 0
    while not _everything(prep, run) and not (exhaustive and _exhaustive(prep, run)):
        jump = 1
        if tracked:
            if run.stable_for is None:  # nothing more money could change
                break
            jump = max(1, math.ceil(run.stable_for / unit))
            misses = misses + 1 if jump == 1 else 0
            untracked = min(2**misses, 32) - 1 if jump == 1 else 0
        else:
            untracked -= 1
        track = untracked == 0
        nxt = _run_mes(prep, *_start(prep, k + jump, unit), track=track)
        if nxt.cost > prep.budget:
            if jump > 1:
                # Same projects as ``run``; rerun only so the trace shows that step's prices.
                k += jump - 1
                run = _run_mes(prep, *_start(prep, k, unit))
            break
        k += jump
        run = nxt
        tracked = track
        if progress is not None:
            progress(k, 0)
    return run, k


def mes_add1(
    election: Election, *, tie_break: TieBreak, progress: Progress | None = None
) -> Outcome:
    """MES with Add1 completion as real elections use it (Assen 2024, Wieliczka, Świecie).

    Each voter starts with budget / voters; then the per-voter budget is raised by one whole
    currency unit at a time (``10 ** election.decimals`` money units) and MES is rerun. The
    last outcome whose total cost fits the budget is kept; the search stops as soon as the next
    one would not fit (or once every supported project is bought). Unlike pabutools, it does
    not stop at the first exhaustive outcome. Ties as in :func:`mes_rule`.
    """
    prep = _prepare(election, tie_break)
    unit = 10**election.decimals
    if not prep.voters:
        return _build_outcome(
            "mes-add1",
            election=election,
            tie_break=tie_break,
            prep=prep,
            run=_empty_run(),
            start=Fraction(0),
            add1_steps=0,
        )
    run, k = _add1(prep, unit, exhaustive=False, progress=progress)
    return _build_outcome(
        "mes-add1",
        election=election,
        tie_break=tie_break,
        prep=prep,
        run=run,
        start=Fraction(*_start(prep, k, unit)),
        add1_steps=k,
    )


def mes_add1_exhaustive(
    election: Election, *, tie_break: TieBreak, progress: Progress | None = None
) -> Outcome:
    """MES with pabutools' Add1 completion.

    Like :func:`mes_add1`, but the search also stops at the first outcome that is exhaustive
    (no supported project left out would still fit the remaining budget).
    """
    prep = _prepare(election, tie_break)
    unit = 10**election.decimals
    if not prep.voters:
        return _build_outcome(
            "mes-add1-exhaustive",
            election=election,
            tie_break=tie_break,
            prep=prep,
            run=_empty_run(),
            start=Fraction(0),
            add1_steps=0,
        )
    run, k = _add1(prep, unit, exhaustive=True, progress=progress)
    return _build_outcome(
        "mes-add1-exhaustive",
        election=election,
        tie_break=tie_break,
        prep=prep,
        run=run,
        start=Fraction(*_start(prep, k, unit)),
        add1_steps=k,
    )


def mes_add1_greedy(
    election: Election, *, tie_break: TieBreak, progress: Progress | None = None
) -> Outcome:
    """``mes-add1-exhaustive`` followed by greedy completion (equalshares.net's default).

    The greedy pass takes the remaining supported projects by decreasing votes (approvals, or
    points for cumulative ballots), ties in tie-break order, and funds each that still fits.
    Projects nobody supported are never funded.
    """
    prep = _prepare(election, tie_break)
    unit = 10**election.decimals
    if not prep.voters:
        return _build_outcome(
            "mes-add1-greedy",
            election=election,
            tie_break=tie_break,
            prep=prep,
            run=_empty_run(),
            start=Fraction(0),
            add1_steps=0,
        )
    run, k = _add1(prep, unit, exhaustive=True, progress=progress)
    chosen = set(run.selected)
    left = prep.budget - run.cost
    completion: list[tuple[int, int]] = []
    for p in sorted(range(len(prep.ids)), key=lambda p: (-prep.points[p], prep.rank[p])):
        if p in chosen or not prep.support[p]:
            continue
        if prep.costs[p] <= left:
            left -= prep.costs[p]
            completion.append((p, left))
    return _build_outcome(
        "mes-add1-greedy",
        election=election,
        tie_break=tie_break,
        prep=prep,
        run=run,
        start=Fraction(*_start(prep, k, unit)),
        add1_steps=k,
        completion=tuple(completion),
    )
