"""Signed tokens: per-purpose keys and audiences, confirmation links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from burgerbegroting.accounts import tokens
from burgerbegroting.settings import Settings

SETTINGS = Settings(env="test", secret_key="s" * 40, base_url="https://begroting.example.nl")


def test_keys_differ_per_purpose_and_per_secret() -> None:
    other = Settings(env="test", secret_key="t" * 40)
    assert tokens.derive_key(SETTINGS, "session-jwt") != tokens.derive_key(
        SETTINGS, "confirm-email"
    )
    assert tokens.session_key(SETTINGS) != tokens.session_key(other)
    assert tokens.session_key(SETTINGS) != SETTINGS.secret_key


def test_confirmation_round_trip_with_extra_claims() -> None:
    token = tokens.issue_confirmation_token(
        SETTINGS, user_id=7, email="a@example.nl", extra={"pwd": "abc", "aud": "gekaapt"}
    )
    confirmation = tokens.read_confirmation_token(SETTINGS, token)
    assert confirmation.user_id == 7
    assert confirmation.email == "a@example.nl"
    assert confirmation.extra == {"pwd": "abc"}  # extras cannot override the audience


def test_confirmation_tokens_of_another_deployment_are_refused() -> None:
    other = Settings(env="test", secret_key="s" * 40, base_url="https://andere.example.nl")
    token = tokens.issue_confirmation_token(other, user_id=7, email="a@example.nl")
    with pytest.raises(tokens.BadToken):
        tokens.read_confirmation_token(SETTINGS, token)


def test_session_token_is_not_a_confirmation_token() -> None:
    session = tokens.issue_session_token(SETTINGS, user_id=7, staff=False)
    with pytest.raises(tokens.BadToken) as caught:
        tokens.read_confirmation_token(SETTINGS, session.encoded)
    assert not caught.value.expired


def test_expired_confirmation_is_reported_as_expired() -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    token = jwt.encode(
        {
            "iss": SETTINGS.base_url,
            "aud": tokens.CONFIRM_AUDIENCE,
            "sub": "7",
            "email": "a@example.nl",
            "iat": int(past.timestamp()) - 10,
            "exp": int(past.timestamp()),
        },
        tokens.derive_key(SETTINGS, "confirm-email"),
        algorithm="HS256",
    )
    with pytest.raises(tokens.BadToken) as caught:
        tokens.read_confirmation_token(SETTINGS, token)
    assert caught.value.expired


@pytest.mark.parametrize("bad", ["", "x" * 3000, "a.b.c", "ééé"])
def test_garbage_confirmation_is_bad_token(bad: str) -> None:
    with pytest.raises(tokens.BadToken):
        tokens.read_confirmation_token(SETTINGS, bad)


def test_session_lifetimes_and_absolute_cap() -> None:
    resident = tokens.issue_session_token(SETTINGS, user_id=1, staff=False)
    staff = tokens.issue_session_token(SETTINGS, user_id=1, staff=True)
    assert resident.lifetime == timedelta(minutes=30)
    assert staff.lifetime == timedelta(minutes=15)
    assert resident.sid == resident.jti
    now = datetime.now(UTC)
    near_end = int(now.timestamp()) - tokens.ABSOLUTE_SESSION_HOURS * 3600 + 60
    renewed = tokens.issue_session_token(
        SETTINGS, user_id=1, staff=False, sid="s", auth_time=near_end, now=now
    )
    assert renewed.sid == "s"
    assert renewed.expires_at <= now.replace(microsecond=0) + timedelta(seconds=60)
