"""The roles a user can hold. A user may hold several (for example resident and council)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who someone is to the platform; stored by value in ``user_roles.role``."""

    RESIDENT = "resident"
    MODERATOR = "moderator"
    ADMIN = "admin"
    COUNCIL = "council"
    AUDITOR = "auditor"


STAFF_ROLES: frozenset[Role] = frozenset({Role.MODERATOR, Role.ADMIN, Role.COUNCIL, Role.AUDITOR})
"""Roles that see or change more than a resident: stricter passwords, shorter sessions."""

ROLE_LABELS_NL: dict[Role, str] = {
    Role.RESIDENT: "inwoner",
    Role.MODERATOR: "toetser",
    Role.ADMIN: "beheerder",
    Role.COUNCIL: "raadslid",
    Role.AUDITOR: "controleur",
}


def is_staff(roles: frozenset[Role] | set[Role]) -> bool:
    """True when any of ``roles`` is a staff role."""
    return bool(STAFF_ROLES & set(roles))
