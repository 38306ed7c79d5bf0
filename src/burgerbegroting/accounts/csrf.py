"""CSRF tokens bound to the login session: ``session_csrf_middleware(settings)``.

Litestar's ``CSRFConfig`` is a double-submit cookie: any well-signed token pair passes, whoever made
it. Someone who can set a cookie for our site (a sibling subdomain, a proxy on plain HTTP) could
plant their own pair and then post in a logged-in visitor's name. For a logged-in visitor the token
is therefore derived from the session: its secret part is ``HMAC(derive_key("csrf-session"), sid)``
and its signature is Litestar's own (so Litestar's check still applies unchanged). This middleware,
which runs after authentication and before Litestar's CSRF middleware:

* on a safe request of a logged-in visitor whose CSRF cookie is not the session's, replaces the
  cookie in the request (so the page's forms carry the bound token) and sets it in the answer;
* refuses (403) an unsafe page request of a logged-in visitor whose CSRF cookie is not the
  session's.

Requests with a bearer token are left alone (no other site can make a browser send one).
Anonymous visitors keep Litestar's random token (there is no session to bind to; the Origin check in
``web/middleware.py`` covers the login form). The API is exempt from CSRF (bearer tokens).
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import SimpleCookie

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash
from litestar.security.jwt import Token
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from burgerbegroting.accounts import tokens
from burgerbegroting.settings import Settings

CSRF_COOKIE = "csrftoken"  # Litestar's default cookie name, as CSRFConfig in app.py uses
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXEMPT_PREFIXES = ("/api/", "/health", "/static/", "/schema")


def session_csrf_token(settings: Settings, sid: str) -> str:
    """The CSRF token of session ``sid``, in Litestar's format (secret + signature)."""
    secret = hmac.new(
        tokens.derive_key(settings, "csrf-session").encode(), sid.encode(), hashlib.sha256
    ).hexdigest()[:CSRF_SECRET_LENGTH]
    return secret + generate_csrf_hash(token=secret, secret=settings.secret_key)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
                return None
            if name in parsed:
                return parsed[name].value
    return None


def _replace_cookie(scope: Scope, name: str, value: str) -> None:
    """Make ``scope``'s Cookie header carry ``name=value`` instead of any earlier value (and drop
    the headers and cookies Litestar already parsed and cached in the scope)."""
    # One Cookie header: Litestar reads only the first.
    kept: list[tuple[bytes, bytes]] = []
    parts = [f"{name}={value}".encode("latin-1")]
    for key, raw in scope.get("headers", ()):
        if key != b"cookie":
            kept.append((key, raw))
            continue
        parts += [p for p in raw.split(b";") if p.strip().split(b"=", 1)[0] != name.encode()]
    kept.append((b"cookie", b"; ".join(p.strip() for p in parts if p.strip())))
    scope["headers"] = kept
    state = ScopeState.from_scope(scope)
    state.cookies = Empty
    state.headers = Empty


def session_csrf_middleware(settings: Settings) -> type:
    """Build the middleware class for ``settings`` (see the module docstring)."""

    def cookie_for(token: str) -> Cookie:
        return Cookie(
            key=CSRF_COOKIE,
            value=token,
            path="/",
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )

    class SessionCsrfMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            auth = scope.get("auth")
            path = str(scope.get("path", ""))
            sid = auth.extras.get("sid") if isinstance(auth, Token) else None
            if (
                scope["type"] != ScopeType.HTTP
                or not isinstance(sid, str)
                or path.startswith(EXEMPT_PREFIXES)
                # A bearer token is not sent by a cross-site form: nothing to bind.
                or any(key == b"authorization" for key, _value in scope.get("headers", ()))
            ):
                await self.app(scope, receive, send)
                return
            expected = session_csrf_token(settings, sid)
            current = _cookie(scope, CSRF_COOKIE)
            if current is not None and hmac.compare_digest(current, expected):
                await self.app(scope, receive, send)
                return
            if scope.get("method", "GET") not in SAFE_METHODS:
                raise PermissionDeniedException("CSRF token not bound to this session")

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = [
                        *message.get("headers", ()),
                        cookie_for(expected).to_encoded_header(),
                    ]
                    message = {**message, "headers": headers}
                await send(message)

            _replace_cookie(scope, CSRF_COOKIE, expected)
            await self.app(scope, receive, send_with_cookie)

    return SessionCsrfMiddleware
