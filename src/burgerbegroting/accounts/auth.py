"""Who is asking: ``CurrentUser`` and how to get it from a request.

``request.user`` is a ``CurrentUser`` for an authenticated request and ``None`` for an anonymous one:
the authentication middleware lets anonymous requests through (public pages need that) and the
guards in ``accounts.guards`` decide per controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from burgerbegroting.accounts.roles import Role, is_staff


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The authenticated user of one request, loaded fresh from the database on every request."""

    id: int
    email: str
    display_name: str
    roles: frozenset[Role]

    def has(self, *roles: Role) -> bool:
        """True when the user holds at least one of ``roles``."""
        return any(role in self.roles for role in roles)

    @property
    def is_staff(self) -> bool:
        return is_staff(self.roles)


def current_user(connection: Any) -> CurrentUser | None:
    """The ``CurrentUser`` of a request or ``None``; safe on routes the middleware never saw.

    Use this instead of ``request.user`` where a request may not have passed the authentication
    middleware (exception handlers for unknown paths, static files): Litestar raises there.
    """
    scope = getattr(connection, "scope", connection)
    user = scope.get("user") if isinstance(scope, dict) else None
    return user if isinstance(user, CurrentUser) else None
