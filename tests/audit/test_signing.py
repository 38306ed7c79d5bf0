"""The export-signing key is a pure function of the instance secret, as documented."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from burgerbegroting.audit.signing import public_key_info, sign
from burgerbegroting.settings import Settings

SECRET = "een-geheim-van-minstens-tweeendertig-tekens-lang"


def test_key_is_derived_from_the_secret_as_documented() -> None:
    seed = hmac.new(SECRET.encode(), b"burgerbegroting/export-signing", hashlib.sha256).digest()
    expected = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    info = public_key_info(Settings(secret_key=SECRET))
    assert base64.b64decode(info["public_key"]) == expected
    assert info["public_key_hex"] == expected.hex()
    assert info["key_id"] == hashlib.sha256(expected).hexdigest()[:16]
    assert info["algorithm"] == "Ed25519"


def test_signatures_verify_are_deterministic_and_differ_per_secret() -> None:
    settings = Settings(secret_key=SECRET)
    other = Settings(secret_key=SECRET + "-anders")
    signature = base64.b64decode(sign(settings, b"manifest"))
    assert sign(settings, b"manifest") == sign(settings, b"manifest")
    raw = base64.b64decode(public_key_info(settings)["public_key"])
    Ed25519PublicKey.from_public_bytes(raw).verify(signature, b"manifest")
    assert public_key_info(other)["key_id"] != public_key_info(settings)["key_id"]
