"""Co-author invitations: invite by e-mail, accept or decline with the mailed link, revoke.

The rules, and why:

- Inviting never tells whether an address has an account (that would let any resident test
  addresses): the answer is the same for every valid, not yet credited address, and the mail goes
  to the address itself. Only an address that is *already credited on this proposal* gets its own
  message: those people are shown on the proposal page anyway.
- The link carries a random 256-bit token; the table keeps only its keyed hash
  (``accounts.tokens.hash_link_token``), like a password. A token is used once: accepting or
  declining answers the invitation, and a second use gets a clear 409.
- An invitation expires after ``INVITATION_DAYS`` and is useless once the proposal is withdrawn,
  merged or rejected, or the round is frozen (voting opened).
- At most one *pending* invitation per address per proposal: a partial UNIQUE index decides, not
  an application check, so two simultaneous invitations of one address store one row. At most
  ``MAX_PENDING`` pending invitations per proposal (counted under the proposal's row lock).
- Only residents accept (co-authors may edit, and editing is for residents). Someone logged in
  whose account address is the invited address may answer from "Mijn voorstellen" without the
  link: their confirmed account proves they own the mailbox the link went to.

Plain async functions over an ``AsyncSession``; mail is returned, not sent, so the controller
sends it only after the invitation was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import ratelimit, tokens
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import OutgoingMail, email_problem, normalise_email
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, Forbidden, NotFound, ValidationFailed
from burgerbegroting.i18n import _, format_datetime
from burgerbegroting.proposals import gallery, service
from burgerbegroting.proposals.models import (
    AuthorRole,
    InvitationStatus,
    Proposal,
    ProposalAuthor,
    ProposalInvitation,
    ProposalStatus,
)
from burgerbegroting.proposals.text import has_control_characters
from burgerbegroting.rounds import service as rounds
from burgerbegroting.settings import Settings

IS = InvitationStatus
S = ProposalStatus

INVITATION_DAYS = 14
MAX_PENDING = 10
MESSAGE_MAX = 500
ORGANISATION_MAX = service.LIMITS["organisation_name"]
INVITES_PER_WINDOW = 30
"""Invitations one user may send per rate-limit window (every proposal together): a cap on mail
that a resident can make the municipality send to arbitrary addresses."""
LINK_PURPOSE = "coauthor-invitation"
CLOSED_PROPOSAL: frozenset[str] = frozenset({S.WITHDRAWN, S.MERGED, S.REJECTED})


@dataclass(frozen=True, slots=True)
class InvitationView:
    """An invitation as its invitee or the proposal's authors see it."""

    id: int
    proposal_id: int
    proposal_title: str
    email: str
    invited_by: str
    message: str | None
    status: str
    created_at: datetime
    expires_at: datetime
    problem: str | None
    """Why it cannot be accepted (expired, answered, proposal closed, round frozen), or None."""

    @property
    def usable(self) -> bool:
        return self.problem is None


def token_hash(settings: Settings, token: str) -> str:
    return tokens.hash_link_token(settings, LINK_PURPOSE, token)


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/uitnodiging?token={token}"


def _check_message(message: str | None, errors: dict[str, str]) -> str | None:
    if message is None:
        return None
    text = message.strip()
    if has_control_characters(text):
        errors["message"] = _("Het bericht bevat tekens die niet zijn toegestaan.")
    elif len(text) > MESSAGE_MAX:
        errors["message"] = _(
            "Het bericht is te lang: hoogstens %(max)s tekens (nu %(n)s).",
            max=MESSAGE_MAX,
            n=len(text),
        )
    return text or None


def check_organisation(raw: str | None) -> str | None:
    """The organisation name credited beside a co-author, trimmed; None when empty."""
    if raw is None:
        return None
    name = " ".join(raw.split())
    problem = None
    if has_control_characters(raw) or "\n" in raw or "\r" in raw:
        problem = _("De naam bevat tekens die niet zijn toegestaan.")
    elif len(name) > ORGANISATION_MAX:
        problem = _("De naam is te lang: hoogstens %(max)s tekens.", max=ORGANISATION_MAX)
    if problem is not None:
        raise ValidationFailed(
            _("Controleer de gemarkeerde velden."), fields={"organisation_name": problem}
        )
    return name or None


async def _expire_stale(session: AsyncSession, proposal_id: int) -> None:
    """Mark pending invitations past their expiry as expired, so they stop counting towards
    ``MAX_PENDING`` and no longer block a new invitation of the same address."""
    await session.execute(
        update(ProposalInvitation)
        .where(
            ProposalInvitation.proposal_id == proposal_id,
            ProposalInvitation.status == IS.PENDING.value,
            ProposalInvitation.expires_at <= utcnow(),
        )
        .values(status=IS.EXPIRED.value)
    )


def _invitation_mail(
    settings: Settings,
    *,
    to: str,
    proposal: Proposal,
    inviter: str,
    message: str | None,
    token: str,
    expires_at: datetime,
) -> OutgoingMail:
    quoted = ""
    if message:
        quoted = _("Bericht van %(name)s:\n%(note)s\n\n", name=inviter, note=message)
    body = _(
        "Goedendag,\n\n"
        "%(name)s nodigt u uit om mede-indiener te worden van het voorstel "
        "\u201c%(title)s\u201d voor de burgerbegroting van %(municipality)s. "
        "Mede-indieners worden bij het voorstel vermeld en mogen het bewerken. U kunt ook namens "
        "een organisatie meedoen.\n\n"
        "%(quoted)s"
        "Bekijk de uitnodiging en neem haar aan of wijs haar af via deze link "
        "(geldig tot %(until)s):\n\n"
        "%(link)s\n\n"
        "U heeft een account nodig om de uitnodiging aan te nemen. Maak er zo nodig een aan met "
        "dit e-mailadres; de uitnodiging staat daarna ook onder \u2018Mijn voorstellen\u2019.\n\n"
        "Kent u deze persoon niet, of wilt u niet meedoen? Dan kunt u deze mail negeren.\n",
        name=inviter,
        title=proposal.title,
        municipality=settings.municipality,
        quoted=quoted,
        until=format_datetime(expires_at),
        link=invitation_link(settings, token),
    )
    return OutgoingMail(
        to=to, subject=_("Uitnodiging: word mede-indiener van een voorstel"), body=body
    )


async def invite(
    session: AsyncSession,
    settings: Settings,
    *,
    proposal_id: int,
    user: service.Actor,
    email: str,
    message: str | None = None,
) -> tuple[ProposalInvitation, OutgoingMail]:
    """An author (or co-author) invites ``email``; returns the stored invitation and its mail.

    The same answer whether or not the address has an account. ``Conflict`` when the address is
    already credited, already has a pending invitation (the UNIQUE index decides), or the
    proposal already has ``MAX_PENDING`` pending invitations.
    """
    errors: dict[str, str] = {}
    address = normalise_email(email)
    if (problem := email_problem(address)) is not None:
        errors["email"] = problem
    text = _check_message(message, errors)
    if errors:
        raise ValidationFailed(_("Controleer de gemarkeerde velden."), fields=errors)
    await ratelimit.hit(
        session,
        f"invite:user:{user.id}",
        INVITES_PER_WINDOW,
        settings.rate_limit_window_seconds,
        message=_("U heeft te veel uitnodigingen verstuurd. Probeer het later opnieuw."),
    )
    proposal, _round = await service.editable(session, proposal_id, user)
    if proposal.status in CLOSED_PROPOSAL:
        raise Conflict(_("Bij dit voorstel kunnen geen mede-indieners meer worden uitgenodigd."))
    credited = await session.scalar(
        select(func.count())
        .select_from(ProposalAuthor)
        .join(User, User.id == ProposalAuthor.user_id)
        .where(ProposalAuthor.proposal_id == proposal.id, User.email == address)
    )
    if credited:
        raise Conflict(
            _("Deze persoon staat al als indiener bij dit voorstel."),
            fields={"email": _("Deze persoon staat al als indiener bij dit voorstel.")},
        )
    await _expire_stale(session, proposal.id)
    pending = await session.scalar(
        select(func.count())
        .select_from(ProposalInvitation)
        .where(
            ProposalInvitation.proposal_id == proposal.id,
            ProposalInvitation.status == IS.PENDING.value,
        )
    )
    if (pending or 0) >= MAX_PENDING:
        raise Conflict(
            _(
                "Er staan al %(max)s uitnodigingen open voor dit voorstel. Trek er een in of "
                "wacht tot ze zijn beantwoord.",
                max=MAX_PENDING,
            )
        )
    token = tokens.new_link_token()
    now = utcnow()
    invitation = ProposalInvitation(
        proposal_id=proposal.id,
        email=address,
        token_hash=token_hash(settings, token),
        invited_by_id=user.id,
        message=text,
        status=IS.PENDING.value,
        created_at=now,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    try:
        # A savepoint: losing the race for this address leaves the request's transaction usable.
        async with session.begin_nested():
            session.add(invitation)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            _("Er staat al een uitnodiging open voor dit e-mailadres."),
            fields={"email": _("Er staat al een uitnodiging open voor dit e-mailadres.")},
        ) from exc
    inviter = await session.get(User, user.id)
    mail = _invitation_mail(
        settings,
        to=address,
        proposal=proposal,
        inviter=inviter.display_name if inviter else "",
        message=text,
        token=token,
        expires_at=invitation.expires_at,
    )
    return invitation, mail


async def _problem(
    session: AsyncSession, invitation: ProposalInvitation, proposal: Proposal
) -> str | None:
    """Why ``invitation`` cannot be accepted now, in Dutch; None when it can."""
    if invitation.status == IS.ACCEPTED:
        return _("Deze uitnodiging is al aangenomen.")
    if invitation.status == IS.DECLINED:
        return _("Deze uitnodiging is al afgewezen.")
    if invitation.status == IS.REVOKED:
        return _("Deze uitnodiging is ingetrokken door de indiener.")
    if invitation.status == IS.EXPIRED or invitation.expires_at <= utcnow():
        return _("Deze uitnodiging is verlopen. Vraag de indiener om een nieuwe.")
    if proposal.status in CLOSED_PROPOSAL:
        return _("Dit voorstel is ingetrokken, samengevoegd of afgewezen: meedoen kan niet meer.")
    round_ = await rounds.get_round(session, proposal.round_id)
    if service.round_is_frozen(round_):
        return _("De stemming is geopend: er kunnen geen mede-indieners meer bij.")
    return None


async def describe(session: AsyncSession, invitation: ProposalInvitation) -> InvitationView:
    proposal = await session.get(Proposal, invitation.proposal_id)
    assert proposal is not None  # the foreign key cascades
    inviter = await session.get(User, invitation.invited_by_id)
    return InvitationView(
        id=invitation.id,
        proposal_id=proposal.id,
        proposal_title=proposal.title,
        email=invitation.email,
        invited_by=inviter.display_name if inviter else "",
        message=invitation.message,
        status=invitation.status,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        problem=await _problem(session, invitation, proposal),
    )


def _unknown() -> NotFound:
    return NotFound(
        _(
            "Deze uitnodiging bestaat niet. Controleer of u de hele link uit de e-mail heeft "
            "gebruikt."
        )
    )


async def _find(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str | None,
    invitation_id: int | None,
    user: service.Actor | None,
    email: str | None,
    lock: bool = False,
) -> ProposalInvitation:
    """The invitation a token names, or (for its invitee) the one with ``invitation_id``.

    By id only when ``email`` (the logged-in user's confirmed account address) is the invited
    address: otherwise an id could be guessed. Unknown and not-yours look the same.
    """
    stmt = select(ProposalInvitation)
    if token is not None:
        if not token or len(token) > tokens.LINK_TOKEN_MAX_LENGTH:
            raise _unknown()
        stmt = stmt.where(ProposalInvitation.token_hash == token_hash(settings, token))
    elif invitation_id is not None and user is not None and email is not None:
        stmt = stmt.where(
            ProposalInvitation.id == invitation_id,
            ProposalInvitation.email == normalise_email(email),
        )
    else:
        raise ValidationFailed(
            _("De uitnodiging ontbreekt: open de link uit de e-mail opnieuw."),
            fields={"token": _("De link is onvolledig.")},
        )
    if lock:
        stmt = stmt.with_for_update()
    invitation = (await session.execute(stmt)).scalar_one_or_none()
    if invitation is None:
        raise _unknown()
    return invitation


async def get_invitation(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str | None = None,
    invitation_id: int | None = None,
    user: service.Actor | None = None,
    email: str | None = None,
) -> InvitationView:
    """What the invitation page shows: proposal, inviter, message, and whether it still works."""
    invitation = await _find(
        session, settings, token=token, invitation_id=invitation_id, user=user, email=email
    )
    return await describe(session, invitation)


async def respond(
    session: AsyncSession,
    settings: Settings,
    *,
    user: service.Actor,
    accept: bool,
    token: str | None = None,
    invitation_id: int | None = None,
    email: str | None = None,
    organisation_name: str | None = None,
) -> InvitationView:
    """Accept (credit ``user`` as co-author, optionally with an organisation) or decline.

    Once: the status moves from pending with a conditional UPDATE, so of two simultaneous answers
    exactly one wins and the other gets ``Conflict``; UNIQUE(proposal_id, user_id) on the credits
    keeps a person credited once whatever happens.
    """
    organisation = check_organisation(organisation_name) if accept else None
    if accept and not user.has(Role.RESIDENT):
        raise Forbidden(_("Alleen inwoners kunnen mede-indiener worden."))
    invitation = await _find(
        session,
        settings,
        token=token,
        invitation_id=invitation_id,
        user=user,
        email=email,
        lock=True,
    )
    # Bound to the invited address: a link copied from a log, a forwarded mail or a shared
    # mailbox must not let someone else accept (or decline) in the invitee's place.
    if email is None or normalise_email(email) != invitation.email:
        raise Forbidden(
            _(
                "Deze uitnodiging is naar een ander e-mailadres gestuurd. Log in met het account "
                "van dat e-mailadres om haar te beantwoorden."
            )
        )
    proposal = await service.load_for_update(session, invitation.proposal_id)
    if (problem := await _problem(session, invitation, proposal)) is not None:
        raise Conflict(problem)
    if accept and user.id in await service.author_ids(session, proposal.id):
        raise Conflict(_("U staat al als indiener bij dit voorstel."))
    now = utcnow()
    result = await session.execute(
        update(ProposalInvitation)
        .where(
            ProposalInvitation.id == invitation.id,
            ProposalInvitation.status == IS.PENDING.value,
        )
        .values(
            status=(IS.ACCEPTED if accept else IS.DECLINED).value,
            responded_at=now,
            responded_by_id=user.id,
        )
        .execution_options(synchronize_session="fetch")
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise Conflict(_("Deze uitnodiging is al beantwoord."))
    if accept:
        try:
            async with session.begin_nested():
                session.add(
                    ProposalAuthor(
                        proposal_id=proposal.id,
                        user_id=user.id,
                        role=AuthorRole.COAUTHOR.value,
                        organisation_name=organisation,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(_("U staat al als indiener bij dit voorstel.")) from exc
    await session.refresh(invitation)
    return await describe(session, invitation)


async def revoke(
    session: AsyncSession, *, proposal_id: int, invitation_id: int, user: service.Actor
) -> None:
    """The main author, or whoever sent it, revokes a pending invitation; its link stops working."""
    proposal, _round = await service.editable(session, proposal_id, user)
    invitation = await session.scalar(
        select(ProposalInvitation)
        .where(
            ProposalInvitation.id == invitation_id,
            ProposalInvitation.proposal_id == proposal.id,
        )
        .with_for_update()
    )
    if invitation is None:
        raise NotFound(_("Deze uitnodiging hoort niet bij dit voorstel."))
    if user.id not in {proposal.author_id, invitation.invited_by_id}:
        raise Forbidden(_("Alleen de indiener of wie de uitnodiging stuurde kan haar intrekken."))
    if invitation.status != IS.PENDING:
        raise Conflict(_("Deze uitnodiging is al beantwoord of ingetrokken."))
    invitation.status = IS.REVOKED.value
    invitation.responded_at = utcnow()
    invitation.responded_by_id = user.id
    await session.flush()


async def pending_for_proposal(
    session: AsyncSession, *, proposal_id: int, user: service.Actor
) -> list[InvitationView]:
    """Pending invitations of a proposal, oldest first: for its authors only."""
    proposal = await gallery.get_proposal_view(session, proposal_id=proposal_id, user=user)
    if not proposal.is_author:
        raise Forbidden(_("Alleen de indieners van dit voorstel kunnen de uitnodigingen zien."))
    rows = await session.scalars(
        select(ProposalInvitation)
        .where(
            ProposalInvitation.proposal_id == proposal_id,
            ProposalInvitation.status == IS.PENDING.value,
        )
        .order_by(ProposalInvitation.created_at, ProposalInvitation.id)
    )
    return [await describe(session, inv) for inv in rows]


async def pending_for_address(session: AsyncSession, *, email: str) -> list[InvitationView]:
    """Pending, still usable invitations sent to ``email`` (the user's own account address)."""
    rows = await session.scalars(
        select(ProposalInvitation)
        .where(
            ProposalInvitation.email == normalise_email(email),
            ProposalInvitation.status == IS.PENDING.value,
            ProposalInvitation.expires_at > utcnow(),
        )
        .order_by(ProposalInvitation.created_at.desc(), ProposalInvitation.id.desc())
        .limit(100)
    )
    views = [await describe(session, inv) for inv in rows]
    return [v for v in views if v.usable]
