"""Greedy counting: the most-voted projects first, each funded if it still fits.

The rule used by most municipalities (Amsterdam, most Polish cities). Each project gets a
score:

- approval and choose-1 ballots: the number of voters approving it;
- cumulative ballots: the total number of points it received;
- ordinal (ranked) ballots: its Borda score. With ``m`` projects on the ballot, a voter's
  first choice gets ``m`` points, the second ``m - 1``, …, and projects the voter did not rank
  get nothing; so every ranked project scores at least one point.

Projects are visited by decreasing score, ties in the tie-break order, and each one is funded
if its cost still fits the remaining budget. Options:

- ``no_skip``: stop at the first project that does not fit (some cities do not skip);
- ``threshold``: projects with a score below it are never funded (pabulib's
  ``min_project_score_threshold``, "greedy-threshold");
- caps: the election's theme and district caps (:class:`Cap`) are never exceeded; a project
  that fits the budget but would break a cap is skipped;
- ``leftover``: what happens to money the caps left unspent. ``"keep"`` (default) leaves it;
  ``"fund-by-score"`` is Amsterdam's published rule (pabulib META ``leftover_budget``: "Fund
  additional projects that fit within leftover budget ordered by score"): after the pass with
  caps, a second pass visits the projects skipped for a cap, in the same order, and funds each
  that still fits the remaining budget, ignoring the caps. Only cap-skipped projects can fit
  (a project that did not fit the budget never fits less money). Thresholds still apply.

Projects nobody supported (score 0) are never funded, even if money is left.
"""

from __future__ import annotations

from burgerbegroting.voting.tally.model import (
    BallotType,
    CapKind,
    Election,
    Outcome,
    Progress,
    Reason,
    Step,
    TallyError,
    check_election,
)
from burgerbegroting.voting.tally.tiebreak import TieBreak

__all__ = ["LEFTOVER_POLICIES", "greedy", "scores"]

LEFTOVER_POLICIES = ("keep", "fund-by-score")


def scores(election: Election) -> dict[str, int]:
    """Each project's greedy score (approvals, points or Borda score; see the module)."""
    result = dict.fromkeys((p.id for p in election.projects), 0)
    kind = election.ballot_type
    m = len(election.projects)
    for ballot in election.ballots:
        w = ballot.weight
        if kind is BallotType.CUMULATIVE:
            for pid, pts in zip(ballot.projects, ballot.points, strict=True):
                result[pid] += w * pts
        elif kind is BallotType.ORDINAL:
            # A project ranked twice counts at its first (best) position only.
            for position, pid in enumerate(dict.fromkeys(ballot.projects)):
                result[pid] += w * (m - position)
        else:
            for pid in set(ballot.projects):
                result[pid] += w
    return result


def greedy(
    election: Election,
    *,
    tie_break: TieBreak,
    no_skip: bool = False,
    threshold: int | None = None,
    leftover: str = "keep",
    progress: Progress | None = None,
) -> Outcome:
    """Greedy by decreasing score (see the module docstring for scores and options).

    Equal scores are ordered by ``tie_break.order(election)`` (earlier first). The trace has one
    step per project in the order visited, with its score, its rank, and the remaining budget;
    skipped projects carry the reason (no support, below threshold, does not fit, cap reached,
    not reached after a no-skip stop). Projects funded by the leftover pass get a second step
    with reason ``selected-leftover`` (their first step says which cap stopped them).
    """
    check_election(election)
    if leftover not in LEFTOVER_POLICIES:
        raise TallyError(
            f"Unknown leftover policy {leftover!r}; choose one of {', '.join(LEFTOVER_POLICIES)}."
        )
    order = tie_break.order(election)
    position = {pid: i for i, pid in enumerate(order)}
    score = scores(election)
    projects = {p.id: p for p in election.projects}
    ranking = sorted(projects, key=lambda pid: (-score[pid], position[pid]))
    cap_left: dict[tuple[CapKind, str], int] = {(c.kind, c.key): c.limit for c in election.caps}
    remaining = election.budget
    stopped = False
    selected: list[str] = []
    steps: list[Step] = []
    unselected: list[tuple[str, Reason]] = []
    for rank, pid in enumerate(ranking, start=1):
        project = projects[pid]
        detail: list[tuple[str, str]] = [("rank", str(rank)), ("cost", str(project.cost))]
        capped = [
            (kind, key)
            for kind, key in ((CapKind.THEME, project.theme), (CapKind.DISTRICT, project.district))
            if key is not None and (kind, key) in cap_left
        ]
        blocking = [cap for cap in capped if project.cost > cap_left[cap]]
        if score[pid] <= 0:
            reason = Reason.NO_SUPPORT
        elif threshold is not None and score[pid] < threshold:
            reason = Reason.BELOW_THRESHOLD
            detail.append(("threshold", str(threshold)))
        elif stopped:
            reason = Reason.NOT_REACHED
        elif project.cost > remaining:
            reason = Reason.DOES_NOT_FIT
            stopped = no_skip
        elif blocking:
            reason = Reason.CAP_REACHED
            kind, key = blocking[0]
            detail += [("cap", f"{kind}:{key}"), ("cap_left", str(cap_left[blocking[0]]))]
        else:
            reason = Reason.SELECTED
            remaining -= project.cost
            for cap in capped:
                cap_left[cap] -= project.cost
            selected.append(pid)
        detail.append(("remaining", str(remaining)))
        steps.append(Step(pid, reason, score[pid], tuple(detail)))
        if reason is not Reason.SELECTED:
            unselected.append((pid, reason))
    if leftover == "fund-by-score":
        capped_out = [pid for pid, reason in unselected if reason is Reason.CAP_REACHED]
        for pid in capped_out:
            project = projects[pid]
            if project.cost > remaining:
                continue
            remaining -= project.cost
            selected.append(pid)
            unselected.remove((pid, Reason.CAP_REACHED))
            detail = [("pass", "leftover"), ("cost", str(project.cost))]
            steps.append(
                Step(pid, Reason.LEFTOVER, score[pid], (*detail, ("remaining", str(remaining))))
            )
    if progress is not None:
        progress(1, 1)
    parameters: list[tuple[str, str]] = [("no_skip", str(no_skip).lower())]
    if threshold is not None:
        parameters.append(("threshold", str(threshold)))
    parameters.append(("leftover", leftover))
    parameters += [(f"cap:{c.kind}:{c.key}", str(c.limit)) for c in election.caps]
    return Outcome(
        rule="greedy",
        selected=tuple(selected),
        cost=election.budget - remaining,
        budget=election.budget,
        tie_break=tie_break.name,
        tie_break_order=order,
        seed=tie_break.seed,
        steps=tuple(steps),
        unselected=tuple(unselected),
        parameters=tuple(parameters),
    )
