"""The ballot rules of a round, as pure functions over its frozen definition.

Standard library and the counting engine only (an import-linter contract keeps it so): the booth
(``voting.casting``) checks every cast with these functions, and the independent verifier
(``audit.verify``) re-checks every ballot of an export with the very same ones, without the app.

**Elections.** A round in ``city`` scope is one election over all accepted projects, keyed
``None``. In ``districts`` scope each district with its own budget is its own election over the
projects located in it, keyed by the district id; a voter votes in the election of their district
only (city-wide projects do not exist in such a round: the district budgets add up to the total).

**Canonical ballot content** (what the log, the database and the export hold):

- knapsack, approval, choose-1: ``{"projects": [ids ascending]}``
- cumulative: ``{"points": {"<id>": n, …}}`` with every n ≥ 1
- ranked: ``{"ranking": [ids, best first]}``
- blank: ``{"blank": true}``

Blank ballots count for turnout but are not given to the counting engine: a blank voter would
otherwise receive a share of the budget under the Method of Equal Shares and change the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from burgerbegroting.voting.tally.greedy import scores
from burgerbegroting.voting.tally.model import Ballot as EngineBallot
from burgerbegroting.voting.tally.model import BallotType as EngineBallotType
from burgerbegroting.voting.tally.model import Cap, CapKind, Election, Outcome
from burgerbegroting.voting.tally.model import Project as EngineProject
from burgerbegroting.voting.tally.rules import count
from burgerbegroting.voting.tally.tiebreak import TieBreak

__all__ = [
    "BallotProblem",
    "ElectionRules",
    "chosen_projects",
    "count_election",
    "election_key_for",
    "election_keys",
    "election_order",
    "election_rules",
    "election_tie_break",
    "engine_election",
    "engine_version",
    "normalise",
    "results_document",
]

MAX_BALLOT_ITEMS = 500
"""No round has more projects than this on one ballot; longer input is refused before any work."""

_ENGINE_TYPE = {
    "knapsack": EngineBallotType.APPROVAL,
    "approval": EngineBallotType.APPROVAL,
    "choose-1": EngineBallotType.CHOOSE1,
    "cumulative": EngineBallotType.CUMULATIVE,
    "ranked": EngineBallotType.ORDINAL,
}


class BallotProblem(ValueError):
    """A ballot that breaks a rule of the round.

    ``rule`` names the rule (a stable code the service turns into a Dutch message), ``pointer``
    the JSON field it concerns (``/projects``, ``/points/12``), ``values`` the figures the message
    needs (all integers or strings).
    """

    def __init__(self, rule: str, pointer: str, **values: int | str) -> None:
        super().__init__(f"{rule} at {pointer}: {values}")
        self.rule = rule
        self.pointer = pointer
        self.values = values


@dataclass(frozen=True, slots=True)
class ElectionRules:
    """Everything needed to check a ballot of one election."""

    key: int | None  # district id, or None for the city-wide election
    budget_cents: int
    ballot_type: str
    projects: Mapping[int, Mapping[str, Any]]  # id -> project of the frozen definition
    min_projects: int
    max_projects: int | None
    min_budget_share_permille: int
    approval_max_k: int | None
    cumulative_points: int | None
    blank_allowed: bool
    theme_caps: Mapping[int, int] = field(default_factory=dict)  # theme id -> cap in cents


def election_keys(definition: Mapping[str, Any]) -> list[int | None]:
    """The elections of a round: ``[None]`` in city scope, else the district ids with a budget."""
    if definition["budget"]["scope"] == "districts":
        return [d["id"] for d in definition["districts"] if d.get("budget_cents") is not None]
    return [None]


def election_key_for(definition: Mapping[str, Any], district_id: int | None) -> int | None:
    """The election a voter of ``district_id`` votes in (``None`` = city-wide).

    Raises ``BallotProblem("district", …)`` in a districts round when the voter has no district
    with its own budget: such a voter has no election to vote in.
    """
    if definition["budget"]["scope"] != "districts":
        return None
    if district_id is None or district_id not in election_keys(definition):
        raise BallotProblem("district", "/district_id")
    return district_id


def election_rules(definition: Mapping[str, Any], key: int | None) -> ElectionRules:
    """The rules of the election ``key`` of a frozen round definition."""
    ballot = definition["ballot"]
    if key is None:
        budget = int(definition["budget"]["total_cents"])
        projects = {int(p["id"]): p for p in definition["projects"]}
    else:
        district = next(d for d in definition["districts"] if d["id"] == key)
        budget = int(district["budget_cents"])
        projects = {int(p["id"]): p for p in definition["projects"] if p["district_id"] == key}
    caps = {
        int(t["id"]): int(t["max_spend_cents"])
        for t in definition["themes"]
        if t.get("max_spend_cents") is not None
    }
    return ElectionRules(
        key=key,
        budget_cents=budget,
        ballot_type=ballot["type"],
        projects=projects,
        min_projects=int(ballot.get("min_projects") or 0),
        max_projects=ballot.get("max_projects"),
        min_budget_share_permille=int(ballot.get("min_budget_share_permille") or 0),
        approval_max_k=ballot.get("approval_max_k"),
        cumulative_points=ballot.get("cumulative_points"),
        blank_allowed=bool(ballot.get("blank_allowed")),
        theme_caps=caps,
    )


def _project_id(rules: ElectionRules, value: object, pointer: str) -> int:
    # bool is an int in Python; a ballot naming project `true` is nonsense, not project 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BallotProblem("project-id", pointer)
    if value not in rules.projects:
        raise BallotProblem("unknown-project", pointer, project=value)
    return value


def _ids(rules: ElectionRules, values: object, pointer: str) -> list[int]:
    if not isinstance(values, list | tuple):
        raise BallotProblem("list", pointer)
    if len(values) > MAX_BALLOT_ITEMS:
        raise BallotProblem("too-many", pointer, max=MAX_BALLOT_ITEMS)
    ids = [_project_id(rules, v, f"{pointer}/{i}") for i, v in enumerate(values)]
    seen: set[int] = set()
    for i, pid in enumerate(ids):
        if pid in seen:
            raise BallotProblem("duplicate", f"{pointer}/{i}", project=pid)
        seen.add(pid)
    return ids


def _count_limits(rules: ElectionRules, n: int, pointer: str) -> None:
    if n < max(rules.min_projects, 1):
        raise BallotProblem("min-projects", pointer, min=max(rules.min_projects, 1), chosen=n)
    if rules.max_projects is not None and n > rules.max_projects:
        raise BallotProblem("max-projects", pointer, max=rules.max_projects, chosen=n)


def _cost_limits(rules: ElectionRules, ids: Sequence[int], pointer: str) -> None:
    total = sum(int(rules.projects[pid]["cost_cents"]) for pid in ids)
    if total > rules.budget_cents:
        raise BallotProblem("over-budget", pointer, total=total, budget=rules.budget_cents)
    # Integer comparison: total / budget >= permille / 1000, exactly.
    if total * 1000 < rules.min_budget_share_permille * rules.budget_cents:
        raise BallotProblem(
            "min-budget-share",
            pointer,
            total=total,
            budget=rules.budget_cents,
            permille=rules.min_budget_share_permille,
        )
    spent: dict[int, int] = {}
    for pid in ids:
        theme = rules.projects[pid].get("theme_id")
        if theme is not None and theme in rules.theme_caps:
            spent[theme] = spent.get(theme, 0) + int(rules.projects[pid]["cost_cents"])
    for theme, amount in sorted(spent.items()):
        if amount > rules.theme_caps[theme]:
            raise BallotProblem(
                "theme-cap", pointer, theme=theme, total=amount, cap=rules.theme_caps[theme]
            )


def normalise(rules: ElectionRules, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``raw`` (the booth's JSON) against every rule of the election; return its canonical
    content. Raises ``BallotProblem`` naming the first rule broken.

    ``raw`` holds exactly one of ``projects`` (knapsack, approval, choose-1), ``points``
    (cumulative), ``ranking`` (ranked) or ``blank: true``.
    """
    keys = set(raw)
    if keys == {"blank"}:
        if raw["blank"] is not True:
            raise BallotProblem("blank-value", "/blank")
        if not rules.blank_allowed:
            raise BallotProblem("blank-not-allowed", "/blank")
        return {"blank": True}
    kind = rules.ballot_type
    expected = {"cumulative": "points", "ranked": "ranking"}.get(kind, "projects")
    if keys != {expected}:
        raise BallotProblem("shape", f"/{expected}", expected=expected)
    if kind == "cumulative":
        return {"points": _points(rules, raw["points"])}
    ids = _ids(rules, raw[expected], f"/{expected}")
    if kind == "choose-1" and len(ids) != 1:
        raise BallotProblem("choose-one", f"/{expected}", chosen=len(ids))
    _count_limits(rules, len(ids), f"/{expected}")
    if kind == "approval" and rules.approval_max_k is not None and len(ids) > rules.approval_max_k:
        raise BallotProblem("approval-k", "/projects", max=rules.approval_max_k, chosen=len(ids))
    if kind == "knapsack":
        _cost_limits(rules, ids, "/projects")
    if kind == "ranked":
        return {"ranking": ids}
    return {"projects": sorted(ids)}


def _points(rules: ElectionRules, value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise BallotProblem("points-object", "/points")
    if len(value) > MAX_BALLOT_ITEMS:
        raise BallotProblem("too-many", "/points", max=MAX_BALLOT_ITEMS)
    out: dict[int, int] = {}
    for key, pts in value.items():
        pointer = f"/points/{key}"
        text = str(key)
        if not text.isascii() or not text.isdigit() or len(text) > 10:
            raise BallotProblem("project-id", pointer)
        pid = _project_id(rules, int(text), pointer)
        if pid in out:
            raise BallotProblem("duplicate", pointer, project=pid)
        if isinstance(pts, bool) or not isinstance(pts, int) or pts < 0:
            raise BallotProblem("points-value", pointer)
        if pts > 0:
            out[pid] = pts
    _count_limits(rules, len(out), "/points")
    total = sum(out.values())
    limit = rules.cumulative_points or 0
    if total > limit:
        raise BallotProblem("points-total", "/points", total=total, max=limit)
    return {str(pid): out[pid] for pid in sorted(out)}


def chosen_projects(content: Mapping[str, Any]) -> list[int]:
    """The projects a canonical ballot names, in its own order (empty for a blank ballot)."""
    if "projects" in content:
        return list(content["projects"])
    if "ranking" in content:
        return list(content["ranking"])
    if "points" in content:
        return [int(k) for k in content["points"]]
    return []


def _group_order(
    item: tuple[tuple[tuple[str, ...], tuple[int, ...]], int],
) -> tuple[str, tuple[int, ...]]:
    """A sort key for a ballot group giving the order of the group itself, faster.

    The project ids (``str`` of an int: digits and ``-``, never NUL) joined by NUL compare as the
    tuples do: at the first id that differs either the strings differ at the same place, or one
    id is a prefix of the other and NUL (below every character) or the end of the string comes
    first, as the shorter id does in the tuple. Sorting 80,000 distinct groups by their tuples
    took 0.44 s in one C call, holding the GIL (the results page derives its explanations in a
    thread, and the event loop waited that long); one string comparison per pair is about five
    times faster.
    """
    (projects, points), _weight = item
    return "\x00".join(projects), points


def engine_election(
    definition: Mapping[str, Any], key: int | None, contents: Iterable[Mapping[str, Any]]
) -> Election:
    """The counting engine's election for ``key`` over the canonical ballots ``contents``.

    Identical ballots are grouped with a weight (the engine's result does not depend on it);
    blank ballots are left out (see the module docstring). Project ids become strings (the
    engine's ids), theme caps become engine caps.
    """
    rules = election_rules(definition, key)
    kind = _ENGINE_TYPE[rules.ballot_type]
    # Points per place set by the round (Kraków publishes 3/2/1): a ranking then counts as the
    # points its places earn, i.e. a cumulative ballot; places past the list earn nothing.
    place_scores = definition.get("counting", {}).get("ranked_scores")
    if rules.ballot_type == "ranked" and place_scores:
        kind = EngineBallotType.CUMULATIVE
    groups: dict[tuple[tuple[str, ...], tuple[int, ...]], int] = {}
    for content in contents:
        if "blank" in content:
            continue
        if "ranking" in content and place_scores:
            earned = sorted(
                (pid, int(place_scores[i]))
                for i, pid in enumerate(content["ranking"][: len(place_scores)])
                if int(place_scores[i]) > 0
            )
            if not earned:
                continue
            k2 = (tuple(str(pid) for pid, _ in earned), tuple(v for _, v in earned))
        elif "points" in content:
            items = sorted((int(k), int(v)) for k, v in content["points"].items())
            k2 = (tuple(str(pid) for pid, _ in items), tuple(v for _, v in items))
        elif "ranking" in content:
            k2 = (tuple(str(pid) for pid in content["ranking"]), ())
        else:
            k2 = (tuple(str(pid) for pid in sorted(content["projects"])), ())
        groups[k2] = groups.get(k2, 0) + 1
    ballots = tuple(
        EngineBallot(projects=projects, points=points, weight=weight)
        for (projects, points), weight in sorted(groups.items(), key=_group_order)
    )
    projects = tuple(
        EngineProject(
            id=str(pid),
            cost=int(p["cost_cents"]),
            name=str(p.get("title", "")),
            theme=None if p.get("theme_id") is None else str(p["theme_id"]),
            district=None if p.get("district_id") is None else str(p["district_id"]),
        )
        for pid, p in sorted(rules.projects.items())
    )
    ids = {p.theme for p in projects}
    caps = tuple(
        Cap(kind=CapKind.THEME, key=str(theme), limit=limit)
        for theme, limit in sorted(rules.theme_caps.items())
        if str(theme) in ids
    )
    return Election(
        budget=rules.budget_cents,
        projects=projects,
        ballots=ballots,
        ballot_type=kind,
        decimals=2,
        caps=caps,
    )


def election_order(definition: Mapping[str, Any], key: int | None) -> list[int] | None:
    """The round's explicit tie-break order restricted to the projects of election ``key``.

    The published order names every project of the round (``rounds.readiness`` checks that);
    in a districts round each election holds only its district's projects, and the engine
    wants an order of exactly the projects on the ballot. None when the round has no order.
    """
    order = definition["counting"].get("order")
    if not order:
        return None
    projects = election_rules(definition, key).projects
    return [int(pid) for pid in order if int(pid) in projects]


def election_tie_break(
    definition: Mapping[str, Any], key: int | None, *, seed: str | None
) -> TieBreak:
    """The round's tie-break for election ``key``, with the lot's ``seed`` (None: the engine's
    default, the election's fingerprint)."""
    order = election_order(definition, key)
    return TieBreak(
        name=definition["counting"]["tie_break"],
        seed=seed,
        explicit=tuple(str(pid) for pid in order) if order else (),
    )


def count_election(
    definition: Mapping[str, Any], key: int | None, contents: Iterable[Mapping[str, Any]]
) -> tuple[Election, Outcome]:
    """Count the election ``key`` with the round's frozen rule, tie-break and options.

    The one place a round's settings become engine options, shared by the close (``results``)
    and the independent verifier, so both count exactly alike.
    """
    election = engine_election(definition, key, contents)
    counting = definition["counting"]
    tie_break = election_tie_break(definition, key, seed=counting.get("seed"))
    options: dict[str, object] = {}
    if counting["rule"] == "greedy":
        if counting.get("threshold") is not None:
            options["threshold"] = int(counting["threshold"])
        if counting.get("no_skip"):
            options["no_skip"] = True
        if counting.get("leftover") not in (None, "keep"):
            options["leftover"] = str(counting["leftover"])
    outcome = count(election, counting["rule"], tie_break=tie_break, **options)
    return election, outcome


RESULTS_FORMAT = "burgerbegroting-results/1"


def engine_version() -> str:
    """The counting code's version, recorded with every outcome."""
    from burgerbegroting import __version__  # noqa: PLC0415 - the package root, stdlib only

    return f"burgerbegroting-tally/{__version__}"


def results_document(
    definition: Mapping[str, Any],
    fingerprint: str,
    ballots: Iterable[tuple[int | None, Mapping[str, Any]]],
    *,
    log_head: str,
    log_height: int,
) -> dict[str, Any]:
    """The stored outcome of a round: every election counted over its current ballots.

    A pure function of the frozen definition and the ballots (``(election key, canonical
    content)`` pairs): the close stores its canonical JSON, and the verifier recomputes it from an
    export and compares the bytes.
    """
    by_key: dict[int | None, list[Mapping[str, Any]]] = {
        key: [] for key in election_keys(definition)
    }
    for key, content in ballots:
        if key not in by_key:
            raise BallotProblem("election", "/election", election=str(key))
        by_key[key].append(content)
    elections = []
    for key, contents in by_key.items():
        election, outcome = count_election(definition, key, contents)
        votes = scores(election)
        elections.append(
            {
                "district_id": key,
                "budget_cents": election.budget,
                "ballots": len(contents),
                "blank": sum(1 for c in contents if "blank" in c),
                "votes": {pid: votes[pid] for pid in sorted(votes, key=int)},
                "outcome": outcome.to_json(),
            }
        )
    counting = definition["counting"]
    return {
        "format": RESULTS_FORMAT,
        "round_id": definition["round_id"],
        "fingerprint": fingerprint,
        "rule": counting["rule"],
        "tie_break": counting["tie_break"],
        "engine_version": engine_version(),
        "log_head": log_head,
        "log_height": log_height,
        "elections": elections,
    }
