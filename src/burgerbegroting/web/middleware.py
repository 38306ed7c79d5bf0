"""ASGI middleware: security headers, ids the database can hold, read-only transactions."""

from __future__ import annotations

from collections.abc import Mapping

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from burgerbegroting import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def security_headers_middleware(*, hsts: bool) -> type:
    """Build the middleware class; HSTS only outside development (it would pin plain localhost)."""

    class SecurityHeadersMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await self.app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableScopeHeaders.from_message(message)
                    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                    headers["X-Content-Type-Options"] = "nosniff"
                    headers["X-Frame-Options"] = "DENY"
                    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
                    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                    headers["Cross-Origin-Opener-Policy"] = "same-origin"
                    if hsts:
                        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
                await send(message)

            await self.app(scope, receive, send_with_headers)

    return SecurityHeadersMiddleware


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


class IdRangeMiddleware:
    """An ``{…:int}`` path parameter no database row can have is "not found", for every route.

    The router accepts any integer, but a driver handed one beyond the id column's range raises (SQLite's
    OverflowError, asyncpg's DataError): that was a 500 on every page and endpoint with an id in its
    path. Checking the routed parameters once here keeps every loader free of the special case.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params: Mapping[str, object] = scope.get("path_params") or {}
        for value in params.values():
            if isinstance(value, int) and not 0 <= value <= db.MAX_ID:
                raise NotFoundException()
        await self.app(scope, receive, send)
