"""The ballot log's hash and the receipt, pinned to their written definition (docs/security.md).

Every other test (the replays, ``audit.verify``) recomputes hashes and receipts with the same
``voting.canonical`` functions the server uses, so a change to what an event's hash covers (the
parent, say) or to how a receipt is cut from it would pass them all while breaking what an
auditor's independent tool computes. These tests compute both from bytes written out by hand.
"""

from __future__ import annotations

import hashlib
from typing import Any

from burgerbegroting.voting.canonical import event_hash, receipt_from_hash

PARENT = "ab" * 32


def test_an_event_hash_is_the_sha256_of_its_canonical_envelope_written_out() -> None:
    payload = {"ballot": {"projects": [3, 12]}, "ballot_id": "f" * 32, "supersedes": None}
    envelope = (
        '{"height":5,"kind":"ballot","parent":"' + PARENT + '","payload":'
        '{"ballot":{"projects":[3,12]},"ballot_id":"' + "f" * 32 + '","supersedes":null},'
        '"round_id":7}'
    )
    expected = hashlib.sha256(envelope.encode("ascii")).hexdigest()
    assert (
        event_hash(round_id=7, height=5, parent=PARENT, kind="ballot", payload=payload) == expected
    )


def test_every_field_of_the_envelope_changes_the_hash() -> None:
    """The chain holds only when the hash covers the parent (and height, round, kind, payload):
    otherwise an event could be dropped and its successor's parent rewritten, leaving every later
    hash and the published head unchanged."""
    base: dict[str, Any] = {
        "round_id": 7,
        "height": 5,
        "parent": PARENT,
        "kind": "ballot",
        "payload": {"ballot": {"projects": [3]}},
    }
    changed: list[dict[str, Any]] = [
        {"round_id": 8},
        {"height": 6},
        {"parent": "cd" * 32},
        {"kind": "void"},
        {"payload": {"ballot": {"projects": [4]}}},
    ]
    first = event_hash(**base)
    for change in changed:
        assert event_hash(**{**base, **change}) != first, change


def test_a_receipt_is_the_first_80_bits_of_its_event_hash_in_base32() -> None:
    digest = bytes(range(10)).hex() + "ff" * 22
    assert receipt_from_hash(digest) == "AAAQ-EAYE-AUDA-OCAJ"
    assert receipt_from_hash("00" * 32) == "AAAA-AAAA-AAAA-AAAA"
    # Only those 80 bits: the rest of the hash does not change the receipt.
    assert receipt_from_hash(bytes(range(10)).hex() + "00" * 22) == "AAAQ-EAYE-AUDA-OCAJ"
