"""Keep a form's text when its session ran out: the submission goes to a signed, short-lived
cookie for that form's address, the visitor logs in, and the form opens again filled in.

Staff sessions are short (``BB_STAFF_TOKEN_MINUTES``) and slide only with page views, so a
moderator who writes a long review can find the session gone on submit. Replaying a POST after a
redirect is impossible without JavaScript; bringing the text back to the form is the next best.

The cookie holds only what the person typed into that form, is HttpOnly, limited to the form's
own path, lives ``DRAFT_MINUTES`` and is signed (HMAC), so a page never fills in text it did not
write itself. Cookies hold about 4 KB: text that does not fit compressed is not kept (the login
page then says nothing was saved).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from burgerbegroting.accounts import tokens
from burgerbegroting.settings import Settings

DRAFT_COOKIE = "bb_concept"
DRAFT_MINUTES = 30
MAX_COOKIE_VALUE = (
    3800  # bytes; browsers keep at least 4096 per cookie, name and attributes included
)

AnyRequest = Request[Any, Any, Any]


def _key(settings: Settings) -> bytes:
    return tokens.derive_key(settings, "form-draft").encode()


def _sign(settings: Settings, path: str, payload: bytes) -> str:
    return hmac.new(_key(settings), path.encode() + b"\0" + payload, hashlib.sha256).hexdigest()[
        :32
    ]


def draft_cookie(settings: Settings, path: str, values: Mapping[str, str]) -> Cookie | None:
    """A cookie that brings ``values`` back to the form at ``path``; None when too large."""
    body = json.dumps({"v": dict(values), "exp": int(time.time()) + DRAFT_MINUTES * 60})
    payload = base64.urlsafe_b64encode(zlib.compress(body.encode(), 9)).rstrip(b"=")
    value = f"{_sign(settings, path, payload)}.{payload.decode()}"
    if len(value) > MAX_COOKIE_VALUE:
        return None
    return Cookie(
        key=DRAFT_COOKIE,
        value=value,
        path=path,
        max_age=DRAFT_MINUTES * 60,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def clear_draft_cookie(settings: Settings, path: str) -> Cookie:
    return Cookie(
        key=DRAFT_COOKIE,
        value="",
        path=path,
        max_age=0,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def read_draft(
    request: AnyRequest, settings: Settings, fields: frozenset[str]
) -> dict[str, str] | None:
    """The kept values for this request's path (only ``fields``), or None."""
    raw = request.cookies.get(DRAFT_COOKIE)
    if not raw or "." not in raw or len(raw) > MAX_COOKIE_VALUE:
        return None
    signature, payload = raw.split(".", 1)
    if not hmac.compare_digest(signature, _sign(settings, request.url.path, payload.encode())):
        return None
    try:
        padded = payload + "=" * (-len(payload) % 4)
        data = json.loads(zlib.decompress(base64.urlsafe_b64decode(padded), bufsize=16384))
    except (ValueError, zlib.error):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("v"), dict):
        return None
    if not isinstance(data.get("exp"), int) or data["exp"] < time.time():
        return None
    return {k: v for k, v in data["v"].items() if k in fields and isinstance(v, str)}
