"""The data the counting engine works on: elections, ballots, outcomes and their traces.

Interface notes for everyone coding against this module (keep in sync with /tmp/tally_spec.md):

- Every rule is ``rule(election, *, tie_break, progress=None, **options) -> Outcome``.
  ``progress`` is an optional ``Progress`` callback ``progress(done, total)`` that a long count
  calls now and then; ``total`` is 0 when the rule cannot know it in advance (Add1). It must
  not influence the result; the command line uses it for a progress indicator on stderr.
- Added beyond the spec (nothing renamed or removed): ``TallyError``, ``Progress``,
  ``Outcome.leftover``/``to_json``, ``check_election`` (the validation every rule may call),
  ``supporters`` (voters naming each project), ``TieBreak.resolved`` in ``tiebreak.py`` (fills
  in the default seed so that ``Outcome.seed`` records the seed actually used).

Money is always an integer number of units of ``10 ** -Election.decimals`` (cents for our own
rounds). Nothing in this package uses floats to decide anything.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Ballot",
    "BallotType",
    "Cap",
    "CapKind",
    "Election",
    "Outcome",
    "Progress",
    "Project",
    "Reason",
    "Step",
    "TallyError",
    "check_election",
    "supporters",
]

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called by long counts; ``total`` is 0 when unknown."""


class TallyError(ValueError):
    """An election or option the engine cannot count, with a message fit to show a user."""


class BallotType(enum.StrEnum):
    """The kind of ballot every voter of one election cast (pabulib's ``vote_type``)."""

    APPROVAL = "approval"
    CUMULATIVE = "cumulative"
    CHOOSE1 = "choose-1"
    ORDINAL = "ordinal"


@dataclass(frozen=True, slots=True)
class Project:
    """A project on the ballot."""

    id: str  # arbitrary string id, as in pabulib ("L18/06/XI")
    cost: int  # exact money in units of 10**-Election.decimals (our own rounds: cents)
    name: str = ""
    theme: str | None = None  # pabulib "category" (first listed)
    district: str | None = None  # pabulib "neighborhood"/"district"


@dataclass(frozen=True, slots=True)
class Ballot:
    """One ballot, or ``weight`` identical ones.

    approval/choose-1: the approved ids; ordinal: the ranking, best first; cumulative: the ids
    with points > 0 and, aligned with them, the points.
    """

    projects: tuple[str, ...]
    points: tuple[int, ...] = ()  # cumulative only, aligned with `projects`
    weight: int = 1  # how many voters cast exactly this ballot (engines may group)


class CapKind(enum.StrEnum):
    """What a cap limits: spending per theme or per district."""

    THEME = "theme"
    DISTRICT = "district"


@dataclass(frozen=True, slots=True)
class Cap:
    """A maximum total cost of the selected projects with one theme or in one district."""

    kind: CapKind
    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class Election:
    """Everything a count depends on."""

    budget: int
    projects: tuple[Project, ...]
    ballots: tuple[Ballot, ...]
    ballot_type: BallotType
    decimals: int = 2  # money scale: value = units / 10**decimals
    caps: tuple[Cap, ...] = ()


class Reason(enum.StrEnum):
    """Why a project was, or was not, funded."""

    SELECTED = "selected"
    NO_SUPPORT = "no-support"  # nobody voted for it
    INSUFFICIENT_SUPPORT = "insufficient-support"  # not enough votes for its cost
    SUPPORTERS_SPENT = "supporters-spent"  # supporters' money went to other projects (MES)
    DOES_NOT_FIT = "does-not-fit"  # did not fit the remaining budget
    BELOW_THRESHOLD = "below-threshold"  # under the minimum-vote threshold
    CAP_REACHED = "cap-reached"  # theme or district cap reached
    NOT_REACHED = "not-reached"  # no-skip greedy stopped before it
    LEFTOVER = "selected-leftover"  # funded by greedy's leftover pass, outside the caps


@dataclass(frozen=True, slots=True)
class Step:
    """One decision of a count, in the order it was taken.

    ``votes`` is the score the rule ranked by (greedy: approvals, points or Borda score; MES and
    Phragmén: the number of supporters). ``detail`` holds rule-specific exact values as strings,
    fractions written "p/q": MES "price_per_voter", "effective_votes", "paid_by"; greedy "rank",
    "remaining"; Phragmén "load".
    """

    project: str
    reason: Reason
    votes: int
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one count, with everything needed to explain and to check it."""

    rule: str
    selected: tuple[str, ...]  # in selection order
    cost: int
    budget: int
    tie_break: str  # name of the tie-break used
    tie_break_order: tuple[str, ...]  # the complete priority order used (first wins)
    seed: str | None  # the published seed of the lot, if one was used
    steps: tuple[Step, ...]
    unselected: tuple[tuple[str, Reason], ...]  # every project not selected, with its reason
    parameters: tuple[tuple[str, str], ...] = ()  # e.g. ("per_voter_budget", "1234/7")

    @property
    def leftover(self) -> int:
        """Budget not spent."""
        return self.budget - self.cost

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: ids as strings, money as integers, fractions as "p/q" strings."""
        return {
            "rule": self.rule,
            "selected": list(self.selected),
            "cost": self.cost,
            "budget": self.budget,
            "leftover": self.leftover,
            "tie_break": self.tie_break,
            "tie_break_order": list(self.tie_break_order),
            "seed": self.seed,
            "parameters": dict(self.parameters),
            "unselected": [
                {"project": project, "reason": str(reason)} for project, reason in self.unselected
            ],
            "trace": [
                {
                    "project": step.project,
                    "reason": str(step.reason),
                    "votes": step.votes,
                    "detail": dict(step.detail),
                }
                for step in self.steps
            ],
        }


def check_election(election: Election) -> dict[str, int]:
    """Validate what every rule relies on; return each project's index by id.

    Raises ``TallyError`` for duplicate ids, negative money or weights, ballots naming unknown
    projects and cumulative ballots whose points are negative or do not line up with their
    projects.
    """
    index: dict[str, int] = {}
    for i, project in enumerate(election.projects):
        if project.id in index:
            raise TallyError(f"Project id {project.id!r} appears twice.")
        if project.cost < 0:
            raise TallyError(f"Project {project.id!r} has a negative cost.")
        index[project.id] = i
    if election.budget < 0:
        raise TallyError("The budget must not be negative.")
    if election.decimals < 0:
        raise TallyError("The number of decimals must not be negative.")
    cumulative = election.ballot_type is BallotType.CUMULATIVE
    for ballot in election.ballots:
        if ballot.weight < 0:
            raise TallyError("A ballot weight must not be negative.")
        for pid in ballot.projects:
            if pid not in index:
                raise TallyError(f"A ballot names project {pid!r}, which is not on the ballot.")
        if cumulative:
            if len(ballot.points) != len(ballot.projects):
                raise TallyError("A cumulative ballot needs one points value per project.")
            if any(pts < 0 for pts in ballot.points):
                raise TallyError("Points on a cumulative ballot must not be negative.")
        elif ballot.points:
            raise TallyError(f"Only cumulative ballots carry points, not {election.ballot_type}.")
    for cap in election.caps:
        if cap.limit < 0:
            raise TallyError(f"The cap for {cap.kind} {cap.key!r} must not be negative.")
    return index


def supporters(election: Election) -> dict[str, int]:
    """Number of voters (ballot weights) naming each project at least once, with points > 0
    on cumulative ballots. Every project id is a key."""
    counts = dict.fromkeys((p.id for p in election.projects), 0)
    cumulative = election.ballot_type is BallotType.CUMULATIVE
    for ballot in election.ballots:
        if cumulative:
            # Points given twice to one project add up (the pabulib reader's policy).
            total: dict[str, int] = {}
            for pid, pts in zip(ballot.projects, ballot.points, strict=False):
                total[pid] = total.get(pid, 0) + pts
            named = {pid for pid, pts in total.items() if pts > 0}
        else:
            named = set(ballot.projects)
        for pid in named:
            if pid in counts:
                counts[pid] += ballot.weight
    return counts
