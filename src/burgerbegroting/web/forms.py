"""Reading the forms of server-rendered pages, the same way on every page.

A form may carry only the fields its handler expects, each once, as text of bounded length: an
unknown or repeated field, a file or an over-long value is a ``FormInputError``, which each page
answers with its own form and a Dutch message, writing nothing. ``safe_next_path`` keeps every
"return to" address (after login, after the language switch) on this site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import UploadFile

AnyRequest = Request[Any, Any, Any]

CSRF_FIELD = "_csrf_token"
MAX_NEXT_LENGTH = 2000


class FormInputError(Exception):
    """The form itself is malformed (unknown or repeated fields, files, over-long values)."""


async def read_form(
    request: AnyRequest, accepts: Callable[[str], bool], *, limit: int
) -> dict[str, str]:
    """The text values the form sent, by name, for fields ``accepts`` knows; else FormInputError.

    ``limit`` is the most characters one value may have: well above the service's own field
    limits (which answer with a field message), low enough that no form is a memory attack.
    """
    form = await request.form()
    values: dict[str, str] = {}
    for key in form:
        if key == CSRF_FIELD:
            continue
        items = form.getall(key)
        if not accepts(key) or len(items) != 1 or isinstance(items[0], UploadFile):
            raise FormInputError(key)
        value = items[0]
        if not isinstance(value, str) or len(value) > limit:
            raise FormInputError(key)
        values[key] = value
    return values


async def read_fields(request: AnyRequest, fields: frozenset[str], *, limit: int) -> dict[str, str]:
    """Like ``read_form`` for a fixed set of fields: every one of them present, ``""`` if unsent."""
    values = await read_form(request, fields.__contains__, limit=limit)
    return {name: values.get(name, "") for name in fields}


def safe_next_path(raw: object) -> str:
    """A same-origin path to go back to, or ``/``.

    Only absolute paths on this site are accepted: no scheme or host, no ``//host`` or
    ``/\\host`` (browsers read both as another site), no control characters. This is what keeps
    the login page and the language switch from being open redirects.
    """
    if not isinstance(raw, str) or not raw or len(raw) > MAX_NEXT_LENGTH:
        return "/"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw) or "\\" in raw:
        return "/"
    if not raw.startswith("/") or raw.startswith("//"):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw
