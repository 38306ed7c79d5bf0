"""Audit verifier speed: a signed closed-round export of N voters, verified end to end.

Builds the export in process, without a database, exactly as the server shapes it: a frozen
city-wide knapsack definition (30 projects), a ballot log from genesis through N first casts, N/10
recasts (``supersedes``) and N/100 voids to the end event, the current ballots, the outcome from
``voting.ballots.results_document`` and a manifest signed with a key derived from a fixed secret.
Then it times ``audit.verify.verify`` on it (signature, digests, fingerprint, chain, replay, every
ballot's rules, the recount) and, separately, writing and checking the ``.pb`` file.

    .venv/bin/python benchmarks/audit.py                      # 10,000 voters, greedy
    .venv/bin/python benchmarks/audit.py --voters 50000 --rule mes
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import random
import time
from typing import Any

from burgerbegroting.audit.exportformat import (
    EXPORT_FORMAT,
    GENESIS_PARENT,
    PARTS_CLOSED,
    manifest_bytes,
    pabulib_text,
    part_digests,
)
from burgerbegroting.audit.signing import public_key_info, sign
from burgerbegroting.audit.verify import Report, check_pb, verify
from burgerbegroting.settings import Settings
from burgerbegroting.voting.ballots import election_rules, normalise, results_document
from burgerbegroting.voting.canonical import canonical_json, event_hash, receipt_from_hash


def definition(rule: str, projects: int) -> dict[str, Any]:
    rng = random.Random(1)
    return {
        "format": "burgerbegroting-round/1",
        "round_id": 1,
        "budget": {"total_cents": 30_000_000, "scope": "city"},
        "districts": [],
        "themes": [{"id": 1, "name": "Zorg", "max_spend_cents": None}],
        "ballot": {
            "type": "knapsack",
            "approval_max_k": None,
            "cumulative_points": None,
            "min_projects": 0,
            "max_projects": None,
            "min_budget_share_permille": 0,
            "blank_allowed": True,
        },
        "counting": {"rule": rule, "tie_break": "lexicographic"},
        "eligibility": {
            "min_age": 12,
            "districts": [],
            "vote_by_code": True,
            "vote_by_account": False,
        },
        "supports": {"enabled": False, "threshold": None},
        "projects": [
            {
                "id": 100 + i,
                "title": f"Project {i}",
                "cost_cents": rng.randrange(5_000, 40_000) * 100,
                "theme_id": 1,
                "district_id": None,
            }
            for i in range(projects)
        ],
    }


def build(voters: int, rule: str) -> dict[str, Any]:
    rng = random.Random(2)
    frozen = definition(rule, 30)
    fingerprint = hashlib.sha256(canonical_json(frozen)).hexdigest()
    rules = election_rules(frozen, None)
    ids = sorted(rules.projects)
    log: list[dict[str, Any]] = []

    def add(kind: str, payload: dict[str, Any]) -> str:
        height = len(log)
        parent = log[-1]["hash"] if log else GENESIS_PARENT
        digest = event_hash(round_id=1, height=height, parent=parent, kind=kind, payload=payload)
        log.append(
            {"height": height, "parent": parent, "kind": kind, "payload": payload, "hash": digest}
        )
        return digest

    roll = {"districts": [{"district_id": None, "codes": voters, "digest": "0" * 64}]}
    add(
        "genesis",
        {
            "round_fingerprint": fingerprint,
            "roll_fingerprint": hashlib.sha256(canonical_json(roll)).hexdigest(),
            "roll": roll,
            "opened": "2027-03-01T09:00:00Z",
        },
    )

    def ballot() -> dict[str, Any]:
        while True:
            chosen = rng.sample(ids, rng.randint(1, 6))
            try:
                return normalise(rules, {"projects": chosen})
            except ValueError:
                continue

    current: dict[str, tuple[str, dict[str, Any]]] = {}  # receipt -> (uid, content)
    receipts: list[str] = []
    for n in range(voters + voters // 10):
        supersedes = rng.choice(receipts) if n >= voters and receipts else None
        if supersedes is not None and supersedes not in current:
            supersedes = None
        uid = f"{rng.getrandbits(128):032x}"
        content = ballot()
        receipt = receipt_from_hash(
            add(
                "ballot",
                {
                    "ballot_id": uid,
                    "election": None,
                    "ballot": content,
                    "supersedes": supersedes,
                    "day": "2027-03-02",
                },
            )
        )
        if supersedes is not None:
            del current[supersedes]
            receipts.remove(supersedes)
        current[receipt] = (uid, content)
        receipts.append(receipt)
    for receipt in rng.sample(receipts, voters // 100):
        add("void", {"voids": receipt})
        del current[receipt]
    add("end", {"closed": "2027-03-15T17:00:00Z", "events": len(log)})
    ballots = sorted(
        ({"election": None, "ballot_id": uid, "content": c} for uid, c in current.values()),
        key=lambda b: b["ballot_id"],
    )
    outcome = results_document(
        frozen,
        fingerprint,
        [(None, b["content"]) for b in ballots],
        log_head=log[-1]["hash"],
        log_height=log[-1]["height"],
    )
    body = {
        "definition": frozen,
        "projects": [
            {
                **{k: p[k] for k in ("id", "title", "cost_cents", "theme_id", "district_id")},
                "summary": "",
                "theme": "Zorg",
                "district": None,
            }
            for p in frozen["projects"]
        ],
        "log": log,
        "ballots": ballots,
        "outcome": outcome,
    }
    settings = Settings(secret_key="benchmark-secret-" + "x" * 40)
    key = public_key_info(settings)
    manifest = {
        "format": EXPORT_FORMAT,
        "round_id": 1,
        "state": "closed",
        "fingerprint": fingerprint,
        "log_head": log[-1]["hash"],
        "log_height": log[-1]["height"],
        "engine_version": outcome["engine_version"],
        "parts": part_digests(body, PARTS_CLOSED),
        "key": {k: key[k] for k in ("algorithm", "key_id", "public_key")},
    }
    return {
        "format": EXPORT_FORMAT,
        "manifest": manifest,
        "signature": sign(settings, manifest_bytes(manifest)),
        **body,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voters", type=int, default=10_000)
    parser.add_argument("--rule", default="greedy")
    args = parser.parse_args()
    started = time.perf_counter()
    export = build(args.voters, args.rule)
    built = time.perf_counter() - started
    size = len(canonical_json(export))
    started = time.perf_counter()
    report = verify(export)
    verified = time.perf_counter() - started
    started = time.perf_counter()
    text = pabulib_text(export, None)
    check_pb(export, "ronde.pb", text, Report())
    pb_time = time.perf_counter() - started
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    print(
        f"{args.voters} voters, {len(export['log'])} log events, {len(export['ballots'])} current "
        f"ballots, rule {args.rule}; export {size / 1e6:.1f} MB (built in {built:.1f} s)"
    )
    print(f"verify: {verified:.2f} s; .pb write + check: {pb_time:.2f} s")
    print(report.lines[-1])


if __name__ == "__main__":
    main()
