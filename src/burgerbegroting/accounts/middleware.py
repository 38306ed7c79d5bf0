"""Authentication: Litestar's ``JWTCookieAuth`` with our rules on top.

What the middleware does with a request:

* **No token** → anonymous: ``request.user`` is ``None`` and the request goes on. Public pages and
  endpoints need this; guards (``accounts.guards``) refuse anonymous users where it matters.
* **``Authorization: Bearer …``** (the API) → verified; invalid, expired, revoked, or a non-Bearer
  scheme → 401 on every path.
* **The session cookie** (pages) → verified. On ``/api/`` paths the cookie is honoured only for
  safe methods (GET/HEAD/OPTIONS). The API is exempt from CSRF checks because bearer tokens cannot
  be sent by a cross-site form — but browsers *do* attach cookies to cross-site form posts, so if
  the cookie authenticated ``POST /api/...`` any web page could make a logged-in visitor's browser
  act on the API. Unsafe API requests therefore see the cookie as absent (anonymous).
* **An invalid cookie** → 401 on ``/api/`` paths; on pages the visitor is treated as anonymous and
  the cookie is deleted, so an expired session shows the public page and the login link instead
  of an error (the guard of a protected page still answers 401).
* **Sliding sessions**: when more than half of a cookie token's lifetime has passed, a GET page
  response carries a fresh cookie (same session id ``sid``, new ``jti``), up to
  ``tokens.ABSOLUTE_SESSION_HOURS`` after the password was entered. Staff tokens slide too, but
  within their shorter lifetime: 15 idle minutes end a staff session.

Tokens: HS256 only (``alg: none``, HS512, RS256 key confusion are all refused by PyJWT's
``algorithms=[HS256]``), with ``iss`` = ``BB_BASE_URL``, ``aud`` = ``burgerbegroting`` (strict),
and ``exp``, ``iat``, ``jti``, ``sub``, ``sid``, ``auth_time`` required. Each request loads the user
from the database (so role changes and removed accounts take effect at once) and checks that
neither the ``jti`` nor the ``sid`` was revoked (logout revokes both).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException
from litestar.middleware._utils import should_bypass_middleware
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTCookieAuth, JWTCookieAuthenticationMiddleware, Token
from litestar.types import Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from burgerbegroting import db
from burgerbegroting.accounts import recovery, service, tokens
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.settings import Settings
from burgerbegroting.voting.tokens import is_voter_token

SESSION_COOKIE = "bb_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE_ACTIONS_KEY = "bb_auth_cookie_actions"


def session_cookie(settings: Settings, token: tokens.IssuedToken) -> Cookie:
    """The ``HttpOnly``, ``SameSite=Lax`` session cookie (``Secure`` outside development)."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token.encoded,
        path="/",
        max_age=max(1, int(token.expires_at.timestamp() - time.time())),
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def clear_session_cookie(settings: Settings) -> Cookie:
    """A cookie that makes the browser forget the session."""
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path="/",
        max_age=0,
        expires=0,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def _is_api(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/api/")


def build_middleware_class(
    settings: Settings,
) -> type[JWTCookieAuthenticationMiddleware]:
    """The middleware class, closed over ``settings`` (Litestar instantiates it per app)."""

    class AccountsAuthenticationMiddleware(JWTCookieAuthenticationMiddleware):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            # Anonymous unless proven otherwise, also on excluded routes: templates and handlers
            # read request.user everywhere.
            scope["user"] = None
            scope["auth"] = None
            if should_bypass_middleware(
                exclude_http_methods=self.exclude_http_methods,
                exclude_opt_key=self.exclude_opt_key,
                exclude_path_pattern=self.exclude,
                scope=scope,
                scopes=self.scopes,
            ):
                await self.app(scope, receive, send)
                return
            result = await self.authenticate_request(ASGIConnection(scope))
            scope["user"] = result.user
            scope["auth"] = result.auth
            actions: list[Cookie] = scope.get("state", {}).get(_COOKIE_ACTIONS_KEY, [])
            if not actions:
                await self.app(scope, receive, send)
                return

            async def send_with_cookies(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", ()))
                    # A handler that sets the session cookie itself (login, logout) wins.
                    prefix = f"{SESSION_COOKIE}=".encode()
                    if not any(
                        k.lower() == b"set-cookie" and v.startswith(prefix) for k, v in headers
                    ):
                        headers.extend(cookie.to_encoded_header() for cookie in actions)
                        message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_cookies)

        async def authenticate_request(
            self, connection: ASGIConnection[Any, Any, Any, Any]
        ) -> AuthenticationResult:
            scope = connection.scope
            header = connection.headers.get("authorization")
            if header:
                scheme, _, value = header.partition(" ")
                if scheme.lower() != "bearer" or not value.strip():
                    raise NotAuthorizedException("Unsupported authorization scheme")
                if is_voter_token(value.strip()):
                    # A voter session is no account: only the booth routes read it
                    # (voting.controllers); everywhere else its bearer is anonymous.
                    return AuthenticationResult(user=None, auth=None)
                return await self.authenticate_token(value.strip(), connection)
            cookie = connection.cookies.get(SESSION_COOKIE, "")
            if not cookie:
                return AuthenticationResult(user=None, auth=None)
            method = str(scope.get("method", "GET"))
            if _is_api(scope) and method not in SAFE_METHODS:
                # See the module docstring: cookies ride along on cross-site posts.
                return AuthenticationResult(user=None, auth=None)
            state = scope.setdefault("state", {})
            try:
                result = await self.authenticate_token(cookie, connection)
            except NotAuthorizedException:
                if _is_api(scope):
                    raise
                state[_COOKIE_ACTIONS_KEY] = [clear_session_cookie(settings)]
                return AuthenticationResult(user=None, auth=None)
            if method == "GET" and not _is_api(scope):
                renewed = _renewal(settings, result.auth, result.user)
                if renewed is not None:
                    state[_COOKIE_ACTIONS_KEY] = [session_cookie(settings, renewed)]
            return result

    return AccountsAuthenticationMiddleware


def _renewal(settings: Settings, token: Token, user: CurrentUser) -> tokens.IssuedToken | None:
    """A fresh token when more than half of ``token``'s lifetime has passed, else None."""
    issued, expires = token.iat.timestamp(), token.exp.timestamp()
    if time.time() - issued <= (expires - issued) / 2:
        return None
    auth_time = token.extras.get("auth_time")
    sid = token.extras.get("sid")
    if not isinstance(auth_time, int) or not isinstance(sid, str):
        return None
    if time.time() >= auth_time + tokens.ABSOLUTE_SESSION_HOURS * 3600:
        return None
    return tokens.issue_session_token(
        settings, user_id=user.id, staff=user.is_staff, sid=sid, auth_time=auth_time
    )


def token_ids(token: Token) -> list[str]:
    """The ids a revocation must cover: the token's ``jti`` and its session's ``sid``."""
    ids = [str(token.jti)] if isinstance(token.jti, str) else []
    sid = token.extras.get("sid")
    if isinstance(sid, str):
        ids.append(sid)
    return ids


def create_auth(settings: Settings, engine: AsyncEngine) -> JWTCookieAuth[CurrentUser, Token]:
    """The authentication config for ``create_app``: pass ``auth.on_app_init`` to Litestar."""
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def retrieve_user(
        token: Token, _connection: ASGIConnection[Any, Any, Any, Any]
    ) -> CurrentUser | None:
        # ASCII digits only ("²".isdigit() is true, int("²") raises) and an id the column holds:
        # anyone can sign tokens with the public development secret, so sub is outside input.
        sub = token.sub
        if not (sub.isascii() and sub.isdigit() and int(sub) <= db.MAX_ID):
            return None
        if not isinstance(token.jti, str):
            return None
        # This middleware runs outside ReadOnlyTransactionMiddleware: read deferred explicitly
        # so authenticating a request never takes SQLite's write lock.
        with db.read_only():
            async with sessions() as session:
                if await service.is_revoked(session, token_ids(token)):
                    return None
                # Also refuses sessions ended by a password reset (``recovery``).
                return await recovery.load_session_user(
                    session, int(token.sub), token.extras.get("auth_time")
                )

    return JWTCookieAuth[CurrentUser, Token](
        token_secret=tokens.session_key(settings),
        retrieve_user_handler=retrieve_user,
        algorithm=tokens.ALGORITHM,
        key=SESSION_COOKIE,
        secure=settings.secure_cookies,
        samesite="lax",
        default_token_expiration=tokens.session_lifetime(settings, staff=False),
        accepted_audiences=[tokens.SESSION_AUDIENCE],
        accepted_issuers=[settings.base_url],
        strict_audience=True,
        require_claims=list(tokens.SESSION_REQUIRED_CLAIMS),
        authentication_middleware_class=build_middleware_class(settings),
        exclude=["^/static/", "^/health$", "^/schema"],
        description="Sessie-JWT: Authorization: Bearer <token> (API) of de sessiecookie (pagina's).",
    )
