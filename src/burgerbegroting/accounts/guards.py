"""Controller guards: ``requires_login``, ``require_roles(*roles)`` and, for downloads that write the
audit log, ``requires_same_origin_or_bearer``.

Anonymous → 401, authenticated without one of the roles → 403. Roles are never implied: an admin
is not automatically a moderator; list every role that may pass.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.roles import Role


def _user_or_401(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser:
    user = current_user(connection)
    if user is None:
        raise NotAuthorizedException("U bent niet ingelogd. Log in en probeer het opnieuw.")
    return user


def requires_login(
    connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
) -> None:
    """Let any authenticated user through; 401 for anonymous requests."""
    _user_or_401(connection)


def require_roles(*roles: Role) -> Guard:
    """A guard that lets users holding at least one of ``roles`` through (401 / 403 otherwise)."""
    if not roles:
        raise ValueError("require_roles needs at least one role")
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        user = _user_or_401(connection)
        if not user.has(*allowed):
            raise PermissionDeniedException("U heeft geen toegang tot deze pagina of handeling.")

    guard.__name__ = "require_roles_" + "_".join(sorted(r.value for r in allowed))
    return guard


def requires_same_origin_or_bearer(
    connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
) -> None:
    """For GET routes that write the audit log (downloads): refuse what another site can trigger.

    A top-level GET from another site carries the ``SameSite=Lax`` session cookie, so a link or a
    redirect on any page made a logged-in staff member download the export and wrote an audit line
    in their name. Let through only a bearer token (no other site can send it) or a browser request
    that says it comes from this site (``Sec-Fetch-Site: same-origin``) or from the user
    (``none``: a typed address or a bookmark). A cookie-only request without the header (an old
    browser, a script holding a cookie) is refused too: use the bearer token.

    Put it on every logged download (the proposal export; the audit exports).
    """
    if connection.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if connection.headers.get("sec-fetch-site", "").lower() in {"same-origin", "none"}:
        return
    raise PermissionDeniedException(
        "Deze download kan alleen vanaf deze website zelf worden gestart."
    )
