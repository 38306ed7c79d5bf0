"""Account business rules: registration, confirmation, login, revocation.

Plain async functions over an ``AsyncSession``; they raise domain errors with Dutch messages and
never import Litestar. Mail is *returned* (``OutgoingMail``), not sent, so the controller can send
it after the transaction committed: a link to an account that was rolled back would be a lie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from burgerbegroting.accounts import ratelimit, tokens
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.models import (
    DISPLAY_NAME_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    RevokedToken,
    User,
    UserRole,
)
from burgerbegroting.accounts.passwords import (
    MAX_LENGTH as PASSWORD_MAX_LENGTH,
)
from burgerbegroting.accounts.passwords import (
    PasswordService,
    password_problem,
    password_service,
)
from burgerbegroting.accounts.roles import Role, is_staff
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.settings import Settings

# Deliberately simple: one @, no spaces, a dot in the domain. The confirmation mail is the real
# test of an address; a stricter pattern mostly refuses valid addresses.
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(raw: str) -> str:
    """Trimmed and lower-cased: the stored form, so uniqueness is case-insensitive."""
    return unicodedata.normalize("NFC", raw.strip()).lower()


def email_problem(email: str) -> str | None:
    """The Dutch reason a (normalised) e-mail address is unusable, or None."""
    if email == "":
        return _("Vul uw e-mailadres in.")
    if len(email) > EMAIL_MAX_LENGTH:
        return _("Het e-mailadres is te lang: hoogstens %(max)s tekens.", max=EMAIL_MAX_LENGTH)
    if not _EMAIL_PATTERN.match(email) or any(unicodedata.category(ch)[0] == "C" for ch in email):
        return _("Vul een geldig e-mailadres in, bijvoorbeeld naam@voorbeeld.nl.")
    return None


def normalise_display_name(raw: str) -> str:
    return " ".join(unicodedata.normalize("NFC", raw).split())


def display_name_problem(name: str) -> str | None:
    """The Dutch reason a (normalised) display name is unusable, or None."""
    if name == "":
        return _("Vul een naam in.")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        return _("De naam is te lang: hoogstens %(max)s tekens.", max=DISPLAY_NAME_MAX_LENGTH)
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        return _("De naam bevat tekens die niet zijn toegestaan.")
    return None


def _check_new_account(email: str, password: str, display_name: str, roles: Iterable[Role]) -> None:
    problems: dict[str, str] = {}
    if (p := email_problem(email)) is not None:
        problems["email"] = p
    if (p := password_problem(password, frozenset(roles))) is not None:
        problems["password"] = p
    if (p := display_name_problem(display_name)) is not None:
        problems["display_name"] = p
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (raw or normalised) e-mail address, roles loaded."""
    return (
        await session.execute(
            select(User)
            .where(User.email == normalise_email(email))
            .options(selectinload(User.roles))
        )
    ).scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    """The user with ``user_id``, roles loaded."""
    return (
        await session.execute(
            select(User).where(User.id == user_id).options(selectinload(User.roles))
        )
    ).scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    display_name: str | None = None,
    roles: Iterable[Role | str],
    confirmed: bool = False,
    passwords: PasswordService | None = None,
) -> User:
    """Create an account holding ``roles``; ``Conflict`` if the e-mail address is taken.

    Used by registration (residents), the CLI and the demo loader. Staff passwords need 12
    characters, residents' 8. ``display_name`` defaults to the part of the address before the @.
    """
    role_set = frozenset(Role(r) for r in roles)
    if not role_set:
        raise ValidationFailed(_("Kies minstens één rol."), fields={"roles": _("Kies een rol.")})
    email = normalise_email(email)
    name = normalise_display_name(
        display_name if display_name is not None else email.partition("@")[0]
    )
    _check_new_account(email, password, name, role_set)
    if await get_user_by_email(session, email) is not None:
        raise Conflict(
            _("Er bestaat al een account met dit e-mailadres."),
            fields={"email": _("Er bestaat al een account met dit e-mailadres.")},
        )
    password_hash = await (passwords or password_service()).hash(password)
    user = User(
        email=email,
        display_name=name,
        password_hash=password_hash,
        confirmed_at=utcnow() if confirmed else None,
        roles=[UserRole(role=role.value) for role in sorted(role_set)],
    )
    try:
        # A savepoint, so losing a race for the address leaves the outer transaction usable.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            _("Er bestaat al een account met dit e-mailadres."),
            fields={"email": _("Er bestaat al een account met dit e-mailadres.")},
        ) from exc
    return user


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A mail for the controller to send once the transaction has committed."""

    to: str
    subject: str
    body: str


def _password_fingerprint(settings: Settings, password_hash: str) -> str:
    """Binds a confirmation link to the password it was requested with (see ``register``)."""
    return hmac.new(
        tokens.derive_key(settings, "confirm-password").encode(),
        password_hash.encode(),
        hashlib.sha256,
    ).hexdigest()[:32]


def confirmation_link(settings: Settings, user: User) -> str:
    token = tokens.issue_confirmation_token(
        settings,
        user_id=user.id,
        email=user.email,
        extra={"pwd": _password_fingerprint(settings, user.password_hash)},
    )
    return f"{settings.base_url}/bevestigen?token={token}"


def _confirmation_mail(settings: Settings, user: User) -> OutgoingMail:
    link = confirmation_link(settings, user)
    body = _(
        "Beste %(name)s,\n\n"
        "U heeft een account aangemaakt voor de burgerbegroting van %(municipality)s.\n"
        "Bevestig uw e-mailadres via deze link (%(hours)s uur geldig):\n\n"
        "%(link)s\n\n"
        "Op de pagina die opent klikt u op de knop 'E-mailadres bevestigen'.\n\n"
        "Heeft u dit niet zelf gedaan? Dan kunt u deze mail negeren.\n",
        name=user.display_name,
        municipality=settings.municipality,
        hours=settings.confirm_token_hours,
        link=link,
    )
    return OutgoingMail(
        to=user.email, subject=_("Bevestig uw e-mailadres voor de burgerbegroting"), body=body
    )


def _already_registered_mail(settings: Settings, user: User) -> OutgoingMail:
    body = _(
        "Beste %(name)s,\n\n"
        "Iemand probeerde een account aan te maken met dit e-mailadres voor de burgerbegroting "
        "van %(municipality)s. U heeft al een account.\n\n"
        "Inloggen kan op %(link)s\n\n"
        "Heeft u dit niet zelf gedaan? Dan hoeft u niets te doen.\n",
        name=user.display_name,
        municipality=settings.municipality,
        link=f"{settings.base_url}/inloggen",
    )
    return OutgoingMail(to=user.email, subject=_("U heeft al een account"), body=body)


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration that passed validation and the rate limits, to be completed later."""

    email: str
    password: str
    display_name: str


async def accept_registration(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str,
    client_ip: str,
) -> Registration:
    """Validate a registration and count it; the part of ``register`` a request waits for.

    It costs the same whether or not the address has an account (no hash, no account write):
    the controller answers after this and completes the registration (``complete_registration``)
    after the answer was sent. Before, a new address cost an INSERT and a commit that an existing
    one did not, which a stopwatch could tell apart.

    Limits: per client address, and per recipient (``registration_mails_per_address``): mail goes to
    an address of the requester's choosing, so one address got one mail per request from any number
    of clients.
    """
    await ratelimit.hit(
        session,
        ratelimit.ip_key("register", client_ip),
        settings.registration_attempts_per_window,
        settings.rate_limit_window_seconds,
        message=_(
            "Er zijn vanaf dit adres te veel accounts aangemaakt. Probeer het later opnieuw."
        ),
    )
    email = normalise_email(email)
    name = normalise_display_name(display_name)
    _check_new_account(email, password, name, {Role.RESIDENT})
    await ratelimit.hit(
        session,
        f"register:to:{email}",
        settings.registration_mails_per_address,
        settings.rate_limit_window_seconds,
        message=_(
            "Er zijn al meerdere berichten naar dit e-mailadres gestuurd. Kijk in uw mailbox "
            "(ook bij ongewenste mail) of probeer het later opnieuw."
        ),
    )
    return Registration(email=email, password=password, display_name=name)


async def complete_registration(
    session: AsyncSession,
    settings: Settings,
    registration: Registration,
    *,
    passwords: PasswordService | None = None,
) -> OutgoingMail:
    """Create or update the account of an accepted registration; return the mail to send.

    The answer never tells whether the address already had an account (that would let anyone
    test addresses): the mail does. A second registration of an *unconfirmed* address replaces
    its password and name and sends a new link bound to the new password, so someone who
    registers another person's address first cannot take the account over: they never get the
    link, and the owner's link only confirms the password the owner chose.
    """
    passwords = passwords or password_service(settings)
    email, password, name = registration.email, registration.password, registration.display_name
    existing = await get_user_by_email(session, email)
    if existing is not None and existing.confirmed_at is not None:
        await passwords.spend_dummy_hash(password)  # same time as a real registration
        return _already_registered_mail(settings, existing)
    if existing is not None:
        existing.password_hash = await passwords.hash(password)
        existing.display_name = name
        await session.flush()
        return _confirmation_mail(settings, existing)
    user = await create_user(
        session,
        email=email,
        password=password,
        display_name=name,
        roles={Role.RESIDENT},
        passwords=passwords,
    )
    return _confirmation_mail(settings, user)


async def register(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str,
    client_ip: str,
    passwords: PasswordService | None = None,
) -> OutgoingMail:
    """Register a resident in one go (``accept_registration`` then ``complete_registration``)."""
    registration = await accept_registration(
        session,
        settings,
        email=email,
        password=password,
        display_name=display_name,
        client_ip=client_ip,
    )
    return await complete_registration(session, settings, registration, passwords=passwords)


async def confirm_email(session: AsyncSession, settings: Settings, token: str) -> User:
    """Confirm the address a link was made for; idempotent for an already confirmed account."""
    invalid = _(
        "Deze bevestigingslink is ongeldig of niet meer bruikbaar. "
        "Registreer opnieuw om een nieuwe link te ontvangen."
    )
    try:
        confirmation = tokens.read_confirmation_token(settings, token)
    except tokens.BadToken as exc:
        if exc.expired:
            raise ValidationFailed(
                _(
                    "Deze bevestigingslink is verlopen. "
                    "Registreer opnieuw om een nieuwe link te ontvangen."
                ),
                fields={"token": _("De link is verlopen.")},
            ) from exc
        raise ValidationFailed(invalid, fields={"token": _("De link is ongeldig.")}) from exc
    user = await get_user(session, confirmation.user_id)
    if (
        user is None
        or user.email != confirmation.email
        or not hmac.compare_digest(
            confirmation.extra.get("pwd", ""),
            _password_fingerprint(settings, user.password_hash),
        )
    ):
        raise ValidationFailed(invalid, fields={"token": _("De link is ongeldig.")})
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
        await session.flush()
    return user


LOGIN_SLOWDOWN_MAX_SECONDS = 5


def login_slowdown_seconds(failures: int, limit: int) -> int:
    """Seconds to wait before checking a password for an account with ``failures`` recent failed
    logins: none up to ``limit``, then one more second per failure, at most five.

    Slows a password-guessing attack spread over many addresses without locking the owner out.
    """
    if failures < limit:
        return 0
    return min(LOGIN_SLOWDOWN_MAX_SECONDS, failures - limit + 1)


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    client_ip: str,
    passwords: PasswordService | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> User:
    """Check e-mail and password; return the user (roles loaded).

    Failed attempts are counted per client address and per account (successes are not). An
    address with too many failures is refused (429) before the password is checked; an account
    with too many failures is slowed down (``login_slowdown_seconds``) for every address, the
    owner's included, but never locked. Unknown addresses cost a hash too and get the same message as a wrong password, so neither
    timing nor wording reveals who has an account. Hashes made with older parameters are
    replaced on the way.
    """
    email = normalise_email(email)
    problems: dict[str, str] = {}
    if email == "":
        problems["email"] = _("Vul uw e-mailadres in.")
    elif len(email) > EMAIL_MAX_LENGTH:
        problems["email"] = _(
            "Het e-mailadres is te lang: hoogstens %(max)s tekens.", max=EMAIL_MAX_LENGTH
        )
    if password == "":
        problems["password"] = _("Vul uw wachtwoord in.")
    elif len(password) > PASSWORD_MAX_LENGTH:
        problems["password"] = _(
            "Het wachtwoord is te lang: hoogstens %(max)s tekens.", max=PASSWORD_MAX_LENGTH
        )
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)
    window = settings.rate_limit_window_seconds
    too_many = _("Te veel inlogpogingen. Wacht even en probeer het daarna opnieuw.")
    ip_key, account_key = ratelimit.ip_key("login:fail", client_ip), f"login:fail:email:{email}"
    # The attacker's address is refused; the account is only slowed down, never locked: a hard
    # lock per account let anyone lock anyone out (staff included) with ten wrong passwords from
    # changing addresses.
    await ratelimit.check(
        session, ip_key, settings.login_attempts_per_window, window, message=too_many
    )
    failures = await ratelimit.estimate(session, account_key, window)
    delay = login_slowdown_seconds(failures, settings.login_attempts_per_window)
    if delay:
        await session.commit()  # end the (read) transaction: never sleep holding a lock
        await (sleep or asyncio.sleep)(delay)
    passwords = passwords or password_service(settings)
    wrong = _("Het e-mailadres of het wachtwoord klopt niet.")
    user = await get_user_by_email(session, email)
    if user is None:
        await passwords.spend_dummy_hash(password)
    if user is None or not await passwords.verify(user.password_hash, password):
        # Failures only: a resident who logs in often is never refused.
        await ratelimit.record(session, ip_key, window)
        await ratelimit.record(session, account_key, window)
        raise NotAuthenticated(wrong)
    if user.deactivated_at is not None:
        raise Forbidden(_("Dit account is gesloten. Neem contact op met een beheerder."))
    if user.confirmed_at is None:
        raise Forbidden(
            _(
                "Uw account is nog niet bevestigd. Klik op de link in de bevestigingsmail "
                "die wij u stuurden, of registreer opnieuw voor een nieuwe link."
            )
        )
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    user.last_login_at = utcnow()
    await session.flush()
    return user


def to_current_user(user: User) -> CurrentUser:
    """The request-level view of ``user`` (roles must be loaded)."""
    return CurrentUser(
        id=user.id, email=user.email, display_name=user.display_name, roles=user.role_set
    )


async def load_current_user(session: AsyncSession, user_id: int) -> CurrentUser | None:
    """The confirmed user with ``user_id`` as a ``CurrentUser``; None if gone or unconfirmed."""
    user = await get_user(session, user_id)
    if user is None or user.confirmed_at is None:
        return None
    return to_current_user(user)


def user_is_staff(user: User) -> bool:
    return is_staff(user.role_set)


async def revoke_tokens(session: AsyncSession, ids: Iterable[str], expires_at: datetime) -> None:
    """Revoke token ids (``jti`` and the session's ``sid``) until ``expires_at``.

    Expired revocations are deleted on the way: a token past its ``exp`` is refused anyway.
    """
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for token_id in sorted(set(ids)):
        await session.execute(
            insert(RevokedToken)
            .values(jti=token_id, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["jti"])
        )


async def is_revoked(session: AsyncSession, ids: Iterable[str]) -> bool:
    """True when any of ``ids`` (a token's ``jti`` and ``sid``) has been revoked."""
    wanted = [i for i in ids if i]
    if not wanted:
        return True
    found = await session.scalar(
        select(func.count()).select_from(RevokedToken).where(RevokedToken.jti.in_(wanted))
    )
    return bool(found)
