"""Voter sessions: what a voter token carries and which tokens are refused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jwt
import pytest

from burgerbegroting.accounts.tokens import ALGORITHM, BadToken
from burgerbegroting.settings import Settings
from burgerbegroting.voting import tokens as voter_tokens

FINGERPRINT = hashlib.sha256(b"a frozen round").hexdigest()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        secret_key="test-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123456789",
        var_dir=tmp_path,
    )


def _claims(settings: Settings, **extra: Any) -> dict[str, Any]:
    token = voter_tokens.issue(settings, voter_id=7, round_id=3, district_id=None)
    claims: dict[str, Any] = jwt.decode(
        token.encoded,
        voter_tokens._key(settings),
        algorithms=[ALGORITHM],
        audience=voter_tokens.VOTER_AUDIENCE,
    )
    claims.update(extra)
    return claims


def _sign(settings: Settings, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, voter_tokens._key(settings), algorithm=ALGORITHM)


def test_a_session_carries_the_round_fingerprint_when_given(settings: Settings) -> None:
    with_fp = voter_tokens.issue(
        settings, voter_id=7, round_id=3, district_id=4, fingerprint=FINGERPRINT
    )
    read = voter_tokens.read(settings, with_fp.encoded)
    assert (read.voter_id, read.round_id, read.district_id, read.fingerprint) == (
        7,
        3,
        4,
        FINGERPRINT,
    )
    without = voter_tokens.read(
        settings, voter_tokens.issue(settings, voter_id=7, round_id=3, district_id=None).encoded
    )
    assert without.fingerprint is None
    assert voter_tokens.is_voter_token(with_fp.encoded)


@pytest.mark.parametrize(
    "fingerprint",
    ["", "abc", FINGERPRINT.upper(), FINGERPRINT + "0", 12, ["x"], FINGERPRINT[:-1] + "g"],
)
def test_a_signed_session_with_a_malformed_fingerprint_is_refused(
    settings: Settings, fingerprint: object
) -> None:
    with pytest.raises(BadToken):
        voter_tokens.read(settings, _sign(settings, _claims(settings, fpr=fingerprint)))


def test_the_fingerprint_is_covered_by_the_signature(settings: Settings) -> None:
    honest = voter_tokens.issue(
        settings, voter_id=7, round_id=3, district_id=None, fingerprint=FINGERPRINT
    ).encoded
    other = _sign(settings, _claims(settings, fpr=hashlib.sha256(b"other").hexdigest()))
    header, _payload, signature = honest.split(".")
    spliced = ".".join([header, other.split(".")[1], signature])
    with pytest.raises(BadToken):
        voter_tokens.read(settings, spliced)
