"""Controller guards: ``requires_login`` and ``require_roles(*roles)``.

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
