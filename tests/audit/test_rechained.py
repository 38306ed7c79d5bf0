"""Tampering by the server itself: a changed log whose hash chain is rebuilt and re-signed.

``test_tamper.py`` changes one thing and leaves the chain as it was, so the hash check names every
change at its event. A dishonest server holds the key and every event: it can change an event and
then recompute every later hash (and receipt), the manifest's head and the signature. The chain
then holds, and only the verifier's other log checks can catch the change: ballot validity (also
of a revote), last-ballot-counts (``supersedes`` and ``void`` naming a ballot that counts, in the
same election), the end event (last, and counting the events before it), and genesis naming this
round and its voter roll. Each case here breaks exactly one of them; the verifier must fail at the
changed event, with that check's message. Each of these checks was removed in turn and the
untouched test suite still passed (``tests/audit`` and the golden election): these tests fail
without them.

``audit diff`` is the auditor's defence against a rebuilt chain during voting: an export taken
earlier must be a prefix of a later one, event for event.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.audit.exportformat import (
    GENESIS_PARENT,
    PARTS_CLOSED,
    PARTS_VOTING,
    manifest_bytes,
    part_digests,
)
from burgerbegroting.audit.signing import sign
from burgerbegroting.audit.verify import VerificationError, diff, verify
from burgerbegroting.settings import Settings
from burgerbegroting.voting.canonical import event_hash, receipt_from_hash
from tests.audit.factories import (
    auditor_headers,
    export_json,
    two_district_round,
    vote,
    voted_round,
)
from tests.voting.factories import issue_codes, redeem

Export = dict[str, Any]


def rechain(export: Export, settings: Settings) -> None:
    """Recompute every event's height, parent and hash from genesis, rename the receipts that
    ``supersedes`` and ``void`` name to the rebuilt ones, and re-sign: what a server that holds
    the key can do after changing its log."""
    round_id = export["manifest"]["round_id"]
    parent = GENESIS_PARENT
    renamed: dict[str, str] = {}
    for height, event in enumerate(export["log"]):
        payload = event["payload"]
        if event["kind"] == "ballot" and payload.get("supersedes") in renamed:
            payload["supersedes"] = renamed[payload["supersedes"]]
        if event["kind"] == "void" and payload.get("voids") in renamed:
            payload["voids"] = renamed[payload["voids"]]
        old = event["hash"]
        event["height"] = height
        event["parent"] = parent
        event["hash"] = event_hash(
            round_id=round_id, height=height, parent=parent, kind=event["kind"], payload=payload
        )
        if event["kind"] == "ballot":
            renamed[receipt_from_hash(old)] = receipt_from_hash(event["hash"])
        parent = event["hash"]
    manifest = export["manifest"]
    manifest["log_head"] = parent
    manifest["log_height"] = len(export["log"]) - 1
    parts = PARTS_CLOSED if manifest["state"] == "closed" else PARTS_VOTING
    manifest["parts"] = part_digests(export, parts)
    export["signature"] = sign(settings, manifest_bytes(manifest))


def _receipt(export: Export, height: int) -> str:
    return receipt_from_hash(export["log"][height]["hash"])


def _ballot(height: int, content: dict[str, Any]) -> Callable[[Export], None]:
    def change(export: Export) -> None:
        export["log"][height]["payload"]["ballot"] = content

    return change


def _payload(height: int, key: str, value: Any) -> Callable[[Export], None]:
    def change(export: Export) -> None:
        export["log"][height]["payload"][key] = value

    return change


def _names_receipt_of(height: int, key: str, target: int) -> Callable[[Export], None]:
    """Event ``height`` names (in ``key``) the receipt of event ``target``, as first exported."""

    def change(export: Export) -> None:
        export["log"][height]["payload"][key] = _receipt(export, target)

    return change


def _event_after_end(export: Export) -> None:
    extra = copy.deepcopy(export["log"][8])
    extra["payload"]["ballot_id"] = "f" * 32
    export["log"].append(extra)


def _same_ballot_id(export: Export) -> None:
    export["log"][4]["payload"]["ballot_id"] = export["log"][3]["payload"]["ballot_id"]


# The closed round of ``voted_round``: 0 genesis, 1 roll (codes issued), 2-8 ballots (voter 0 at 2,
# recast at 7 superseding 2; voter 5 at 8), 9 roll (code revoked), 10 void of 8, 11 end. Budget
# € 100,000; projects 1-4 cost € 60,000, 30,000, 30,000 and 20,000 (knapsack).
CASES: dict[str, tuple[Callable[[Export], None], str, str]] = {
    "a first ballot over the budget": (
        _ballot(2, {"projects": [1, 2, 3, 4]}),
        "gebeurtenis 2",
        "ongeldig stembiljet",
    ),
    "a revote over the budget": (
        _ballot(7, {"projects": [1, 2, 3, 4]}),
        "gebeurtenis 7",
        "ongeldig stembiljet",
    ),
    "a ballot naming a project not on it": (
        _ballot(3, {"projects": [2, 99]}),
        "gebeurtenis 3",
        "ongeldig stembiljet",
    ),
    "a ballot not in its canonical form": (
        _ballot(3, {"projects": [3, 2]}),
        "gebeurtenis 3",
        "canonieke",
    ),
    "a ballot of an unknown election": (
        _payload(3, "election", 999),
        "gebeurtenis 3",
        "onbekende verkiezing",
    ),
    "two ballots with one ballot id": (_same_ballot_id, "gebeurtenis 4", "dubbel"),
    "a revote of a ballot that no longer counts": (
        _names_receipt_of(8, "supersedes", 2),
        "gebeurtenis 8",
        "niet telde",
    ),
    "a void of a ballot that no longer counts": (
        _names_receipt_of(10, "voids", 2),
        "gebeurtenis 10",
        "niet telde",
    ),
    "an end event counting other events": (
        _payload(11, "events", 10),
        "gebeurtenis 11",
        "verwacht 11",
    ),
    "an event after the end": (_event_after_end, "gebeurtenis 12", "na de sluiting"),
    "a genesis of another round": (
        _payload(0, "round_fingerprint", "0" * 64),
        "gebeurtenis 0",
        "andere vingerafdruk van de ronde",
    ),
    "a genesis roll its fingerprint does not name": (
        _payload(0, "roll", {"districts": [{"codes": 1, "digest": "0", "district_id": None}]}),
        "gebeurtenis 0",
        "kiezerslijst",
    ),
    "a roll event its fingerprint does not name": (
        _payload(1, "roll", {"districts": []}),
        "gebeurtenis 1",
        "kiezerslijst",
    ),
}


def test_a_rebuilt_and_resigned_log_is_still_refused_at_the_changed_event(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    _, original = export_json(client, voted.vr.round_id, voted.auditor)
    kinds = [e["kind"] for e in original["log"]]
    assert kinds == ["genesis", "roll", *["ballot"] * 7, "roll", "void", "end"]
    assert original["log"][7]["payload"]["supersedes"] == _receipt(original, 2)
    assert original["log"][10]["payload"]["voids"] == _receipt(original, 8)
    # The helper itself is sound: rebuilding an unchanged log gives the same export back.
    same = copy.deepcopy(original)
    rechain(same, settings)
    assert same == original
    verify(same)
    for name, (change, place, message) in CASES.items():
        export = copy.deepcopy(original)
        change(export)
        rechain(export, settings)
        assert export["log"] != original["log"], name
        with pytest.raises(VerificationError) as problem:
            verify(export)
        assert problem.value.place == place, (name, str(problem.value))
        assert message in problem.value.message, (name, str(problem.value))


def test_a_revote_may_not_replace_a_ballot_of_another_election(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Two districts: a rebuilt log in which a ballot of Zuid supersedes the ballot of a voter of
    Noord would drop Noord's ballot while each election still counts valid ballots."""
    vr = two_district_round(client, settings, voters_per_district=1)
    _, original = export_json(client, vr.round_id, auditor_headers(settings))
    ballots = [e["height"] for e in original["log"] if e["kind"] == "ballot"]
    noord, zuid = ballots
    assert original["log"][noord]["payload"]["election"] == vr.districts[0]
    assert original["log"][zuid]["payload"]["election"] == vr.districts[1]
    export = copy.deepcopy(original)
    _names_receipt_of(zuid, "supersedes", noord)(export)
    rechain(export, settings)
    with pytest.raises(VerificationError) as problem:
        verify(export)
    assert problem.value.place == f"gebeurtenis {zuid}"
    assert "andere verkiezing" in problem.value.message


def test_diff_refuses_a_later_export_whose_earlier_events_were_rewritten_or_dropped(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """During voting the server could rebuild its chain with one ballot changed, or one dropped:
    the later export verifies on its own, so only ``audit diff`` against an export taken earlier
    shows it, at the first event that differs."""
    voted = voted_round(client, settings, closed=False)
    _, early = export_json(client, voted.vr.round_id, voted.auditor)
    voter = redeem(client, issue_codes(settings, voted.vr, 1)[0])
    vote(client, voted.vr.round_id, voter, {"projects": [voted.vr.projects[1]]})
    _, later = export_json(client, voted.vr.round_id, voted.auditor)
    key = bytes.fromhex(client.get("/.well-known/burgerbegroting-key").json()["public_key_hex"])
    assert "NEW verlengt OLD" in diff(early, later, public_key=key).text()
    assert early["log"][3]["kind"] == early["log"][6]["kind"] == "ballot"

    rewritten = copy.deepcopy(later)
    rewritten["log"][3]["payload"]["ballot"] = {"projects": [1, 4]}
    rechain(rewritten, settings)
    verify(rewritten, public_key=key)  # sound on its own: a valid ballot, a whole chain
    with pytest.raises(VerificationError) as changed:
        diff(early, rewritten, public_key=key)
    assert changed.value.place == "gebeurtenis 3"

    # A log cut short under a manifest that still names the head it had: refused at the manifest
    # (the mutation run without this check passed all but a random junk case).
    cut = copy.deepcopy(later)
    del cut["log"][-1]
    cut["manifest"]["parts"] = part_digests(cut, PARTS_VOTING)
    cut["signature"] = sign(settings, manifest_bytes(cut["manifest"]))
    with pytest.raises(VerificationError) as short:
        verify(cut, public_key=key)
    assert short.value.place == "manifest"

    dropped = copy.deepcopy(later)
    del dropped["log"][6]  # voter 4's only ballot: nothing later names it
    rechain(dropped, settings)
    verify(dropped, public_key=key)
    assert len(dropped["log"]) >= len(early["log"])
    with pytest.raises(VerificationError) as removed:
        diff(early, dropped, public_key=key)
    assert removed.value.place == "gebeurtenis 6"
