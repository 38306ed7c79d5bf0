"""Admins manage staff accounts: invite by e-mail, grant and revoke roles, close and reopen an
account. Every change is written to the staff action log in the same transaction. No Litestar
here: a service module; mail is returned, not sent.

**Inviting** creates an account with the chosen roles and no usable password, and returns a mail
with a link to choose one (``recovery``'s reset link, valid ``INVITE_HOURS``); using it confirms
the address. An address that already has an account is not invited again: its roles are changed
on that account's page instead.

**Guard rails**: an admin cannot take away their own admin role or close their own account, and
the last active admin stays an admin, so the municipality can never lock itself out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from burgerbegroting.accounts import recovery, service
from burgerbegroting.accounts.models import User, UserRole
from burgerbegroting.accounts.passwords import PasswordService, password_service
from burgerbegroting.accounts.roles import ROLE_LABELS_NL, STAFF_ROLES, Role
from burgerbegroting.accounts.service import OutgoingMail
from burgerbegroting.audit.service import record
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.settings import Settings

INVITE_HOURS = 72
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str
    display_name: str
    roles: frozenset[Role]
    confirmed: bool
    deactivated: bool


def _row(user: User) -> UserRow:
    return UserRow(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=user.role_set,
        confirmed=user.confirmed_at is not None,
        deactivated=user.deactivated_at is not None,
    )


async def list_users(
    session: AsyncSession, *, query: str = "", staff_only: bool = True
) -> list[UserRow]:
    """Staff accounts (or everyone matching ``query`` in address or name), by name."""
    stmt = select(User).options(selectinload(User.roles)).order_by(User.display_name, User.id)
    text = query.strip().lower()[:100]
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                User.email.like(pattern, escape="\\"),
                func.lower(User.display_name).like(pattern, escape="\\"),
            )
        )
    elif staff_only:
        stmt = stmt.where(
            User.id.in_(
                select(UserRole.user_id).where(UserRole.role.in_([r.value for r in STAFF_ROLES]))
            )
        )
    result = await session.execute(stmt.limit(PAGE_SIZE))
    return [_row(user) for user in result.scalars()]


async def get_user_row(session: AsyncSession, user_id: int) -> UserRow:
    user = await service.get_user(session, user_id)
    if user is None:
        raise NotFound(_("Dit account bestaat niet."))
    return _row(user)


def _roles_from(raw: list[str]) -> frozenset[Role]:
    try:
        return frozenset(Role(value) for value in raw)
    except ValueError as exc:
        raise ValidationFailed(
            _("Kies alleen rollen uit de lijst."), fields={"roles": _("Onbekende rol.")}
        ) from exc


async def _active_admins(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == Role.ADMIN.value, User.deactivated_at.is_(None))
    )
    return int(count or 0)


def _labels(roles: frozenset[Role]) -> list[str]:
    return sorted(ROLE_LABELS_NL[r] for r in roles)


async def invite_staff(
    session: AsyncSession,
    settings: Settings,
    *,
    actor_id: int,
    email: str,
    display_name: str,
    roles: list[str],
    passwords: PasswordService | None = None,
) -> tuple[User, OutgoingMail]:
    """Create a staff account and the invitation mail with a link to choose a password."""
    address = service.normalise_email(email)
    name = service.normalise_display_name(display_name)
    problems: dict[str, str] = {}
    if (problem := service.email_problem(address)) is not None:
        problems["email"] = problem
    if (problem := service.display_name_problem(name)) is not None:
        problems["display_name"] = problem
    role_set = _roles_from(roles)
    if not role_set & STAFF_ROLES:
        problems["roles"] = _("Kies minstens één rol voor een medewerker.")
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)
    if await service.get_user_by_email(session, address) is not None:
        raise Conflict(
            _(
                "Er is al een account met dit e-mailadres. Pas de rollen op de pagina van dat account aan."
            ),
            fields={"email": _("Er is al een account met dit e-mailadres.")},
        )
    # A random password nobody knows until the invitee chooses one through the link.
    secret = secrets.token_urlsafe(32)
    user = await service.create_user(
        session,
        email=address,
        password=secret,
        display_name=name,
        roles=role_set,
        passwords=passwords or password_service(settings),
    )
    await record(
        session,
        actor_id=actor_id,
        action="user.invite",
        subject_type="user",
        subject_id=user.id,
        details={"roles": sorted(r.value for r in role_set)},
    )
    link = recovery.reset_link(settings, user, minutes=INVITE_HOURS * 60)
    body = _(
        "Beste %(name)s,\n\n"
        "U bent uitgenodigd als medewerker (%(roles)s) voor de burgerbegroting van "
        "%(municipality)s. Kies een wachtwoord via deze link (%(hours)s uur geldig, één keer te "
        "gebruiken); daarmee is uw account klaar:\n\n"
        "%(link)s\n\n"
        "Verwachtte u deze uitnodiging niet? Dan kunt u deze mail negeren.\n",
        name=name,
        roles=", ".join(_labels(role_set)),
        municipality=settings.municipality,
        hours=INVITE_HOURS,
        link=link,
    )
    mail = OutgoingMail(to=address, subject=_("Uitnodiging voor de burgerbegroting"), body=body)
    return user, mail


async def set_roles(
    session: AsyncSession, *, actor_id: int, user_id: int, roles: list[str], reason: str
) -> UserRow:
    """Grant and revoke roles so the account holds exactly ``roles``; logged with the reason."""
    user = await service.get_user(session, user_id)
    if user is None:
        raise NotFound(_("Dit account bestaat niet."))
    wanted = _roles_from(roles)
    reason = reason.strip()
    problems: dict[str, str] = {}
    if not wanted:
        problems["roles"] = _("Kies minstens één rol, of sluit het account.")
    if not reason:
        problems["reason"] = _("Geef een reden voor het logboek.")
    elif len(reason) > 1000:
        problems["reason"] = _("Maximaal %(max)s tekens.", max=1000)
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)
    before = user.role_set
    if before == wanted:
        return _row(user)
    if Role.ADMIN in before and Role.ADMIN not in wanted:
        if user.id == actor_id:
            raise Conflict(_("U kunt uw eigen beheerdersrol niet intrekken."))
        if user.deactivated_at is None and await _active_admins(session) <= 1:
            raise Conflict(_("Dit is de laatste beheerder; die rol blijft."))
    for link in list(user.roles):
        if Role(link.role) not in wanted:
            await session.delete(link)
    for role in sorted(wanted - before):
        session.add(UserRole(user_id=user.id, role=role.value))
    # A change of roles ends the account's sessions: its next request sees the new roles anyway,
    # and a staff member who lost a role must not keep a session made for it.
    recovery.end_all_sessions(user)
    await session.flush()
    await record(
        session,
        actor_id=actor_id,
        action="user.roles",
        subject_type="user",
        subject_id=user.id,
        details={
            "before": {"roles": sorted(r.value for r in before)},
            "after": {"roles": sorted(r.value for r in wanted)},
        },
        reason=reason,
    )
    return UserRow(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=wanted,
        confirmed=user.confirmed_at is not None,
        deactivated=user.deactivated_at is not None,
    )


async def set_active(
    session: AsyncSession, *, actor_id: int, user_id: int, active: bool, reason: str
) -> UserRow:
    """Close (``active=False``) or reopen an account; closing ends its sessions at once."""
    user = await service.get_user(session, user_id)
    if user is None:
        raise NotFound(_("Dit account bestaat niet."))
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(
            _("Geef een reden voor het logboek."),
            fields={"reason": _("Geef een reden voor het logboek.")},
        )
    if active == (user.deactivated_at is None):
        return _row(user)
    if not active:
        if user.id == actor_id:
            raise Conflict(_("U kunt uw eigen account niet sluiten."))
        if Role.ADMIN in user.role_set and await _active_admins(session) <= 1:
            raise Conflict(_("Dit is de laatste beheerder; dat account blijft open."))
        user.deactivated_at = utcnow()
        recovery.end_all_sessions(user)
    else:
        user.deactivated_at = None
    await session.flush()
    await record(
        session,
        actor_id=actor_id,
        action="user.reactivate" if active else "user.deactivate",
        subject_type="user",
        subject_id=user.id,
        details={},
        reason=reason[:1000],
    )
    return _row(user)
