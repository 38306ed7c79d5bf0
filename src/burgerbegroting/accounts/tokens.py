"""Signed tokens: session JWTs and e-mail confirmation links (PyJWT, HS256 pinned), and random
link tokens that are stored only as a keyed hash (co-author invitations).

Each purpose gets its own key, derived from ``BB_SECRET_KEY`` with HMAC, and its own audience, so a
token made for one purpose can never be replayed for another (a confirmation link is not a login,
and neither is a CSRF token, which Litestar signs with the raw secret).

A stored link token (``new_link_token``) is 256 random bits; the database keeps only
``HMAC-SHA256(derive_key(purpose), token)``, so a leaked table (a backup, an export) gives no usable
link, and a guessed hash is useless without the secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from burgerbegroting.db import utcnow
from burgerbegroting.settings import Settings

ALGORITHM = "HS256"
SESSION_AUDIENCE = "burgerbegroting"
CONFIRM_AUDIENCE = "burgerbegroting:confirm-email"
SESSION_REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti", "sid", "auth_time")
ABSOLUTE_SESSION_HOURS = 12
"""A sliding session still ends this long after the password was entered."""


def derive_key(settings: Settings, purpose: str) -> str:
    """A per-purpose signing key: HMAC-SHA256(secret, purpose), hex encoded (64 bytes)."""
    return hmac.new(
        settings.secret_key.encode(), f"burgerbegroting/{purpose}".encode(), hashlib.sha256
    ).hexdigest()


LINK_TOKEN_BYTES = 32
"""256 random bits per link token (at least 128 are required)."""
LINK_TOKEN_MAX_LENGTH = 128
"""Longer input is not one of our tokens (``token_urlsafe(32)`` is 43 characters)."""


def new_link_token() -> str:
    """A random, URL-safe link token: the caller mails it and stores only ``hash_link_token``."""
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)


def hash_link_token(settings: Settings, purpose: str, token: str) -> str:
    """The keyed hash stored for a link token (hex, 64 characters), per purpose."""
    return hmac.new(
        derive_key(settings, f"link-token/{purpose}").encode(), token.encode(), hashlib.sha256
    ).hexdigest()


def session_key(settings: Settings) -> str:
    return derive_key(settings, "session-jwt")


def new_token_id() -> str:
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An encoded session JWT with the facts the caller needs (cookie max-age, revocation)."""

    encoded: str
    jti: str
    sid: str
    expires_at: datetime
    lifetime: timedelta


def session_lifetime(settings: Settings, *, staff: bool) -> timedelta:
    """Staff sessions are shorter: they can change rounds and see unpublished results."""
    minutes = settings.staff_token_minutes if staff else settings.resident_token_minutes
    return timedelta(minutes=minutes)


def issue_session_token(
    settings: Settings,
    *,
    user_id: int,
    staff: bool,
    sid: str | None = None,
    auth_time: int | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Encode a session JWT. ``sid``/``auth_time`` carry over when a sliding session is renewed."""
    issued = (now or utcnow()).replace(microsecond=0)
    lifetime = session_lifetime(settings, staff=staff)
    iat = int(issued.timestamp())
    auth_time = iat if auth_time is None else auth_time
    expires = issued + lifetime
    # Never slide past the absolute end of the session.
    hard_end = datetime.fromtimestamp(auth_time, tz=issued.tzinfo) + timedelta(
        hours=ABSOLUTE_SESSION_HOURS
    )
    expires = min(expires, hard_end)
    jti = new_token_id()
    sid = sid or jti
    payload: dict[str, Any] = {
        "iss": settings.base_url,
        "aud": SESSION_AUDIENCE,
        "sub": str(user_id),
        "iat": iat,
        "exp": int(expires.timestamp()),
        "jti": jti,
        "sid": sid,
        "auth_time": auth_time,
    }
    encoded = jwt.encode(payload, session_key(settings), algorithm=ALGORITHM)
    return IssuedToken(encoded=encoded, jti=jti, sid=sid, expires_at=expires, lifetime=lifetime)


def issue_confirmation_token(
    settings: Settings, *, user_id: int, email: str, extra: dict[str, str] | None = None
) -> str:
    """A signed, expiring link token for confirming ``email`` of ``user_id``.

    The e-mail address is inside, so a link stops working if the address changes; ``extra``
    string claims (such as a password fingerprint) come back in ``Confirmation.extra``.
    """
    now = utcnow()
    payload: dict[str, Any] = {
        **(extra or {}),
        "iss": settings.base_url,
        "aud": CONFIRM_AUDIENCE,
        "sub": str(user_id),
        "email": email,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=settings.confirm_token_hours)).timestamp()),
    }
    return jwt.encode(payload, derive_key(settings, "confirm-email"), algorithm=ALGORITHM)


@dataclass(frozen=True, slots=True)
class Confirmation:
    user_id: int
    email: str
    extra: dict[str, str]


class BadToken(ValueError):
    """The token is malformed, forged, expired or made for another purpose."""

    def __init__(self, *, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def read_confirmation_token(settings: Settings, token: str) -> Confirmation:
    """Verify a confirmation token and return what it confirms; ``BadToken`` otherwise."""
    if not token or len(token) > 2048:
        raise BadToken()
    try:
        payload = jwt.decode(
            token,
            derive_key(settings, "confirm-email"),
            algorithms=[ALGORITHM],
            audience=CONFIRM_AUDIENCE,
            issuer=settings.base_url,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "email"], "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise BadToken(expired=True) from exc
    except jwt.InvalidTokenError as exc:
        raise BadToken() from exc
    sub, email = payload.get("sub"), payload.get("email")
    if not isinstance(sub, str) or not sub.isdigit() or not isinstance(email, str):
        raise BadToken()
    standard = {"iss", "aud", "sub", "email", "iat", "exp"}
    extra = {k: v for k, v in payload.items() if k not in standard and isinstance(v, str)}
    return Confirmation(user_id=int(sub), email=email, extra=extra)
