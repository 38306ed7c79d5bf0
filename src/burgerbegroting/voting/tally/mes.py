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
rescaled) whenever a purchase introduces a new denominator; levels nobody holds any more are
renumbered away now and then, so that the rescaling does not grow with every level ever made. A
project's histogram
{level: weight} of its supporters is built when the project is priced (a C-level ``Counter``
over its supporters' levels); a purchase only moves the payers to new levels. The price is then
computed over distinct money levels and every decision is an exact integer comparison. Where
it can, the per-level and per-ballot work runs in C builtins (``map``, ``sum``, ``sorted`` with
a key, ``itemgetter``, a zero-length ``deque`` consuming a ``map`` of ``list.__setitem__``)
rather than in Python loops: the same arithmetic, several times cheaper in CPython. A
project's price can only rise from round to round (its supporters only lose money), so
candidates are visited in order of their previous price and the scan stops as soon as that
lower bound exceeds the best price found (equalshares.net); floats only order that scan.

Add1 completions rerun MES with a larger per-voter budget; budgets grow in steps of one whole
currency unit of the election (``10 ** decimals`` money units: 1 zloty for a pabulib file in
PLN, 1 euro for our own rounds counted in cents). Budgets proven to give the same outcome are
jumped over (see ``_run_mes`` and ``_add1``), with a result identical to stepping by one.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain, repeat
from operator import itemgetter, mul
from typing import Any

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
    sort_scale: int  # lcm of the point values: money * sort_scale // points is an exact sort key
    group_weight: tuple[int, ...]
    supporters: tuple[tuple[int, ...], ...]  # per project: the distinct ballots naming it
    weights: tuple[tuple[int, ...], ...]  # aligned with supporters: the ballots' weights
    utils: tuple[tuple[int, ...], ...]  # aligned with supporters: their utility (approval: 1)
    # Per project: a getter of its supporting ballots' levels repeated by weight (and their
    # utilities), when that list is not much longer than `supporters`: a histogram is then two
    # C-level calls, ``Counter(getter(level))``.
    expanded: tuple[Callable[[list[int]], tuple[int, ...]] | None, ...]
    expanded_utils: tuple[tuple[int, ...], ...]
    # Per project: a getter of its supporting ballots' levels, once each (moving the payers).
    gather: tuple[Callable[[list[int]], tuple[int, ...]], ...]
    support: tuple[int, ...]  # per project: number of voters (weights) naming it
    points: tuple[int, ...]  # per project: total utility units (approval: = support)
    rank: tuple[int, ...]  # per project: position in the tie-break order (0 = first)
    fund_free: bool  # supported projects costing nothing are bought (default) or never
    order: tuple[str, ...]


def _prepare(election: Election, tie_break: TieBreak, *, fund_free: bool = True) -> _Prepared:
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
    group_weight: list[int] = []
    supporters: list[list[int]] = [[] for _ in ids]
    weights: list[list[int]] = [[] for _ in ids]
    utils: list[list[int]] = [[] for _ in ids]
    support = [0] * len(ids)
    points = [0] * len(ids)
    point_values: set[int] = set()
    if cumulative:
        groups: dict[tuple[tuple[int, int], ...], int] = {}
        for (raw_projects, raw_points), weight in raw.items():
            key = _ballot_key(raw_projects, raw_points, index, cumulative)
            if key and weight:
                groups[key] = groups.get(key, 0) + weight
        for g, (key, weight) in enumerate(groups.items()):
            group_weight.append(weight)
            for p, u in key:
                supporters[p].append(g)
                weights[p].append(weight)
                utils[p].append(u)
                support[p] += weight
                points[p] += weight * u
                point_values.add(u)
    else:
        # Approval and choose-1: utility 1 for every project named (twice counts once); the
        # same work as the cumulative branch, with the per-project loops done by C builtins.
        approvals: dict[tuple[int, ...], int] = {}
        project_of = index.__getitem__
        for (raw_projects, _), weight in raw.items():
            try:
                named = tuple(sorted(set(map(project_of, raw_projects))))
            except KeyError:
                for pid in raw_projects:
                    _project_index(index, pid)  # raises the TallyError naming the project
                raise  # pragma: no cover - one of them is unknown
            if named and weight:
                approvals[named] = approvals.get(named, 0) + weight
        for g, (named, weight) in enumerate(approvals.items()):
            group_weight.append(weight)
            for p in named:
                supporters[p].append(g)
                weights[p].append(weight)
        for p in range(len(ids)):
            utils[p] = [1] * len(supporters[p])
            support[p] = points[p] = sum(weights[p])
    order = tie_break.order(election)
    if sorted(order) != sorted(ids):
        raise TallyError("The tie-break order must list every project exactly once.")
    position = {pid: i for i, pid in enumerate(order)}
    expanded: list[Callable[[list[int]], tuple[int, ...]] | None] = []
    expanded_utils: list[tuple[int, ...]] = []
    for p in range(len(ids)):
        if support[p] <= 3 * len(supporters[p]) and not cumulative:
            expanded.append(
                _getter(tuple(chain.from_iterable(map(repeat, supporters[p], weights[p]))))
            )
            expanded_utils.append(())
        elif support[p] <= 3 * len(supporters[p]):
            pairs = [
                (g, u)
                for g, w, u in zip(supporters[p], weights[p], utils[p], strict=True)
                for _ in range(w)
            ]
            expanded.append(_getter(tuple(g for g, _ in pairs)))
            expanded_utils.append(tuple(u for _, u in pairs) if cumulative else ())
        else:
            expanded.append(None)
            expanded_utils.append(())
    return _Prepared(
        ids=ids,
        costs=tuple(p.cost for p in election.projects),
        budget=election.budget,
        voters=voters,
        cumulative=cumulative,
        sort_scale=math.lcm(*point_values) if cumulative and point_values else 1,
        group_weight=tuple(group_weight),
        supporters=tuple(tuple(s) for s in supporters),
        weights=tuple(tuple(w) for w in weights),
        utils=tuple(tuple(u) for u in utils),
        expanded=tuple(expanded),
        expanded_utils=tuple(expanded_utils),
        gather=tuple(_getter(tuple(g)) for g in supporters) if not cumulative else (),
        support=tuple(support),
        points=tuple(points),
        rank=tuple(position[pid] for pid in ids),
        fund_free=fund_free,
        order=order,
    )


def _getter(indices: tuple[int, ...]) -> Callable[[list[int]], tuple[int, ...]]:
    """``lambda values: tuple(values[i] for i in indices)``, in C where it can be."""
    if len(indices) == 1:  # itemgetter of one index returns a bare value, not a 1-tuple
        only = indices[0]
        return lambda values: (values[only],)
    if not indices:
        return lambda values: ()
    return itemgetter(*indices)


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
# Besides the outcome, a run can certify that the outcome did not change since an earlier run
# at a smaller per-voter budget (the question ADD-OPT answers: Kraiczy, Robinson & Elkind,
# "Streamlining Equal Shares", 2025; the certificate below is our own, for MES). It rests on
# two monotonicity facts for a *fixed* sequence of purchases:
#
# - if every voter has at least as much money, every price is at most as high: ``rho`` solves
#   ``sum(min(money_i, rho * u_i)) == cost`` and the left side grows with the money;
# - after paying ``min(money_i, rho * u_i)`` a voter keeps ``max(0, money_i - rho * u_i)``,
#   which then is at least as much too.
#
# So, replaying the purchases of the run at budget ``t0``, money only grows and prices only fall
# as the budget goes from ``t0`` to ``t1``. The run at ``t1`` proves that every budget in between
# buys the same projects in the same order if it bought them in that order and, in every round,
# every other affordable project was (with its price at ``t1``) no cheaper than the winner with
# its price at ``t0`` (tie-break order deciding equal prices): at any ``t`` in between the
# winner can only be cheaper and the others only dearer. Projects unaffordable at ``t1`` were
# unaffordable at every smaller budget. The certificate is sufficient, not necessary: a failed
# one only costs a rerun, never a wrong result.


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
    certified: bool = False  # same purchases, in the same order, at every budget since `previous`


def _empty_run() -> _Run:
    return _Run((), (), (), 0)


# A histogram of a project's supporters by money level: approval {level: weight}, cumulative
# {(level, utility): weight}. Level 0 is "no money left".
_Hist = dict[Any, int]


def _histogram(prep: _Prepared, p: int, level: list[int]) -> _Hist:
    """Project ``p``'s supporters grouped by their current money level (built on demand: cheaper
    than keeping every project's histogram up to date after each purchase)."""
    expanded = prep.expanded[p]
    h: _Hist
    if prep.cumulative:
        if expanded is not None:
            h = Counter(zip(expanded(level), prep.expanded_utils[p], strict=True))
        else:
            h = {}
            for g, w, u in zip(prep.supporters[p], prep.weights[p], prep.utils[p], strict=True):
                key = (level[g], u)
                h[key] = h.get(key, 0) + w
        for key in [key for key in h if key[0] == 0]:
            del h[key]
        return h
    if expanded is not None:
        h = Counter(expanded(level))
    else:
        h = {}
        for g, w in zip(prep.supporters[p], prep.weights[p], strict=True):
            lv = level[g]
            h[lv] = h.get(lv, 0) + w
    h.pop(0, None)
    return h


def _run_mes(
    prep: _Prepared, start_num: int, start_den: int, *, previous: _Run | None = None
) -> _Run:
    """MES with every voter starting at ``start_num / start_den`` money units.

    With ``previous`` (a run at a smaller per-voter budget) the result says whether it is
    certified to have the same outcome at every budget in between (see above).
    """
    n_projects = len(prep.ids)
    costs = prep.costs
    cumulative = prep.cumulative
    rank = prep.rank

    # Money levels: value[level] is the money of a voter at that level, times the common
    # denominator ``denom``. Level 0 is "no money left"; level 1 the starting money.
    denom = start_den
    value: list[int] = [0, start_num]
    level = [1] * len(prep.group_weight)
    compacted = len(value)  # the number of levels after the last renumbering
    # float() of a lower bound of each project's price: prices only rise during a run, so the
    # price found in an earlier round bounds the next one.
    approx: list[float] = [0.0] * n_projects

    selected: list[int] = []
    purchases: list[_Purchase] = []
    removed: list[tuple[int, int, Fraction]] = []
    cost = 0
    # Supported projects that cost nothing are bought first, as pabutools does.
    free = sorted(
        (p for p in range(n_projects) if prep.support[p] and costs[p] == 0 and prep.fund_free),
        key=rank.__getitem__,
    )
    for p in free:
        selected.append(p)
        purchases.append(_Purchase(p, 0, Fraction(0), 0, 0))
    candidates: list[int] = []
    for p in range(n_projects):
        if not prep.support[p] or costs[p] == 0:
            continue
        if start_num <= 0:
            removed.append((p, 0, Fraction(0)))
            continue
        candidates.append(p)
        # The price if nobody were short of money: a lower bound for every later round.
        approx[p] = costs[p] / prep.points[p] if cumulative else 1 / prep.support[p]

    earlier = [b for b in previous.purchases if b.round > 0] if previous is not None else []
    certified = previous is not None
    round_no = 0
    while candidates:
        round_no += 1
        # The scan visits candidates by increasing lower bound and stops once the bound exceeds
        # the best price found. Floats only order and prune it: float() of a fraction is
        # correctly rounded, hence monotone, so once float(bound) > float(best) every later
        # candidate's exact bound is above the exact best price. Every decision is exact.
        candidates.sort(key=approx.__getitem__)
        # The winner of this round at the earlier budget, while the certificate holds.
        target = earlier[round_no - 1] if certified and round_no <= len(earlier) else None
        best: Fraction | None = None
        cut = math.inf  # float(max(best, target's price)), once there is a best
        chosen = -1
        chosen_price: _Price | None = None
        chosen_hist: _Hist = {}
        still: list[int] = []
        for pos, p in enumerate(candidates):
            if approx[p] > cut:
                still.extend(candidates[pos:])
                break
            h = _histogram(prep, p, level)
            price = _price(prep, p=p, h=h, value=value, denom=denom)
            if price is None:
                if cumulative:
                    money = sum(w * value[lv] for (lv, _), w in h.items())
                else:
                    money = sum(map(mul, map(value.__getitem__, h), h.values()))
                removed.append((p, round_no, Fraction(money, denom)))
                continue
            still.append(p)
            scale = 1 if cumulative else costs[p]
            rho = Fraction(price.num, price.den_u * denom * scale)
            approx[p] = float(rho)
            if (
                target is not None
                and p != target.project
                and (rho < target.rho or (rho == target.rho and rank[p] < rank[target.project]))
            ):
                certified = False
                target = None
            if best is None or rho < best or (rho == best and rank[p] < rank[chosen]):
                best, chosen, chosen_price, chosen_hist = rho, p, price, h
            if best is not None:
                cut = float(best) if target is None else max(float(best), float(target.rho))
        if best is None or chosen_price is None:
            break
        if certified and (target is None or target.project != chosen):
            certified = False  # a different purchase, or one the earlier run did not make
        s = chosen
        candidates = [p for p in still if p != s]
        selected.append(s)
        cost += costs[s]
        purchases.append(_Purchase(s, round_no, best, chosen_price.payers, chosen_price.paid_all))

        # Pay: a supporter at money ``b`` with utility ``u`` pays min(b, num * u / den_u).
        # Enlarge the common denominator so that every new money level is an integer again.
        num, den_u = chosen_price.num, chosen_price.den_u
        factor = den_u // math.gcd(num, den_u)
        if factor != 1:
            denom *= factor
            value = list(map(factor.__mul__, value))
        unit_price = num * factor // den_u
        moves: dict[Any, int] = {}  # histogram key -> new level
        seen: dict[int, int] = {}  # new money -> its level
        for key in chosen_hist:
            old_level, u = key if cumulative else (key, 1)
            rest = value[old_level] - unit_price * u
            if rest <= 0:
                moves[key] = 0
                continue
            new_level = seen.get(rest)
            if new_level is None:
                new_level = len(value)
                value.append(rest)
                seen[rest] = new_level
            moves[key] = new_level
        if cumulative:
            for g, u in zip(prep.supporters[s], prep.utils[s], strict=True):
                old = level[g]
                if old:
                    level[g] = moves[old, u]
        else:
            # level[g] = moves[level[g]] for every supporter, as C loops: gather the levels,
            # map them, scatter them back (consuming the map in a zero-length deque).
            moves[0] = 0  # supporters without money stay there
            supporters = prep.supporters[s]
            deque(
                map(
                    level.__setitem__,
                    supporters,
                    map(moves.__getitem__, prep.gather[s](level)),
                ),
                maxlen=0,
            )
        if len(value) > 2 * compacted and 2 * len(value) > len(level):
            # Levels nobody holds any more would still be rescaled with every new denominator:
            # renumber the levels in use (0 stays "no money") once the list has doubled and is
            # long compared with the ballots (renumbering costs a pass over the ballots).
            keep = [0, *(set(level) - {0})]
            renumber = dict(zip(keep, range(len(keep)), strict=True))
            level = list(map(renumber.__getitem__, level))
            value = list(map(value.__getitem__, keep))
            compacted = len(value)
    if certified and round_no and len(purchases) - len(free) != len(earlier):
        certified = False
    return _Run(tuple(selected), tuple(purchases), tuple(removed), cost, certified)


@dataclass(frozen=True, slots=True)
class _Price:
    num: int  # each supporter with enough money pays num * utility / den_u (over denom)
    den_u: int
    payers: int
    paid_all: int


def _price(prep: _Prepared, *, p: int, h: _Hist, value: list[int], denom: int) -> _Price | None:
    """The exact price of project ``p`` now, or None if its supporters cannot afford it."""
    need = prep.costs[p] * denom
    if not prep.cumulative:
        return _price_approval(need, h, value)
    scale = prep.sort_scale
    entries = [(value[lv] * scale // u, value[lv], u, w) for (lv, u), w in h.items()]
    money = 0
    utility = 0
    payers = 0
    for _, b, u, w in entries:
        money += w * b
        utility += w * u
        payers += w
    if money < need:
        return None
    entries.sort()
    paid = 0
    paid_all = 0
    for _, b, u, w in entries:
        num = need - paid
        # Affordable at this price for everyone from here on (sorted by money / utility)?
        if num * u <= b * utility:
            return _Price(num, utility, payers, paid_all)
        paid += w * b
        utility -= w * u
        paid_all += w
    raise AssertionError("unreachable: enough money implies a price")  # pragma: no cover


def _price_approval(need: int, h: _Hist, value: list[int]) -> _Price | None:
    """:func:`_price` for approval ballots (utility 1): the same scan over the supporters sorted
    by money, with the sums, the minimum and the sort done by C builtins over the histogram."""
    money = list(map(value.__getitem__, h))
    weights = list(h.values())
    if sum(map(mul, money, weights)) < need:
        return None
    payers = sum(weights)
    if min(money) * payers >= need:  # nobody is short: everyone pays need / payers
        return _Price(need, payers, payers, 0)
    num, den_u, paid_all = need, payers, 0
    for i in sorted(range(len(money)), key=money.__getitem__):
        b = money[i]
        # Affordable at this price for everyone from here on (sorted by money)?
        if num <= b * den_u:
            return _Price(num, den_u, payers, paid_all)
        w = weights[i]
        num -= w * b
        den_u -= w
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
                ("effective_points", _fraction(cost / buy.rho)),
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
        elif prep.costs[p] == 0 and not prep.fund_free:
            reason = Reason.FREE_NOT_FUNDED
            steps.append(Step(prep.ids[p], reason, prep.support[p], (("cost", "0"),)))
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
    parameters: list[tuple[str, str]] = [
        ("per_voter_budget", _fraction(start)),
        ("fund_free", str(prep.fund_free).lower()),
    ]
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
    election: Election,
    *,
    tie_break: TieBreak,
    fund_free: bool = True,
    progress: Progress | None = None,
) -> Outcome:
    """Method of Equal Shares without completion: each voter starts with budget / voters.

    Ties between projects with the same price per unit of utility go to the project that
    comes first in ``tie_break.order(election)``. The outcome may leave money unspent.

    ``fund_free``: supported projects that cost nothing are bought first (default: what a
    municipality expects, a wanted project that costs nothing is carried out). ``False`` never
    buys them (reason ``free-not-funded``), as pabutools 1.2.3 does with cost utilities
    (approval, choose-1); with points (cumulative) pabutools buys them too.
    """
    prep = _prepare(election, tie_break, fund_free=fund_free)
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
    """True if the run bought every project it may buy: more money cannot change the set."""
    buyable = sum(
        1 for s, c in zip(prep.support, prep.costs, strict=True) if s and (c or prep.fund_free)
    )
    return len(run.selected) == buyable


def _exhaustive(prep: _Prepared, run: _Run) -> bool:
    """pabutools' test: no supported, non-free project left out would still fit the budget."""
    chosen = set(run.selected)
    left = prep.budget - run.cost
    return not any(
        prep.support[p] and prep.costs[p] > 0 and prep.costs[p] <= left
        for p in range(len(prep.ids))
        if p not in chosen
    )


def _finished(prep: _Prepared, run: _Run, *, exhaustive: bool) -> bool:
    """Add1 stops raising the budget: everything is bought (or, pabutools' variant, the outcome
    is exhaustive)."""
    return _everything(prep, run) or (exhaustive and _exhaustive(prep, run))


def _add1(
    prep: _Prepared, unit: int, *, exhaustive: bool, progress: Progress | None
) -> tuple[_Run, int]:
    """Add1: the run kept and its number of increments ``k`` (per-voter budget B/n + k*unit).

    The definition is :func:`_add1_step_by_one`: rerun MES at every whole-unit step, keep the
    last outcome that fits, stop when the next one would not. Neither the outcome nor its cost is
    monotone in the budget, so there is no bisection; instead each run at ``k + jump`` is checked
    against the kept run at ``k`` (the certificate of ``_run_mes``). When it certifies that every
    budget in between buys the same projects, those steps all fit and none stops the search, so
    the count jumps to ``k + jump`` and tries a doubled jump next; a failed jump of more than one
    step is retried one step at a time. The result is therefore identical to stepping by one
    (tested against it with Hypothesis), with far fewer runs where the outcome is stable.
    """
    k = 0
    run = _run_mes(prep, *_start(prep, 0, unit))
    jump = 1
    while not _finished(prep, run, exhaustive=exhaustive):
        nxt = _run_mes(prep, *_start(prep, k + jump, unit), previous=run)
        if nxt.certified:
            k, run, jump = k + jump, nxt, jump * 2
        elif jump > 1:
            jump = max(1, jump // 4)
            continue
        elif nxt.cost > prep.budget:
            break
        else:
            k, run = k + 1, nxt
        if progress is not None:
            progress(k, 0)
    if k:
        # The kept run may have come from a jump (a run checked against the one before it): its
        # purchases are the definition's, but its trace of projects dropped can differ (found by
        # the Hypothesis comparison). Run MES at k once more on its own, as stepping by one does.
        run = _run_mes(prep, *_start(prep, k, unit))
    return run, k


def _add1_step_by_one(prep: _Prepared, unit: int, *, exhaustive: bool) -> tuple[_Run, int]:
    """Add1 by its definition, one whole currency unit at a time (the reference for tests and
    benchmarks; :func:`_add1` must always give the same run and ``k``)."""
    k = 0
    run = _run_mes(prep, *_start(prep, 0, unit))
    while not _finished(prep, run, exhaustive=exhaustive):
        nxt = _run_mes(prep, *_start(prep, k + 1, unit))
        if nxt.cost > prep.budget:
            break
        k, run = k + 1, nxt
    return run, k


def _mes_with_add1(
    rule: str,
    election: Election,
    *,
    tie_break: TieBreak,
    exhaustive: bool,
    greedy_completion: bool,
    fund_free: bool,
    progress: Progress | None,
) -> Outcome:
    """The three Add1 rules: Add1 (with or without the exhaustiveness stop), optionally
    followed by greedy completion. ``fund_free`` as in :func:`mes_rule`."""
    prep = _prepare(election, tie_break, fund_free=fund_free)
    unit = 10**election.decimals
    run, k = _empty_run(), 0
    if prep.voters:
        run, k = _add1(prep, unit, exhaustive=exhaustive, progress=progress)
    completion: list[tuple[int, int]] = []
    if greedy_completion and prep.voters:
        chosen = set(run.selected)
        left = prep.budget - run.cost
        for p in sorted(range(len(prep.ids)), key=lambda p: (-prep.points[p], prep.rank[p])):
            if p in chosen or not prep.support[p]:
                continue
            if prep.costs[p] <= left:
                left -= prep.costs[p]
                completion.append((p, left))
    return _build_outcome(
        rule,
        election=election,
        tie_break=tie_break,
        prep=prep,
        run=run,
        start=Fraction(*_start(prep, k, unit)) if prep.voters else Fraction(0),
        add1_steps=k,
        completion=tuple(completion),
    )


def mes_add1(
    election: Election,
    *,
    tie_break: TieBreak,
    fund_free: bool = True,
    progress: Progress | None = None,
) -> Outcome:
    """MES with Add1 completion as real elections use it (Assen 2024, Wieliczka, Świecie).

    Each voter starts with budget / voters; then the per-voter budget is raised by one whole
    currency unit at a time (``10 ** election.decimals`` money units) and MES is rerun. The
    last outcome whose total cost fits the budget is kept; the search stops as soon as the next
    one would not fit (or once every supported project is bought). Unlike pabutools, it does
    not stop at the first exhaustive outcome. Ties as in :func:`mes_rule`. Budgets at which
    the outcome provably equals the kept one are skipped (see :func:`_add1`).
    """
    return _mes_with_add1(
        "mes-add1",
        election,
        tie_break=tie_break,
        exhaustive=False,
        greedy_completion=False,
        fund_free=fund_free,
        progress=progress,
    )


def mes_add1_exhaustive(
    election: Election,
    *,
    tie_break: TieBreak,
    fund_free: bool = True,
    progress: Progress | None = None,
) -> Outcome:
    """MES with pabutools' Add1 completion.

    Like :func:`mes_add1`, but the search also stops at the first outcome that is exhaustive
    (no supported project left out would still fit the remaining budget).
    """
    return _mes_with_add1(
        "mes-add1-exhaustive",
        election,
        tie_break=tie_break,
        exhaustive=True,
        greedy_completion=False,
        fund_free=fund_free,
        progress=progress,
    )


def mes_add1_greedy(
    election: Election,
    *,
    tie_break: TieBreak,
    fund_free: bool = True,
    progress: Progress | None = None,
) -> Outcome:
    """``mes-add1-exhaustive`` followed by greedy completion (equalshares.net's default).

    The greedy pass takes the remaining supported projects by decreasing votes (approvals, or
    points for cumulative ballots), ties in tie-break order, and funds each that still fits.
    Projects nobody supported are never funded.
    """
    return _mes_with_add1(
        "mes-add1-greedy",
        election,
        tie_break=tie_break,
        exhaustive=True,
        greedy_completion=True,
        fund_free=fund_free,
        progress=progress,
    )
