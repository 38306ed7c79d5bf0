"""Request limits enforced before anything parses the request: ``RequestLimitsMiddleware``.

Why here and not in the handlers: Litestar's CSRF middleware reads a whole url-encoded or multipart
form (``request.form()``) before it can refuse a request, and it does so on the event loop. A body
of a million bytes made of ``a=&a=&…`` took half a second of the loop per request, so a handful of
such posts froze every page of a worker. This middleware sits outside the CSRF middleware and
refuses, before a single field is parsed:

* a body larger than its route type allows (``Content-Length`` first, then the bytes actually
  streamed, so a chunked body cannot lie): 413;
* a form with more fields than any of our forms has (counted as ``&`` separators, or multipart
  boundaries), or one field longer than any of our fields: 413;
* a body on the JSON API (``/api/``) that is not ``application/json``: 415;
* a JSON body nested deeper than ``MAX_JSON_DEPTH`` (msgspec recursed until Python's limit: 500): 400;
* a NUL character or invalid UTF-8 anywhere in the path, the query string, a form or a JSON body
  (PostgreSQL refuses NUL in text columns, which was a 500 at the first insert; invalid UTF-8 was one
  at the driver): 400, or 422 naming the field for a NUL in a JSON string.

The body is read once here and replayed to the application, so nothing downstream changes.
"""

from __future__ import annotations

import re
from itertools import accumulate
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention

MAX_JSON_BYTES = 1024 * 1024
"""The JSON API: the largest legitimate body (a round with its districts and themes) is far below."""
MAX_FORM_BYTES = 512 * 1024
"""Page forms: a round's description of 25,000 characters percent-encoded is at most ~225 KiB."""
MAX_OTHER_BYTES = 64 * 1024
"""Anything else (the API answers 415 to it anyway)."""
MAX_PHOTO_FORM_BYTES = 10 * 1024 * 1024 + 64 * 1024
"""The photo upload form: one photo of at most 10 MiB (``proposals.images.MAX_PHOTO_BYTES``) plus
the alt text, the CSRF token and the multipart framing. Only this route gets it."""
PHOTO_UPLOAD_PATH = re.compile(r"^/voorstellen/[0-9]{1,12}/fotos$")
MAX_FORM_FIELDS = 1000
"""More fields than the round form with many districts and themes has."""
MAX_FIELD_BYTES = 256 * 1024
"""One field, percent-encoded."""
MAX_JSON_DEPTH = 32
"""Our deepest JSON body is four levels deep."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A NUL escape in a JSON string that is not itself an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

BAD_TEXT = N_(
    "Het verzoek bevat tekens die niet zijn toegestaan (zoals een NUL-teken) "
    "of is geen geldige UTF-8-tekst."
)
BAD_FIELD = N_("Bevat tekens die niet zijn toegestaan (zoals een NUL-teken).")
TOO_DEEP = N_("De JSON-invoer is te diep genest.")
TOO_LARGE = N_("Het verzoek is te groot.")
PHOTO_TOO_LARGE = N_("De foto is groter dan 10 MB. Kies een kleinere foto.")
NOT_JSON = N_("Stuur de gegevens als JSON, met de kop Content-Type: application/json.")


class RequestRefused(HTTPException):
    """A request refused by a limit: the status and the Dutch reason (``detail``)."""


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower().decode("latin-1")
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise RequestRefused(status_code=400, detail=BAD_TEXT) from None
    return None


def body_limit(path: str, media_type: str) -> int:
    """The most bytes a request body may have, by route type."""
    if media_type == "application/json" or path.startswith("/api/"):
        return MAX_JSON_BYTES if media_type == "application/json" else MAX_OTHER_BYTES
    if media_type == "multipart/form-data" and PHOTO_UPLOAD_PATH.match(path):
        return MAX_PHOTO_FORM_BYTES
    if media_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        return MAX_FORM_BYTES
    return MAX_OTHER_BYTES


def text_is_clean(raw: bytes) -> bool:
    """Valid UTF-8 without NUL."""
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_urlencoded(raw: bytes, *, max_fields: int = MAX_FORM_FIELDS) -> None:
    """Refuse too many fields, an over-long field, NUL or invalid UTF-8 (key or value)."""
    if not raw:
        return
    if raw.count(b"&") + 1 > max_fields:
        raise RequestRefused(status_code=413, detail=TOO_LARGE)
    for pair in raw.split(b"&"):
        if len(pair) > MAX_FIELD_BYTES:
            raise RequestRefused(status_code=413, detail=TOO_LARGE)
        if not text_is_clean(unquote_to_bytes(pair.replace(b"+", b" "))):
            raise RequestRefused(status_code=400, detail=BAD_TEXT)


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in ``raw`` (strings skipped; C-speed scanning)."""
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b'""', raw))
    if not brackets:
        return 0
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)))


def _unclean_field(value: object, path: str = "") -> str | None:
    """The (dotted) name of the first string in ``value`` that holds a NUL, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return name
            if (found := _unclean_field(item, name)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (
                found := _unclean_field(item, f"{path}.{index}" if path else str(index))
            ) is not None:
                return found
    return None


def check_json(raw: bytes) -> None:
    """Depth first (so decoding below is safe), then NUL and UTF-8.

    A NUL in a string of a JSON object is a 422 naming the field, like any other refused value
    (``ValidationFailed``, answered by the domain error table); anything else unclean is a 400.
    """
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise RequestRefused(status_code=400, detail=TOO_DEEP)
    if not text_is_clean(raw):
        raise RequestRefused(status_code=400, detail=BAD_TEXT)
    if _JSON_NUL.search(raw):
        try:
            field = _unclean_field(msgspec.json.decode(raw))
        except msgspec.DecodeError:
            field = None
        if field:
            raise ValidationFailed(_(BAD_TEXT), fields={field: _(BAD_FIELD)})
        raise RequestRefused(status_code=400, detail=BAD_TEXT)


def check_multipart(raw: bytes, scope: Scope) -> None:
    boundary = b""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            match = re.search(rb'boundary="?([^";]+)"?', value)
            boundary = match.group(1) if match else b""
    if not boundary or raw.count(b"--" + boundary) > MAX_FORM_FIELDS + 1:
        raise RequestRefused(status_code=413, detail=TOO_LARGE)


def check_query_and_path(scope: Scope) -> None:
    """NUL and invalid UTF-8 in the path or in any query key or value: 400."""
    raw_path = scope.get("raw_path") or str(scope.get("path", "")).encode(
        "utf-8", "surrogateescape"
    )
    if not text_is_clean(unquote_to_bytes(raw_path)) or "\x00" in str(scope.get("path", "")):
        raise RequestRefused(status_code=400, detail=BAD_TEXT)
    query: bytes = scope.get("query_string", b"")
    if query:
        check_urlencoded(query)


class RequestLimitsMiddleware:
    """Refuse oversized, over-numerous, over-deep or unclean input before it is parsed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        check_query_and_path(scope)
        if scope.get("method", "GET") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        media_type = _media_type(scope)
        limit = body_limit(str(scope.get("path", "")), media_type)
        too_large = PHOTO_TOO_LARGE if limit == MAX_PHOTO_FORM_BYTES else TOO_LARGE
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            raise RequestRefused(status_code=413, detail=too_large)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if not isinstance(chunk, bytes):
                chunk = b""
            size += len(chunk)
            if size > limit:
                raise RequestRefused(status_code=413, detail=too_large)
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if (
            body
            and media_type != "application/json"
            and str(scope.get("path", "")).startswith("/api/")
        ):
            # The JSON API takes JSON only: refused before a form parser or the JSON decoder sees
            # it (a form body used to reach a handler's typed body and get a 400).
            raise RequestRefused(status_code=415, detail=NOT_JSON)
        if media_type == "application/x-www-form-urlencoded":
            check_urlencoded(body)
        elif media_type == "multipart/form-data":
            check_multipart(body, scope)
        elif media_type == "application/json" or media_type.endswith("+json"):
            check_json(body)
        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                event: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
                return event
            return await receive()

        await self.app(scope, replay, send)
