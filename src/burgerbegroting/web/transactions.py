"""Committing the request's database session, and never answering "done" for a failed commit.

advanced-alchemy's ``autocommit`` before-send handler (1.12) commits the request-scoped session when
the response is a 2xx and rolls it back otherwise, but it swallows a failed commit (logged at debug
level) and sends the success response anyway: a resident would be told a proposal was saved, and
later a voter handed a receipt, for a write that is not in the database. This handler does the same
work, except that when the commit fails the response is replaced, before any of it is sent, by a
503 that says nothing was saved (problem details on the API, a short Dutch page otherwise).

Page handlers that redirect after a form commit explicitly before they redirect, so their failures
surface as ordinary errors; this handler covers every response that relies on the commit here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

# The plugin's own accessors for its scope state: private, so advanced-alchemy is pinned and
# tests/web/test_transactions.py fails if the session can no longer be found this way.
from advanced_alchemy.extensions.litestar._utils import delete_aa_scope_state, get_aa_scope_state
from litestar.types import Message, Scope
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger("burgerbegroting.web")

_FAILED = "bb_commit_failed"
_TITLE = "Niet opgeslagen"
_DETAIL = "Er ging iets mis bij het opslaan: er is niets bewaard. Probeer het over een paar minuten opnieuw."
_HTML = (
    '<!doctype html><html lang="nl"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    f"<title>{_TITLE}</title></head><body><main><h1>{_TITLE}</h1><p>{_DETAIL}</p>"
    '<p><a href="/">Naar de startpagina</a></p></main></body></html>'
).encode()


def _failure(scope: Scope) -> tuple[bytes, bytes]:
    """The body and content type that replace a response whose commit failed."""
    path = str(scope.get("path", ""))
    if path.startswith(("/api/", "/health")):
        problem = {"type": "about:blank", "title": _TITLE, "status": 503, "detail": _DETAIL}
        return json.dumps(problem, ensure_ascii=False).encode(), b"application/problem+json"
    return _HTML, b"text/html; charset=utf-8"


def commit_before_send(
    session_scope_key: str,
) -> Callable[[Message, Scope], Coroutine[Any, Any, None]]:
    """A before-send hook: commit on 2xx, roll back otherwise, close; a failed commit is a 503."""

    async def handler(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.body":
            if scope.get(_FAILED):
                body, _ = _failure(scope)
                message["body"] = body
                message["more_body"] = False
            return
        session: AsyncSession | None = get_aa_scope_state(scope, session_scope_key)
        if session is None or message["type"] not in {"http.response.start", "http.disconnect"}:
            return
        try:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                try:
                    await session.commit()
                except Exception as exc:  # noqa: BLE001 - any failure means "not saved"
                    # Type and path only: the statement's parameters may hold what residents typed.
                    logger.error(
                        "commit failed on %s (%s); answered 503",
                        scope.get("path"),
                        type(exc).__name__,
                    )
                    with suppress(Exception):
                        await session.rollback()
                    body, content_type = _failure(scope)
                    scope[_FAILED] = True  # type: ignore[literal-required]
                    message["status"] = 503
                    message["headers"] = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower()
                        not in {
                            b"content-type",
                            b"content-length",
                            b"content-disposition",
                            b"location",
                        }
                    ] + [
                        (b"content-type", content_type),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store"),
                    ]
            else:
                await session.rollback()
        finally:
            with suppress(Exception):
                await session.close()
            delete_aa_scope_state(scope, session_scope_key)

    return handler
