"""Canonical JSON and hashes: the one byte form that fingerprints, log events and exports share.

Standard library only (an import-linter contract keeps it so): the independent verifier
(``audit.verify``) imports this module to recompute every hash without the app.

Canonical JSON: sorted keys, no whitespace, UTF-8 (not ASCII-escaped), no floats (money is integer
cents, ratios are "p/q" strings), no NaN. Two equal values always give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

__all__ = [
    "RECEIPT_BYTES",
    "canonical_json",
    "event_hash",
    "iso_utc",
    "normalise_receipt",
    "receipt_from_hash",
    "sha256_hex",
]

RECEIPT_BYTES = 10
"""A receipt is the first 80 bits of its log event's hash: 16 base32 characters in groups of 4.

80 bits are far beyond guessing (no one finds another voter's receipt by trying) and far beyond a
forged event with the same prefix (2**80 hash evaluations)."""

# RFC 4648 base32 without padding, upper case: letters and the digits 2-7 (no 0/1/8/9).
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def iso_utc(value: datetime) -> str:
    """``2027-03-01T09:00:00Z``: the one time format of canonical JSON."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8. Floats are refused: money is integer cents."""

    def refuse(obj: object) -> object:
        raise TypeError(f"not canonical: {type(obj).__name__}")

    def check(obj: object) -> None:
        if isinstance(obj, float):
            raise TypeError("floats are not allowed in canonical JSON")
        if isinstance(obj, dict):
            for key, item in obj.items():
                if not isinstance(key, str):
                    raise TypeError("canonical JSON keys are strings")
                check(item)
        elif isinstance(obj, list | tuple):
            for item in obj:
                check(item)

    check(value)
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=refuse,
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_hash(*, round_id: int, height: int, parent: str, kind: str, payload: object) -> str:
    """SHA-256 (hex) of one ballot-log event: its canonical envelope, parent hash included.

    Chaining the parent makes every event commit to all before it: changing, dropping, adding or
    reordering any event changes every later hash and the published head.
    """
    envelope = {
        "round_id": round_id,
        "height": height,
        "parent": parent,
        "kind": kind,
        "payload": payload,
    }
    return sha256_hex(canonical_json(envelope))


def receipt_from_hash(event_hash_hex: str) -> str:
    """The receipt of a ballot event: base32 of the hash's first 80 bits, ``XXXX-XXXX-XXXX-XXXX``."""
    raw = bytes.fromhex(event_hash_hex)[:RECEIPT_BYTES]
    text = base64.b32encode(raw).decode("ascii").rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def normalise_receipt(text: str) -> str | None:
    """A receipt as typed (any case, spaces or hyphens, 0/O and 1/I confused) in canonical form,
    or None when it cannot be one."""
    if len(text) > 64:
        return None
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t")
    cleaned = cleaned.replace("0", "O").replace("1", "I")
    if len(cleaned) != 16 or any(ch not in _B32 for ch in cleaned):
        return None
    return "-".join(cleaned[i : i + 4] for i in range(0, 16, 4))
