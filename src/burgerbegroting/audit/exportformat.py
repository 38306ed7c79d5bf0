"""The audit export's format, shared by the server's export and the independent verifier.

What both sides must compute alike, byte for byte, so that they cannot drift: the part digests,
the manifest bytes the signature covers, the key id, and the pabulib file of each election (its
META, projects with votes and selection, and the ballots in the keyed shuffled order). The server
(``audit.export``) writes the export with these; the verifier (``audit.verify``) checks it with
these. Like the verifier, this module imports only the standard library, canonical JSON, the pure
ballot rules and the counting engine (import-linter and ``tests/audit/test_verify_purity.py``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from burgerbegroting.voting.ballots import election_order, election_rules
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.tally.pabulib import LEFTOVER_FUND_BY_SCORE, PabulibFile, write_pabulib

__all__ = [
    "CITY",
    "EXPORT_FORMAT",
    "GENESIS_PARENT",
    "PARTS_CLOSED",
    "PARTS_VOTING",
    "SIGNATURE_ALGORITHM",
    "election_label",
    "key_id",
    "manifest_bytes",
    "pabulib_file",
    "pabulib_file_of",
    "pabulib_text",
    "part_digests",
]

EXPORT_FORMAT = "burgerbegroting-audit/1"
GENESIS_PARENT = "0" * 64
PARTS_VOTING = ("definition", "projects", "log")
PARTS_CLOSED = ("definition", "projects", "log", "ballots", "outcome")
SIGNATURE_ALGORITHM = "Ed25519"
CITY = "city"

_PB_TYPE = {
    "knapsack": "approval",
    "approval": "approval",
    "choose-1": "choose-1",
    "cumulative": "cumulative",
    "ranked": "ordinal",
}


def key_id(public_raw: bytes) -> str:
    """A short name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def part_digests(export: Mapping[str, Any], parts: Iterable[str]) -> dict[str, str]:
    """SHA-256 (hex) of the canonical JSON of each part of the export."""
    return {name: hashlib.sha256(canonical_json(export[name])).hexdigest() for name in parts}


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the manifest's canonical JSON."""
    return canonical_json(manifest)


def election_label(key: int | None) -> str:
    """``city`` for the city-wide election, else the district id as text."""
    return CITY if key is None else str(key)


def _shuffle_key(fingerprint: str, ballot_id: str) -> str:
    # A keyed order: deterministic (two exports are identical) and unrelated to the order in
    # which ballots were cast or to the ballot ids' own order.
    return hashlib.sha256(f"{fingerprint}:{ballot_id}".encode()).hexdigest()


def _euro(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}"


def _pb_date(iso: str | None) -> str:
    # pabulib writes dates as dd.mm.yyyy; the log holds UTC ISO times.
    if not iso:
        return ""
    year, month, day = iso[:10].split("-")
    return f"{day}.{month}.{year}"


def _events_of_kind(log: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [e for e in log if e.get("kind") == kind]


def pabulib_file(export: Mapping[str, Any], key: int | None) -> PabulibFile:
    """The pabulib file of one election of a closed round's export.

    META: rule, budget, dates, vote type and the ballot limits; PROJECTS: cost, votes (ballots
    naming the project), score (the engine's score), selected; VOTES: the non-blank current
    ballots with anonymous voter ids 1..n in an order keyed on the round fingerprint.
    """
    genesis = _events_of_kind(export["log"], "genesis")
    end = _events_of_kind(export["log"], "end")
    return pabulib_file_of(
        export["definition"],
        export["manifest"]["fingerprint"],
        export["outcome"],
        key,
        opened=genesis[0]["payload"].get("opened") if genesis else None,
        closed=end[0]["payload"].get("closed") if end else None,
        ballots=((b["ballot_id"], b["content"]) for b in export["ballots"] if b["election"] == key),
    )


def pabulib_file_of(
    definition: Mapping[str, Any],
    fingerprint: str,
    outcome_doc: Mapping[str, Any],
    key: int | None,
    *,
    opened: str | None,
    closed: str | None,
    ballots: Iterable[tuple[str, Mapping[str, Any]]],
) -> PabulibFile:
    """:func:`pabulib_file` from its parts: ``ballots`` are the election's current ballots as
    (ballot id, canonical content), in the export's order, read once.

    Each ballot is reduced at once to a tuple of strings (its shuffle key and its VOTES fields),
    so that the server can pass contents parsed one at a time from the stored text: 100,000
    ballots held as dictionaries and lists kept the garbage collector's full passes busy for
    about a second per download, holding the GIL (and so the event loop), while tuples of
    strings are not tracked by the collector at all.
    """
    rules = election_rules(definition, key)
    election = next(e for e in outcome_doc["elections"] if e["district_id"] == key)
    selected = set(election["outcome"]["selected"])
    counting = definition["counting"]
    # Points per place (ranked rounds that set them): the engine counts a ranking as the points
    # its places earn, so the file holds those points as a cumulative ballot, as counted.
    place_scores = counting.get("ranked_scores") if rules.ballot_type == "ranked" else None
    cumulative = rules.ballot_type == "cumulative" or bool(place_scores)
    supporters: Counter[int] = Counter()
    rows: list[tuple[str, str, str]] = []
    for uid, raw in ballots:
        if "blank" in raw:
            continue
        content = _as_counted(raw, place_scores)
        ids = _named(content)
        if not ids:
            continue
        supporters.update(ids)
        points = ",".join(str(content["points"][str(pid)]) for pid in ids) if cumulative else ""
        rows.append((_shuffle_key(fingerprint, uid), ",".join(str(pid) for pid in ids), points))
    rows = _sorted_by_first(rows)
    district = None if key is None else next(d for d in definition["districts"] if d["id"] == key)
    meta: list[tuple[str, str]] = [
        ("description", f"Burgerbegroting ronde {definition['round_id']}"),
        ("country", "Netherlands"),
        ("language", "nl"),
        ("currency", "EUR"),
        ("instance", str(definition["round_id"])),
        ("election", election_label(key)),
    ]
    if district is not None:
        meta.append(("district", str(district["name"])))
    meta += [
        ("fingerprint", fingerprint),
        ("num_projects", str(len(rules.projects))),
        ("num_votes", str(len(rows))),
        ("blank_votes", str(election["blank"])),
        ("budget", _euro(rules.budget_cents)),
        ("vote_type", "cumulative" if place_scores else _PB_TYPE[rules.ballot_type]),
        ("ballot_type", rules.ballot_type),
        ("rule", definition["counting"]["rule"]),
        ("tie_break", definition["counting"]["tie_break"]),
        # The lot the count actually used (lowest-cost ties): `burgerbegroting tally --seed`.
        ("tie_break_seed", str(election["outcome"].get("seed") or "")),
        ("date_begin", _pb_date(opened)),
        ("date_end", _pb_date(closed)),
    ]
    # What `burgerbegroting tally` needs besides the rule to count the file as the round was:
    if place_scores:
        meta.append(("ranked_scores", ",".join(str(v) for v in place_scores)))
    if counting.get("leftover") == "fund-by-score":
        meta.append(("leftover_budget", LEFTOVER_FUND_BY_SCORE))
    if counting.get("threshold") is not None:  # greedy: the minimum score (--threshold file)
        meta.append(("min_project_score_threshold", str(counting["threshold"])))
    if counting.get("no_skip"):  # greedy: stop at the first project that does not fit
        meta.append(("greedy_no_skip", "1"))
    order = election_order(definition, key)
    if order:  # the explicit tie-break order of this election's projects (--order)
        meta.append(("tie_break_order", ",".join(str(pid) for pid in order)))
    if rules.min_projects and not place_scores:  # places past the scores earn nothing
        meta.append(("min_length", str(rules.min_projects)))
    limits = [rules.max_projects]
    if rules.ballot_type == "approval":
        limits.append(rules.approval_max_k)
    if rules.ballot_type == "choose-1":
        limits.append(1)
    if any(limit is not None for limit in limits):
        meta.append(("max_length", str(min(limit for limit in limits if limit is not None))))
    if rules.ballot_type == "knapsack":
        meta.append(("max_sum_cost", _euro(rules.budget_cents)))
    if rules.ballot_type == "cumulative" and rules.cumulative_points is not None:
        meta.append(("max_sum_points", str(rules.cumulative_points)))
    themes_used = {
        p.get("theme_id") for p in rules.projects.values() if p.get("theme_id") is not None
    }
    caps = [(t, c) for t, c in sorted(rules.theme_caps.items()) if t in themes_used]
    if caps:
        meta.append(("categories", ",".join(str(t) for t, _c in caps)))
        meta.append(("budget_per_category", ",".join(_euro(c) for _t, c in caps)))
    score_field = rules.ballot_type in {"cumulative", "ranked"}
    project_fields = ["project_id", "cost", "votes"]
    if score_field:
        project_fields.append("score")
    project_fields += ["name", "category", "selected"]
    projects = []
    for pid, project in sorted(rules.projects.items()):
        row = [str(pid), _euro(int(project["cost_cents"])), str(supporters[pid])]
        if score_field:
            row.append(str(election["votes"].get(str(pid), 0)))
        theme = project.get("theme_id")
        row += [
            str(project.get("title", "")),
            "" if theme is None else str(theme),
            "1" if str(pid) in selected else "0",
        ]
        projects.append(tuple(row))
    vote_fields = ["voter_id", "vote"] + (["points"] if cumulative else [])
    votes = tuple(
        (str(n), vote, points) if cumulative else (str(n), vote)
        for n, (_order, vote, points) in enumerate(rows, start=1)
    )
    return PabulibFile(
        meta=tuple(meta),
        project_fields=tuple(project_fields),
        projects=tuple(projects),
        vote_fields=tuple(vote_fields),
        votes=votes,
    )


def _sorted_by_first(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``rows`` sorted (stably) by their first field, a hex digest, sorted in 256 buckets by its
    first two digits: the same order as one ``sort``, but not one C call holding the GIL for the
    whole list (about 50 ms for 100,000 rows, the server's event loop waiting meanwhile)."""
    buckets: dict[str, list[tuple[str, str, str]]] = {}
    for row in rows:
        buckets.setdefault(row[0][:2], []).append(row)
    ordered: list[tuple[str, str, str]] = []
    for prefix in sorted(buckets):
        bucket = buckets[prefix]
        bucket.sort(key=itemgetter(0))
        ordered.extend(bucket)
    return ordered


def _as_counted(
    content: Mapping[str, Any], place_scores: Sequence[int] | None
) -> Mapping[str, Any]:
    if not place_scores or "ranking" not in content:
        return content
    earned = {
        str(pid): int(place_scores[i])
        for i, pid in enumerate(content["ranking"][: len(place_scores)])
        if int(place_scores[i]) > 0
    }
    return {"points": earned}


def pabulib_text(export: Mapping[str, Any], key: int | None) -> str:
    return write_pabulib(pabulib_file(export, key))


def _named(content: Mapping[str, Any]) -> list[int]:
    if "projects" in content:
        return [int(p) for p in content["projects"]]
    if "ranking" in content:
        return [int(p) for p in content["ranking"]]
    if "points" in content:
        return sorted(int(k) for k in content["points"])
    return []
