"""Sequential Phragmén for approval (and choose-1) ballots, counted exactly.

Definition (Phragmén 1894; Brill, Freeman, Janson & Lackner for participatory budgeting).
Every voter carries a *load*, starting at 0: the money the voter is responsible for so far.
Funding a project spreads its cost over its supporters so that they all end with the same
load; the project whose supporters would end with the lowest such load is funded next:

    new_load(p) = (sum of the loads of p's supporters + cost(p)) / number of p's supporters

and every supporter of the funded project then has load ``new_load(p)``. Ties go to the project
earlier in the tie-break order.

Budget: as in pabutools 1.2.3's ``sequential_phragmen`` (so that both tools agree), projects
costing more than the whole budget are never candidates, and the count **stops** as soon as the
next project, or any project tied with it, no longer fits the remaining budget. With
``skip=True`` it instead passes over projects that no longer fit and continues with the others.
Projects nobody approved are never funded. Loads are exact fractions (``fractions.Fraction``).

Speed: all voters who approve the funded project get the same load, so there are at most
(rounds + 1) distinct loads. Each project keeps a histogram {load level: voters}, updated
only for the ballots that just changed level; a project's load sum then costs one term per
level, not per voter, and identical ballots are grouped.
"""

from __future__ import annotations

from fractions import Fraction

from burgerbegroting.voting.tally.model import (
    BallotType,
    Election,
    Outcome,
    Progress,
    Reason,
    Step,
    TallyError,
    check_election,
)
from burgerbegroting.voting.tally.tiebreak import TieBreak

__all__ = ["phragmen"]


def _fraction(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def phragmen(
    election: Election,
    *,
    tie_break: TieBreak,
    skip: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Sequential Phragmén (see the module docstring); ``skip`` passes over projects that no
    longer fit instead of stopping. Raises TallyError for cumulative or ordinal ballots and for
    elections with caps."""
    index = check_election(election)
    if election.ballot_type not in (BallotType.APPROVAL, BallotType.CHOOSE1):
        raise TallyError(
            "Sequential Phragmén needs approval or choose-1 ballots, "
            f"not {election.ballot_type}; count these with greedy or mes."
        )
    if election.caps:
        raise TallyError(
            "Sequential Phragmén does not support theme or district caps; "
            "remove the caps or count with greedy."
        )
    order = tie_break.order(election)
    ids = [p.id for p in election.projects]
    costs = [p.cost for p in election.projects]
    rank = [0] * len(ids)
    for i, pid in enumerate(order):
        rank[index[pid]] = i

    # Identical ballots (as sets) are one group with their total weight.
    groups: dict[frozenset[int], int] = {}
    for ballot in election.ballots:
        if ballot.weight and ballot.projects:
            key = frozenset(index[pid] for pid in ballot.projects)
            groups[key] = groups.get(key, 0) + ballot.weight
    group_items = [tuple(sorted(key)) for key in groups]
    group_weight = list(groups.values())
    supporters: list[list[int]] = [[] for _ in ids]
    support = [0] * len(ids)
    for g, items in enumerate(group_items):
        for p in items:
            supporters[p].append(g)
            support[p] += group_weight[g]

    steps: list[Step] = []
    reasons: dict[int, Reason] = {}
    candidates: list[int] = []
    for p in sorted(range(len(ids)), key=rank.__getitem__):
        if support[p] == 0:
            reasons[p] = Reason.NO_SUPPORT
            steps.append(Step(ids[p], Reason.NO_SUPPORT, 0, ()))
        elif costs[p] > election.budget:
            reasons[p] = Reason.DOES_NOT_FIT
            detail: tuple[tuple[str, str], ...] = (
                ("cost", str(costs[p])),
                ("remaining", str(election.budget)),
            )
            steps.append(Step(ids[p], Reason.DOES_NOT_FIT, support[p], detail))
        else:
            candidates.append(p)

    level_value: list[Fraction] = [Fraction(0)]
    group_level = [0] * len(group_items)
    hist: list[dict[int, int]] = [{} for _ in ids]
    for p in candidates:
        hist[p] = {0: support[p]}
    active = [False] * len(ids)
    for p in candidates:
        active[p] = True
    remaining = election.budget
    selected: list[int] = []
    total = len(candidates)
    round_no = 0
    while candidates:
        round_no += 1
        if skip:
            for p in [p for p in candidates if costs[p] > remaining]:
                candidates.remove(p)
                active[p] = False
                reasons[p] = Reason.DOES_NOT_FIT
                detail = (("round", str(round_no)), ("cost", str(costs[p])))
                detail += (("remaining", str(remaining)),)
                steps.append(Step(ids[p], Reason.DOES_NOT_FIT, support[p], detail))
            if not candidates:
                break
        new_load: dict[int, Fraction] = {}
        for p in candidates:
            load_sum = sum((w * level_value[lv] for lv, w in hist[p].items()), Fraction(0))
            new_load[p] = (load_sum + costs[p]) / support[p]
        best = min(new_load.values())
        tied = sorted((p for p in candidates if new_load[p] == best), key=rank.__getitem__)
        too_dear = [p for p in tied if costs[p] > remaining]
        if too_dear:
            # pabutools stops here, even if the tie-break winner itself would fit.
            for p in too_dear:
                reasons[p] = Reason.DOES_NOT_FIT
                detail = (
                    ("round", str(round_no)),
                    ("load", _fraction(best)),
                    ("cost", str(costs[p])),
                    ("remaining", str(remaining)),
                )
                steps.append(Step(ids[p], Reason.DOES_NOT_FIT, support[p], detail))
            break
        chosen = tied[0]
        candidates.remove(chosen)
        active[chosen] = False
        selected.append(chosen)
        remaining -= costs[chosen]
        steps.append(
            Step(
                ids[chosen],
                Reason.SELECTED,
                support[chosen],
                (
                    ("round", str(round_no)),
                    ("load", _fraction(best)),
                    ("cost", str(costs[chosen])),
                    ("remaining", str(remaining)),
                ),
            )
        )
        # Every supporter of the chosen project now carries load ``best``: a new level.
        level_value.append(best)
        new_level = len(level_value) - 1
        for g in supporters[chosen]:
            old = group_level[g]
            group_level[g] = new_level
            w = group_weight[g]
            for q in group_items[g]:
                if active[q]:
                    h = hist[q]
                    left = h[old] - w
                    if left:
                        h[old] = left
                    else:
                        del h[old]
                    h[new_level] = h.get(new_level, 0) + w
        if progress is not None:
            progress(len(selected), total)
    chosen_set = set(selected)
    unselected: list[tuple[str, Reason]] = []
    for p in sorted(range(len(ids)), key=rank.__getitem__):
        if p in chosen_set:
            continue
        reason = reasons.get(p)
        if reason is None:
            reason = Reason.NOT_REACHED
            steps.append(Step(ids[p], reason, support[p], (("cost", str(costs[p])),)))
        unselected.append((ids[p], reason))
    return Outcome(
        rule="phragmen",
        selected=tuple(ids[p] for p in selected),
        cost=election.budget - remaining,
        budget=election.budget,
        tie_break=tie_break.name,
        tie_break_order=order,
        seed=tie_break.seed,
        steps=tuple(steps),
        unselected=tuple(unselected),
        parameters=(("skip", str(skip).lower()),),
    )
