"""The instance's Ed25519 export-signing key, derived from the instance secret.

The private key is ``Ed25519PrivateKey.from_private_bytes(HMAC-SHA256(secret,
"burgerbegroting/export-signing"))``: a pure function of ``BB_SECRET_KEY``, so there is nothing
extra to store, back up or lose, and every worker of the instance signs with the same key. The
public key is published at ``GET /.well-known/burgerbegroting-key`` and in the council report
(``public_key_info``), so an auditor holds it independently of any export.

Rotating the secret rotates the signing key: exports signed before then verify only with the old
public key, which is why the council report (a document kept on paper and in the council's own
archive) carries the key id and the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from burgerbegroting.audit.exportformat import SIGNATURE_ALGORITHM, key_id
from burgerbegroting.settings import Settings

__all__ = ["SIGNING_PURPOSE", "private_key", "public_key_info", "public_key_raw", "sign"]

SIGNING_PURPOSE = b"burgerbegroting/export-signing"


def private_key(settings: Settings) -> Ed25519PrivateKey:
    seed = hmac.new(settings.secret_key.encode("utf-8"), SIGNING_PURPOSE, hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_raw(settings: Settings) -> bytes:
    return private_key(settings).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_info(settings: Settings) -> dict[str, str]:
    """The public key as published: algorithm, key id (first 16 hex of its SHA-256), the raw
    32-byte key in base64 and in hex. For the well-known route and the council report."""
    raw = public_key_raw(settings)
    return {
        "algorithm": SIGNATURE_ALGORITHM,
        "key_id": key_id(raw),
        "public_key": base64.b64encode(raw).decode("ascii"),
        "public_key_hex": raw.hex(),
    }


def sign(settings: Settings, data: bytes) -> str:
    """Base64 of the Ed25519 signature of ``data`` (deterministic, as Ed25519 is)."""
    return base64.b64encode(private_key(settings).sign(data)).decode("ascii")
