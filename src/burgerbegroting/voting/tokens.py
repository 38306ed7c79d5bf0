"""Voter sessions: a short JWT that lets one voter use the booth of one round, and nothing else.

Its own signing key (``derive_key("voter-jwt")``) and audience (``burgerbegroting:voter``), so it
is never an account session: the accounts middleware sees such a bearer token as anonymous
(``accounts.middleware``), and only the booth routes read it (``voting.controllers``). Claims:
``iss``, ``aud``, ``exp``, ``iat``, ``jti``, ``vid`` (the ``voters`` row), ``rid`` (round) and
``did`` (district or null), and ``fpr``: the fingerprint of the round's frozen definition when the
session was opened (a cast then checks its ballot against the definition a worker already holds,
without reading the database; the writer checks the voter, the session and the code). No code, no
account id.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

import jwt

from burgerbegroting.accounts.tokens import ALGORITHM, BadToken, derive_key, new_token_id
from burgerbegroting.db import MAX_ID, utcnow
from burgerbegroting.settings import Settings

VOTER_AUDIENCE = "burgerbegroting:voter"
VOTER_COOKIE = "bb_voter"
_REQUIRED = ("exp", "iat", "iss", "aud", "jti", "vid", "rid")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class VoterToken:
    encoded: str
    jti: str
    voter_id: int
    round_id: int
    district_id: int | None
    expires_at: datetime
    fingerprint: str | None = None  # the round's frozen definition when the session was opened


def _key(settings: Settings) -> str:
    return derive_key(settings, "voter-jwt")


def issue(
    settings: Settings,
    *,
    voter_id: int,
    round_id: int,
    district_id: int | None,
    fingerprint: str | None = None,
) -> VoterToken:
    now = utcnow().replace(microsecond=0)
    expires = now + timedelta(minutes=settings.voter_session_minutes)
    jti = new_token_id()
    payload: dict[str, Any] = {
        "iss": settings.base_url,
        "aud": VOTER_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
        "vid": voter_id,
        "rid": round_id,
        "did": district_id,
    }
    if fingerprint is not None:
        payload["fpr"] = fingerprint
    encoded = jwt.encode(payload, _key(settings), algorithm=ALGORITHM)
    return VoterToken(encoded, jti, voter_id, round_id, district_id, expires, fingerprint)


# A voter token's payload is a few hundred characters; anything much longer is not one.
MAX_PAYLOAD_SEGMENT = 2048


def _small_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def read(settings: Settings, encoded: str) -> VoterToken:
    """Verify a voter token; ``BadToken`` when it is malformed, forged, expired or not a voter's."""
    if not encoded or len(encoded) > 2048:
        raise BadToken()
    try:
        # Any, as PyJWT's own annotation reads when mypy does not follow cryptography: the claims
        # are checked one by one below.
        payload: Any = jwt.decode(
            encoded,
            _key(settings),
            algorithms=[ALGORITHM],
            audience=VOTER_AUDIENCE,
            issuer=settings.base_url,
            options={"require": list(_REQUIRED), "strict_aud": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise BadToken(expired=True) from exc
    except jwt.InvalidTokenError as exc:
        raise BadToken() from exc
    vid, rid, did, jti = (
        payload.get("vid"),
        payload.get("rid"),
        payload.get("did"),
        payload.get("jti"),
    )
    if not _small_id(vid) or not _small_id(rid) or not isinstance(jti, str):
        raise BadToken()
    if did is not None and not _small_id(did):
        raise BadToken()
    fpr = payload.get("fpr")
    if fpr is not None and not (isinstance(fpr, str) and _FINGERPRINT.fullmatch(fpr)):
        raise BadToken()
    expires = datetime.fromtimestamp(int(payload["exp"]), tz=utcnow().tzinfo)
    return VoterToken(encoded, jti, vid, rid, did if _small_id(did) else None, expires, fpr)


def is_voter_token(encoded: str) -> bool:
    """True when ``encoded`` claims the voter audience (not verified: for routing only).

    Read by hand from the payload segment: this runs for every bearer request, and PyJWT's
    unverified decode cost as much as a verified one."""
    parts = encoded.split(".")
    if len(parts) != 3 or not parts[1] or len(parts[1]) > MAX_PAYLOAD_SEGMENT:
        return False
    segment = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # bad base64 (binascii.Error), bad UTF-8 or JSON
        return False
    return isinstance(claims, dict) and claims.get("aud") == VOTER_AUDIENCE
