"""A resident's own account (AVG/GDPR): name, e-mail address, password, a copy of their data,
and deleting the account. No Litestar here: a service module; mail is returned, not sent.

**E-mail address**: a new address takes effect only once a link sent *to it* is used, so nobody
can move an account to an address they do not read. The link is a signed JWT for this purpose
only, bound to the old and the new address (it stops working if either changes). The old
address is told afterwards. Whether the new address already has an account is not shown on the
page: that address gets a mail saying so instead of a link.

**Deleting an account** keeps what the public already read: proposals stay, credited to
"oud-deelnemer". The account row itself stays as an empty shell (no e-mail address, name,
password or roles; it can never log in again), because proposals, co-authorships and the staff
log point at it. Supports are removed (they are personal: who backs which plan), pending
invitations to the address are withdrawn, and every session ends. Votes were never linked to an
account, so there is nothing to remove there. This is what ``pages/privacy.html`` tells residents.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import recovery, service, tokens
from burgerbegroting.accounts.models import User, UserRole
from burgerbegroting.accounts.passwords import PasswordService, password_problem, password_service
from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import OutgoingMail
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.proposals.models import (
    InvitationStatus,
    Proposal,
    ProposalAuthor,
    ProposalInvitation,
    ProposalPhoto,
    ProposalStatus,
    ProposalSupport,
)
from burgerbegroting.rounds.models import Round
from burgerbegroting.settings import Settings

FORMER_PARTICIPANT = "oud-deelnemer"
"""The name deleted accounts are credited under on proposals (stored data, shown as is)."""
EMAIL_CHANGE_AUDIENCE = "burgerbegroting:email-change"
_EMAIL_CHANGE_KEY = "email-change"
DELETED_DOMAIN = "verwijderd.invalid"  # RFC 2606: can never receive mail


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await service.get_user(session, user_id)
    if user is None or user.confirmed_at is None:
        raise NotAuthenticated(_("U bent niet ingelogd. Log in en probeer het opnieuw."))
    return user


async def _check_password(
    user: User, password: str, passwords: PasswordService, *, field: str = "current_password"
) -> None:
    if not password:
        raise ValidationFailed(
            _("Vul uw huidige wachtwoord in."), fields={field: _("Vul uw huidige wachtwoord in.")}
        )
    if not await passwords.verify(user.password_hash, password):
        raise ValidationFailed(
            _("Het wachtwoord klopt niet."), fields={field: _("Het wachtwoord klopt niet.")}
        )


# --- name ----------------------------------------------------------------------------------------


async def change_display_name(session: AsyncSession, *, user_id: int, display_name: str) -> User:
    """A new public name; it is shown on the user's proposals from now on."""
    user = await _user(session, user_id)
    name = service.normalise_display_name(display_name)
    problem = service.display_name_problem(name)
    if problem is not None:
        raise ValidationFailed(_("Kies een andere naam."), fields={"display_name": problem})
    user.display_name = name
    await session.flush()
    return user


# --- e-mail address ------------------------------------------------------------------------------


def _email_change_token(settings: Settings, user: User, new_email: str) -> str:
    now = utcnow()
    payload: dict[str, Any] = {
        "iss": settings.base_url,
        "aud": EMAIL_CHANGE_AUDIENCE,
        "sub": str(user.id),
        "old": user.email,
        "new": new_email,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=settings.confirm_token_hours)).timestamp()),
    }
    return jwt.encode(
        payload, tokens.derive_key(settings, _EMAIL_CHANGE_KEY), algorithm=tokens.ALGORITHM
    )


async def request_email_change(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: int,
    new_email: str,
    password: str,
    passwords: PasswordService | None = None,
) -> OutgoingMail:
    """The mail to send to the new address (a confirmation link, or "you already have an
    account"). The address changes only when the link is used."""
    user = await _user(session, user_id)
    address = service.normalise_email(new_email)
    problems: dict[str, str] = {}
    if (problem := service.email_problem(address)) is not None:
        problems["email"] = problem
    elif address == user.email:
        problems["email"] = _("Dit is al uw e-mailadres.")
    if not password:
        problems["current_password"] = _("Vul uw huidige wachtwoord in.")
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)
    await _check_password(user, password, passwords or password_service(settings))
    if await service.get_user_by_email(session, address) is not None:
        body = _(
            "Beste lezer,\n\n"
            "Iemand wilde dit e-mailadres gebruiken voor een account voor de burgerbegroting van "
            "%(municipality)s, maar er is al een account met dit adres. Er is niets veranderd.\n\n"
            "Heeft u dit niet zelf gedaan? Dan hoeft u niets te doen.\n",
            municipality=settings.municipality,
        )
        return OutgoingMail(
            to=address, subject=_("Dit e-mailadres heeft al een account"), body=body
        )
    link = (
        f"{settings.base_url}/mijn-account/e-mail-bevestigen?token="
        f"{_email_change_token(settings, user, address)}"
    )
    body = _(
        "Beste %(name)s,\n\n"
        "U wilt dit e-mailadres gebruiken voor uw account voor de burgerbegroting van "
        "%(municipality)s. Bevestig dat via deze link (%(hours)s uur geldig):\n\n"
        "%(link)s\n\n"
        "Tot u dat doet, blijft uw oude adres in gebruik. Heeft u dit niet zelf gedaan? Dan kunt "
        "u deze mail negeren.\n",
        name=user.display_name,
        municipality=settings.municipality,
        hours=settings.confirm_token_hours,
        link=link,
    )
    return OutgoingMail(to=address, subject=_("Bevestig uw nieuwe e-mailadres"), body=body)


def _invalid_change_link() -> ValidationFailed:
    return ValidationFailed(
        _("Deze bevestigingslink is ongeldig, al gebruikt of verlopen. Vraag een nieuwe aan."),
        fields={"token": _("De link is ongeldig, al gebruikt of verlopen.")},
    )


async def confirm_email_change(
    session: AsyncSession, settings: Settings, *, token: str
) -> tuple[User, OutgoingMail]:
    """Use an e-mail change link; returns the user and a notice for the *old* address."""
    if not token or len(token) > 2048:
        raise _invalid_change_link()
    try:
        payload = jwt.decode(
            token,
            tokens.derive_key(settings, _EMAIL_CHANGE_KEY),
            algorithms=[tokens.ALGORITHM],
            audience=EMAIL_CHANGE_AUDIENCE,
            issuer=settings.base_url,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "old", "new"]},
        )
    except jwt.InvalidTokenError as exc:
        raise _invalid_change_link() from exc
    sub, old, new = payload.get("sub"), payload.get("old"), payload.get("new")
    if not (
        isinstance(sub, str) and sub.isdigit() and isinstance(old, str) and isinstance(new, str)
    ):
        raise _invalid_change_link()
    user = await service.get_user(session, int(sub))
    if user is None or user.confirmed_at is None or user.email != old:
        raise _invalid_change_link()  # used already (the address changed), or account gone
    if await service.get_user_by_email(session, new) is not None:
        raise Conflict(
            _("Er bestaat inmiddels een ander account met dit e-mailadres."),
            fields={"token": _("Er bestaat inmiddels een ander account met dit e-mailadres.")},
        )
    user.email = new
    await session.flush()
    body = _(
        "Beste %(name)s,\n\n"
        "Het e-mailadres van uw account voor de burgerbegroting van %(municipality)s is gewijzigd "
        "in %(new)s. Voortaan logt u daarmee in.\n\n"
        "Heeft u dit niet zelf gedaan? Neem dan contact op met de gemeente.\n",
        name=user.display_name,
        municipality=settings.municipality,
        new=new,
    )
    return user, OutgoingMail(to=old, subject=_("Uw e-mailadres is gewijzigd"), body=body)


# --- password ------------------------------------------------------------------------------------


async def change_password(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: int,
    current_password: str,
    new_password: str,
    passwords: PasswordService | None = None,
) -> User:
    """A new password; every session ends (the caller gives this browser a fresh one)."""
    user = await _user(session, user_id)
    passwords = passwords or password_service(settings)
    problems: dict[str, str] = {}
    if not current_password:
        problems["current_password"] = _("Vul uw huidige wachtwoord in.")
    if (problem := password_problem(new_password, user.role_set)) is not None:
        problems["new_password"] = problem
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)
    await _check_password(user, current_password, passwords)
    user.password_hash = await passwords.hash(new_password)
    recovery.end_all_sessions(user)
    await session.flush()
    return user


# --- my data -------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_data(session: AsyncSession, *, user_id: int, base_url: str = "") -> dict[str, Any]:
    """Everything stored about the user's account, as plain JSON-able data (AVG art. 15 and 20).

    Photos on the user's proposals are referenced by address (``base_url`` + path), not copied in:
    the file stays one download away for as long as the proposal shows it."""
    user = await _user(session, user_id)
    authored = await session.execute(
        select(Proposal, ProposalAuthor.role, ProposalAuthor.organisation_name, Round.title)
        .join(ProposalAuthor, ProposalAuthor.proposal_id == Proposal.id)
        .join(Round, Round.id == Proposal.round_id)
        .where(ProposalAuthor.user_id == user.id)
        .order_by(Proposal.id)
    )
    supports = await session.execute(
        select(ProposalSupport.created_at, Proposal.id, Proposal.title)
        .join(Proposal, Proposal.id == ProposalSupport.proposal_id)
        .where(ProposalSupport.user_id == user.id)
        .order_by(Proposal.id)
    )
    photo_rows = await session.scalars(
        select(ProposalPhoto)
        .join(ProposalAuthor, ProposalAuthor.proposal_id == ProposalPhoto.proposal_id)
        .where(ProposalAuthor.user_id == user.id)
        .order_by(ProposalPhoto.id)
    )
    photos: dict[int, list[dict[str, Any]]] = {}
    for photo in photo_rows:
        photos.setdefault(photo.proposal_id, []).append(
            {
                "id": photo.id,
                "alt_text": photo.alt_text,
                "width": photo.width,
                "height": photo.height,
                "uploaded_at": _iso(photo.created_at),
                "url": f"{base_url}/voorstellen/{photo.proposal_id}/fotos/{photo.id}",
            }
        )
    invitations = await session.execute(
        select(ProposalInvitation)
        .where(ProposalInvitation.email == user.email)
        .order_by(ProposalInvitation.id)
    )
    return {
        "account": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "roles": sorted(r.role for r in user.roles),
            "created_at": _iso(user.created_at),
            "confirmed_at": _iso(user.confirmed_at),
            "last_login_at": _iso(user.last_login_at),
        },
        "proposals": [
            {
                "id": p.id,
                "round": round_title,
                "role": role,
                "organisation_name": organisation,
                "status": p.status,
                "title": p.title,
                "summary": p.summary,
                "description": p.description,
                "societal_effect": p.societal_effect,
                "target_group": p.target_group,
                "location": p.location,
                "estimated_cost_cents": p.estimated_cost_cents,
                "created_at": _iso(p.created_at),
                "updated_at": _iso(p.updated_at),
                "photos": photos.get(p.id, []),
            }
            for p, role, organisation, round_title in authored.all()
        ],
        "supports": [
            {"proposal_id": pid, "title": title, "supported_at": _iso(at)}
            for at, pid, title in supports.all()
        ],
        "invitations_received": [
            {
                "proposal_id": i.proposal_id,
                "status": i.status,
                "message": i.message,
                "created_at": _iso(i.created_at),
            }
            for i in invitations.scalars()
        ],
        "votes": _(
            "Stemmen kunnen wij niet aan uw account koppelen; ze staan daarom niet in dit bestand."
        ),
        "exported_at": _iso(utcnow()),
    }


# --- deleting the account ------------------------------------------------------------------------


async def delete_account(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: int,
    password: str,
    passwords: PasswordService | None = None,
) -> list[tuple[int, str]]:
    """Delete a resident's account as the module docstring describes. Staff accounts are closed
    by an admin instead (their decisions in the log must keep a responsible person).

    Returns (proposal id, file key) of the photos whose rows went with the deleted drafts: the
    caller removes their files after the commit (``proposals.photos.files_of``)."""
    user = await _user(session, user_id)
    if user.role_set != {Role.RESIDENT}:
        raise Forbidden(
            _(
                "Een account van een medewerker kunt u niet zelf verwijderen. "
                "Vraag het een beheerder."
            )
        )
    passwords = passwords or password_service(settings)
    await _check_password(user, password, passwords, field="password")
    old_email = user.email
    # Drafts were never public and only this person wrote them: they go. Proposals others can
    # see, or wrote along with, stay.
    shared = select(ProposalAuthor.proposal_id).where(ProposalAuthor.user_id != user.id)
    drafts = select(Proposal.id).where(
        Proposal.author_id == user.id,
        Proposal.status == ProposalStatus.DRAFT.value,
        Proposal.id.not_in(shared),
    )
    removed_photos = [
        (int(proposal_id), str(file_key))
        for proposal_id, file_key in (
            await session.execute(
                select(ProposalPhoto.proposal_id, ProposalPhoto.file_key).where(
                    ProposalPhoto.proposal_id.in_(drafts)
                )
            )
        ).all()
    ]
    await session.execute(
        delete(Proposal).where(
            Proposal.author_id == user.id,
            Proposal.status == ProposalStatus.DRAFT.value,
            Proposal.id.not_in(shared),
        )
    )
    await session.execute(delete(ProposalSupport).where(ProposalSupport.user_id == user.id))
    await session.execute(
        delete(ProposalInvitation).where(
            ProposalInvitation.email == old_email,
            ProposalInvitation.status == InvitationStatus.PENDING.value,
        )
    )
    await session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    user.email = f"verwijderd-{user.id}@{DELETED_DOMAIN}"
    user.display_name = FORMER_PARTICIPANT
    # A hash of a random secret nobody knows: no password opens this account again.
    user.password_hash = await passwords.hash(secrets.token_urlsafe(32))
    user.confirmed_at = None
    user.last_login_at = None
    recovery.end_all_sessions(user)
    await session.flush()
    # Not in the staff action log: that log is for staff decisions, and it is append-only.
    return removed_photos
