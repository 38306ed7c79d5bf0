"""Tampering: 1,000 random single changes to a closed round's export, and the verifier names each.

The round is voted through the real API and closed once; each case changes one thing in a copy of
its export (an amount in a ballot, a deleted, inserted or reordered ballot or log event, a
project's cost, a round setting, the stored outcome). Most cases are then **re-signed with the
instance's own key**, as a dishonest server could do: the signature alone would not catch them, so
the other checks must (the hash chain, the replay, the fingerprint, the recount). The rest are left
unsigned and must fail on the digest of the part that changed.
"""

from __future__ import annotations

import copy
import json
import random
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.audit.exportformat import PARTS_CLOSED, manifest_bytes, part_digests
from burgerbegroting.audit.signing import sign
from burgerbegroting.audit.verify import VerificationError, verify
from burgerbegroting.settings import Settings
from tests.audit.factories import (
    auditor_headers,
    export_json,
    two_district_round,
    voted_round,
)

Export = dict[str, Any]
Case = Callable[[Export, random.Random], str]  # changes the export, returns the expected place


def _ballot_heights(export: Export) -> list[int]:
    return [e["height"] for e in export["log"] if e["kind"] == "ballot"]


def change_ballot_event(export: Export, rng: random.Random) -> str:
    height = rng.choice(_ballot_heights(export))
    content = export["log"][height]["payload"]["ballot"]
    projects = [p["id"] for p in export["definition"]["projects"]]
    if "blank" in content:
        export["log"][height]["payload"]["ballot"] = {"projects": [rng.choice(projects)]}
    else:
        chosen = set(content["projects"])
        other = rng.choice([p for p in projects if p not in chosen] or projects)
        chosen ^= {other}
        export["log"][height]["payload"]["ballot"] = {"projects": sorted(chosen)}
    return f"gebeurtenis {height}"


def change_event_field(export: Export, rng: random.Random) -> str:
    height = rng.randrange(len(export["log"]))
    event = export["log"][height]
    field = rng.choice(["hash", "parent", "kind", "day", "supersedes"])
    if field in {"hash", "parent"}:
        digit = "0" if event[field][5] != "0" else "1"
        event[field] = event[field][:5] + digit + event[field][6:]
    elif field == "kind":
        event["kind"] = "roll" if event["kind"] != "roll" else "ballot"
    elif field == "day" and event["kind"] == "ballot":
        event["payload"]["day"] = "2000-01-01"
    elif field == "supersedes" and event["kind"] == "ballot":
        event["payload"]["supersedes"] = (
            None if event["payload"]["supersedes"] else "AAAA-AAAA-AAAA-AAAA"
        )
    else:
        event["payload"]["extra"] = 1
    return f"gebeurtenis {height}"


def delete_event(export: Export, rng: random.Random) -> str:
    height = rng.randrange(1, len(export["log"]))
    del export["log"][height]
    return f"gebeurtenis {height}" if height < len(export["log"]) else "log"


def insert_event(export: Export, rng: random.Random) -> str:
    height = rng.randrange(len(export["log"]))
    export["log"].insert(height + 1, copy.deepcopy(export["log"][height]))
    return f"gebeurtenis {height + 1}"


def swap_events(export: Export, rng: random.Random) -> str:
    height = rng.randrange(len(export["log"]) - 1)
    log = export["log"]
    log[height], log[height + 1] = log[height + 1], log[height]
    return f"gebeurtenis {height}"


def change_current_ballot(export: Export, rng: random.Random) -> str:
    ballot = rng.choice(export["ballots"])
    projects = [p["id"] for p in export["definition"]["projects"]]
    if "blank" in ballot["content"]:
        ballot["content"] = {"projects": [rng.choice(projects)]}
    elif rng.random() < 0.2:
        ballot["election"] = 999
    else:
        chosen = set(ballot["content"]["projects"]) ^ {rng.choice(projects)}
        ballot["content"] = {"projects": sorted(chosen)} if chosen else {"blank": True}
    return f"stembiljet {ballot['ballot_id']}"


def delete_current_ballot(export: Export, rng: random.Random) -> str:
    index = rng.randrange(len(export["ballots"]))
    removed = export["ballots"].pop(index)
    return f"stembiljet {removed['ballot_id']}"


def insert_current_ballot(export: Export, rng: random.Random) -> str:
    copied = copy.deepcopy(rng.choice(export["ballots"]))
    copied["ballot_id"] = f"{rng.getrandbits(128):032x}"
    export["ballots"].append(copied)
    export["ballots"].sort(key=lambda b: b["ballot_id"])
    return f"stembiljet {copied['ballot_id']}"


def reorder_current_ballots(export: Export, rng: random.Random) -> str:
    ballots = export["ballots"]
    i = rng.randrange(len(ballots) - 1)
    ballots[i], ballots[i + 1] = ballots[i + 1], ballots[i]
    return f"stembiljet {ballots[i + 1]['ballot_id']}"


def change_project_cost(export: Export, rng: random.Random) -> str:
    if rng.random() < 0.5:
        project = rng.choice(export["projects"])
        project["cost_cents"] += rng.choice([-100, 1, 50_000])
        return f"project {project['id']}"
    project = rng.choice(export["definition"]["projects"])
    project["cost_cents"] += rng.choice([-100, 1, 50_000])
    return "definition"


def change_round_setting(export: Export, rng: random.Random) -> str:
    definition = export["definition"]
    setting = rng.choice(["budget", "rule", "tie_break", "min_projects", "blank", "theme_cap"])
    if setting == "budget":
        definition["budget"]["total_cents"] += rng.choice([-1, 1, 1_000_000])
    elif setting == "rule":
        definition["counting"]["rule"] = (
            "mes" if definition["counting"]["rule"] != "mes" else "greedy"
        )
    elif setting == "tie_break":
        definition["counting"]["tie_break"] = "lexicographic"
    elif setting == "min_projects":
        definition["ballot"]["min_projects"] = 2
    elif setting == "blank":
        definition["ballot"]["blank_allowed"] = not definition["ballot"]["blank_allowed"]
    else:
        definition["themes"][0]["max_spend_cents"] = 1
    return "definition"


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for k in value for leaf in _leaves(value[k], (*path, k))] or [path]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))] or [path]
    return [path]


def change_outcome(export: Export, rng: random.Random) -> str:
    outcome = export["outcome"]
    path = rng.choice(_leaves(outcome))
    parent = outcome
    for step in path[:-1]:
        parent = parent[step]
    old = parent[path[-1]]
    if isinstance(old, bool):
        new: Any = not old
    elif isinstance(old, int):
        new = old + rng.choice([-1, 1, 100])
    elif isinstance(old, str):
        new = old + "x"
    elif old is None:
        new = 0
    else:  # an empty list or object
        new = [1] if isinstance(old, list) else {"x": 1}
    parent[path[-1]] = new
    return "outcome"


CASES: tuple[Case, ...] = (
    change_ballot_event,
    change_event_field,
    delete_event,
    insert_event,
    swap_events,
    change_current_ballot,
    delete_current_ballot,
    insert_current_ballot,
    reorder_current_ballots,
    change_project_cost,
    change_round_setting,
    change_outcome,
)
PART_OF = {
    "gebeurtenis": "log",
    "log": "log",
    "stembiljet": "ballots",
    "project": "projects",
    "definition": "definition",
    "outcome": "outcome",
}


def resign(export: Export, settings: Settings) -> None:
    manifest = export["manifest"]
    manifest["parts"] = part_digests(export, PARTS_CLOSED)
    export["signature"] = sign(settings, manifest_bytes(manifest))


def test_every_single_change_is_found_and_named(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    _, original = export_json(client, voted.vr.round_id, voted.auditor)
    verify(original)  # the untouched export passes
    rng = random.Random(20261201)
    started = time.perf_counter()
    seen: dict[str, int] = {}
    for case_number in range(1000):
        case = CASES[case_number % len(CASES)]
        export = copy.deepcopy(original)
        expected = case(export, rng)
        assert export != original, case.__name__  # every case is a real change
        resigned = case_number % 10 != 0
        if resigned:
            resign(export, settings)
        with pytest.raises(VerificationError) as problem:
            verify(export)
        place = problem.value.place
        # The exact place: a prefix would let "gebeurtenis 1" stand for "gebeurtenis 10" or "11".
        named = place == expected or (expected == "outcome" and place.startswith("outcome/"))
        assert named, (case.__name__, expected, str(problem))
        if not resigned:
            # A copy changed after signing: the same place, and beside it the part whose digest
            # no longer matches the manifest.
            differing = re.search(r"SHA-256 van deel ([\w, ]+) wijkt af", problem.value.message)
            assert differing is not None, (case.__name__, str(problem))
            part = PART_OF[expected.split(" ")[0]]
            assert part in differing.group(1).split(", "), (case.__name__, str(problem))
        seen[case.__name__] = seen.get(case.__name__, 0) + 1
    elapsed = time.perf_counter() - started
    assert set(seen) == {c.__name__ for c in CASES}
    assert elapsed < 30, f"1,000 cases took {elapsed:.1f} s"


JUNK: tuple[Any, ...] = (None, 0, -1, 2**70, "", "x", [], {}, [None], {"a": None}, True, 1.5)


def test_a_malformed_export_is_refused_with_a_named_problem_never_a_crash(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    _, original = export_json(client, voted.vr.round_id, voted.auditor)
    rng = random.Random(7)
    paths = _leaves(original)
    # Inner nodes too: replacing a whole event, ballot or part must not crash the verifier either.
    paths += sorted({path[:cut] for path in paths for cut in range(1, len(path))})
    tried = 0
    for case_number in range(600):
        export = copy.deepcopy(original)
        path = rng.choice(paths)
        parent: Any = export
        for step in path[:-1]:
            parent = parent[step]
        junk = rng.choice(JUNK)
        same = json.dumps(parent[path[-1]], sort_keys=True) == json.dumps(junk, sort_keys=True)
        if same or path[-1] == "summary":
            continue  # no change at all, or the one field nothing depends on (a project's summary)
        parent[path[-1]] = junk
        resigned = case_number % 2 == 1
        if resigned:
            resign_any(export, settings)
        if json.dumps(export, sort_keys=True) == json.dumps(original, sort_keys=True):
            continue  # re-signing restored what was changed (the digests or the signature)
        with pytest.raises(VerificationError):
            verify(export)
        tried += 1
    assert tried > 500


def resign_any(export: Export, settings: Settings) -> None:
    """Re-sign whatever is left of the export, if its manifest can still be signed at all."""
    manifest = export.get("manifest")
    if not isinstance(manifest, dict):
        return
    try:
        manifest["parts"] = part_digests(export, PARTS_CLOSED)
        export["signature"] = sign(settings, manifest_bytes(manifest))
    except (KeyError, TypeError):
        return


def test_a_change_to_the_outcome_of_any_election_of_a_district_round_is_found(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """The 1,000 cases above tamper with a city-wide round: one election. A recount that compared
    only the first election of a district round passed every test (mutation run). Here each
    election's outcome, votes and ballot count is changed in turn, re-signed, and must be named
    at that election."""
    vr = two_district_round(client, settings)
    _, original = export_json(client, vr.round_id, auditor_headers(settings))
    verify(original)
    elections = original["outcome"]["elections"]
    assert [e["district_id"] for e in elections] == list(vr.districts)

    def drop_winner(election: dict[str, Any]) -> None:
        election["outcome"]["selected"] = election["outcome"]["selected"][1:]

    def more_votes(election: dict[str, Any]) -> None:
        pid = next(iter(election["votes"]))
        election["votes"][pid] += 1

    def more_ballots(election: dict[str, Any]) -> None:
        election["ballots"] += 1

    for index in range(len(elections)):
        assert elections[index]["outcome"]["selected"], index
        for change in (drop_winner, more_votes, more_ballots):
            export = copy.deepcopy(original)
            change(export["outcome"]["elections"][index])
            resign(export, settings)
            with pytest.raises(VerificationError) as problem:
                verify(export)
            where = f"outcome/elections/{index}/"
            assert problem.value.place.startswith(where), (index, change.__name__, problem.value)
