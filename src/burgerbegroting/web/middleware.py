"""ASGI middleware and hooks: security headers, ids the database can hold, read-only transactions."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ParamType, ScopeType
from litestar.exceptions import (
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.types import (
    ASGIApp,
    BeforeMessageSendHookHandler,
    Message,
    Receive,
    Scope,
    Send,
)

from burgerbegroting import db
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention

STATIC_PREFIX = "/static/"
STATIC_CACHE_CONTROL = "public, max-age=3600"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def security_headers_hook(*, hsts: bool) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook that sets the security headers on **every** response.

    It was a route middleware, and Litestar runs route middleware only for a request that matched a
    route: the 404 of an unknown path, a 405, and refusals raised by middleware (CSRF's 403, an
    invalid bearer token's 401) went out without any of these headers. ``before_send`` wraps the
    whole application. HSTS only outside development (it would pin plain localhost).

    ``Cache-Control``: nothing but the static files may be stored by a browser or a proxy. Pages
    and API answers carry names, e-mail addresses, drafts and staff data; ``no-store`` keeps them
    out of shared caches and out of the browser's history cache after logout. A handler may set
    its own (``results``: "public, max-age=60" once results are published, else "private,
    no-store"); an answer without one gets ``no-store``.
    """

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
            return
        headers = MutableScopeHeaders.from_message(message)
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        status = int(message.get("status", 200))
        if str(scope.get("path", "")).startswith(STATIC_PREFIX) and status < 400:
            headers["Cache-Control"] = STATIC_CACHE_CONTROL
        elif "cache-control" not in headers:
            # A handler that chose its own (published results are public) keeps it.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"

    return hook


access_logger = logging.getLogger("burgerbegroting.access")


def loggable_target(scope: Scope) -> str:
    """The request's path and query for the access log: values of the query string redacted,
    every character outside printable ASCII escaped.

    Uvicorn's own access log (turned off in ``cli serve``) wrote the query string as sent: the
    one-time tokens of ``/bevestigen?token=…`` and ``/uitnodiging?token=…`` landed in the log, and a
    token read from the log was accepted. It also wrote the decoded path, so ``%0A`` in a path
    started a fake log line.
    """
    target = _escape(str(scope.get("path", "")))
    query: bytes = scope.get("query_string", b"")
    if query:
        keys = [_escape(pair.partition("=")[0]) for pair in query.decode("latin-1").split("&")]
        target += "?" + "&".join(f"{key}=…" for key in keys)
    return target


def _escape(text: str) -> str:
    return "".join(
        ch if " " <= ch <= "~" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


# Casts: the API's PUT of a ballot and the booth page's confirm.
_CAST = re.compile(r"^(PUT /api/v1/rounds/\d+/ballot|POST /stemmen/\d+/bevestigen)/?$")


async def access_log_hook(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: one access-log line per HTTP response (every response, errors too).

    A cast is logged without the client's address: its line, in order beside the ballot log
    (whose events are in the audit export), would join an address to a ballot's content."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    client = scope.get("client")
    method = str(scope.get("method", "-"))
    if _CAST.match(f"{method} {scope.get('path', '')}"):
        client = None
    access_logger.info(
        "%s %s %s %s",
        _escape(str(client[0])) if client else "-",
        _escape(method),
        loggable_target(scope),
        message.get("status", "-"),
    )


class ReadOnlyTransactionMiddleware:
    """Safe methods read in deferred transactions; other requests write with BEGIN IMMEDIATE."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("method", "GET") in SAFE_METHODS:
            token = db.set_read_only(True)
            try:
                await self.app(scope, receive, send)
            finally:
                db.reset_read_only(token)
            return
        await self.app(scope, receive, send)


def cross_site_middleware(*, trusted_origins: tuple[str, ...]) -> type:
    """Build ``CrossSiteRequestMiddleware``: unsafe requests from another site are refused (403).

    Browsers tell where a request comes from: ``Sec-Fetch-Site`` (``cross-site``, ``same-site``,
    ``same-origin`` or ``none`` for a typed address) and ``Origin``. An unsafe request (POST, PUT,
    PATCH, DELETE) passes only when ``Sec-Fetch-Site`` is ``same-origin`` or ``none`` (or missing)
    and ``Origin``, if sent, is this site (the ``Host`` the request was sent to, which
    ``AllowedHostsConfig`` already checked) or one of ``trusted_origins`` (``BB_BASE_URL`` and the
    CORS origins). ``same-site`` is refused too: another host under the municipality's domain is not
    this application. Clients that send neither header (scripts, the API with a bearer token) are
    not affected: the CSRF token or the bearer token still has to be right.

    This comes on top of the CSRF token, which a cross-site form cannot read; it also covers
    what the token does not: the login form before a visitor has a CSRF cookie of their own
    ("login CSRF") and the API endpoints that are exempt from the token.
    """
    trusted = frozenset(origin.rstrip("/").lower() for origin in trusted_origins)

    class CrossSiteRequestMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and scope.get("method", "GET") not in SAFE_METHODS:
                headers = dict(scope.get("headers", ()))
                site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
                origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/").lower()
                host = headers.get(b"host", b"").decode("latin-1").lower()
                if site not in {"", "same-origin", "none"}:
                    raise PermissionDeniedException(CROSS_SITE_REFUSED)
                if origin and origin not in trusted and urlsplit(origin).netloc != host:
                    raise PermissionDeniedException(CROSS_SITE_REFUSED)
            await self.app(scope, receive, send)

    return CrossSiteRequestMiddleware


CROSS_SITE_REFUSED = "cross-site request refused"


class IdRangeMiddleware:
    """An integer in a path or query parameter that no database column can hold is refused, for
    every route: "not found" (404) in the path, "invalid input" (400) in the query string.

    The router accepts any integer, but a driver handed one beyond the id column's range raises (SQLite's
    OverflowError, asyncpg's DataError): that was a 500 on every page and endpoint with an id in its
    path, and on ``/api/v1/review/proposals?round=2147483648``. Checking the routed parameters once
    here keeps every loader free of the special case. Query parameters are found from the handler's
    signature (every parameter typed ``int`` that is not in the path), so a route added later is
    covered without being listed anywhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params: Mapping[str, object] = scope.get("path_params") or {}
        for value in params.values():
            if isinstance(value, int) and not 0 <= value <= db.MAX_ID:
                raise NotFoundException()
        handler = scope.get("route_handler")
        names = _int_query_names(handler) if isinstance(handler, HTTPRouteHandler) else ()
        if names and scope.get("query_string"):
            for key, raw in parse_qsl(scope["query_string"].decode("latin-1")):
                if key in names and key not in params and _out_of_range(raw):
                    raise ValidationException(detail=ID_OUT_OF_RANGE)
        await self.app(scope, receive, send)


ID_OUT_OF_RANGE = N_("Een getal in het adres is te groot.")
_INT_LITERAL = re.compile(r"\s*[+-]?\d+\s*")


def _out_of_range(raw: str) -> bool:
    return bool(_INT_LITERAL.fullmatch(raw)) and abs(int(raw)) > db.MAX_ID


@functools.cache
def _int_query_names(handler: HTTPRouteHandler) -> frozenset[str]:
    """The names of ``handler``'s integer parameters (``int`` or ``int | None``) that may come
    from the query string (path parameters are left out by the caller)."""
    names: set[str] = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if kwarg is not None and not isinstance(kwarg, ParameterKwarg):
            continue  # a body or a dependency
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type is not ParamType.QUERY:
            continue
        types = field.args if field.is_optional else (field.annotation,)
        if any(t is int for t in types):
            names.add((kwarg.name if isinstance(kwarg, ParameterKwarg) else None) or name)
    return frozenset(names)
