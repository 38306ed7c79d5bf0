"""Domain errors: a user-safe (Dutch) message and no HTTP status.

Services raise these; ``burgerbegroting.web.errors`` maps each class to an HTTP status in one table.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base class. ``message`` is safe to show to any user, in Dutch."""

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, str] = dict(fields or {})


class ValidationFailed(DomainError):
    """Input is well-formed but breaks a rule; ``fields`` maps field names to messages."""


class NotFound(DomainError):
    """The thing asked for does not exist (or may not be seen by this user)."""


class Conflict(DomainError):
    """The request clashes with the current state (frozen round, duplicate, wrong phase)."""


class NotAuthenticated(DomainError):
    """No valid credentials were presented."""


class Forbidden(DomainError):
    """Authenticated, but this user may not do this."""


class RateLimited(DomainError):
    """Too many attempts; ``retry_after`` seconds until the next one is allowed."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
