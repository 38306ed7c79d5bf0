"""Forgotten passwords and "log out everywhere" (no Litestar here: a service module).

**Reset links** are signed JWTs for one purpose (their own key and audience), valid for
``RESET_TOKEN_MINUTES``, and bound to a fingerprint of the password hash they were made for. Using
one sets a new password, so the hash and with it the fingerprint change: the link is single-use
without a table of used links, and an older link stops working as soon as any newer one is used
or the password is changed another way. The user row is locked while the link is checked and
used, so two simultaneous uses cannot both succeed.

**Not revealing who has an account**: a request for an unknown address gets the same answer as a
known one (the page says "if there is an account, we sent a mail"), and the controller sends the
mail after the response, so the answer takes as long either way.

**Log out everywhere**: sessions are JWTs (no session table), so a reset cannot list them.
Instead ``users.sessions_valid_after`` is set, and a session whose ``auth_time`` (when the
password was entered) is earlier is refused by :func:`load_session_user`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from burgerbegroting.accounts import ratelimit, service, tokens
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.passwords import PasswordService, password_problem, password_service
from burgerbegroting.accounts.service import OutgoingMail
from burgerbegroting.db import utcnow
from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.settings import Settings

RESET_TOKEN_MINUTES = 60
RESET_AUDIENCE = "burgerbegroting:password-reset"
_RESET_KEY_PURPOSE = "password-reset"


def password_fingerprint(settings: Settings, password_hash: str) -> str:
    """A keyed digest of the current password hash: changes whenever the password does."""
    return hmac.new(
        tokens.derive_key(settings, "reset-password-fingerprint").encode(),
        password_hash.encode(),
        hashlib.sha256,
    ).hexdigest()[:32]


def issue_reset_token(
    settings: Settings, user: User, *, now: datetime | None = None, minutes: int | None = None
) -> str:
    """A reset link's token (``minutes`` valid; an invitation to staff gets longer)."""
    issued = now or utcnow()
    minutes = RESET_TOKEN_MINUTES if minutes is None else minutes
    payload: dict[str, Any] = {
        "iss": settings.base_url,
        "aud": RESET_AUDIENCE,
        "sub": str(user.id),
        "pwd": password_fingerprint(settings, user.password_hash),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(
        payload, tokens.derive_key(settings, _RESET_KEY_PURPOSE), algorithm=tokens.ALGORITHM
    )


def _invalid_link() -> ValidationFailed:
    return ValidationFailed(
        _(
            "Deze link om uw wachtwoord te herstellen is ongeldig, al gebruikt of verlopen. "
            "Vraag een nieuwe link aan."
        ),
        fields={"token": _("De link is ongeldig, al gebruikt of verlopen.")},
    )


def _read_reset_token(settings: Settings, token: str) -> tuple[int, str]:
    if not token or len(token) > 2048:
        raise _invalid_link()
    try:
        payload = jwt.decode(
            token,
            tokens.derive_key(settings, _RESET_KEY_PURPOSE),
            algorithms=[tokens.ALGORITHM],
            audience=RESET_AUDIENCE,
            issuer=settings.base_url,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "pwd"], "strict_aud": True},
        )
    except jwt.InvalidTokenError as exc:  # expired, forged, another purpose, malformed
        raise _invalid_link() from exc
    sub, pwd = payload.get("sub"), payload.get("pwd")
    if not isinstance(sub, str) or not sub.isdigit() or not isinstance(pwd, str):
        raise _invalid_link()
    return int(sub), pwd


def reset_link(settings: Settings, user: User, *, minutes: int | None = None) -> str:
    token = issue_reset_token(settings, user, minutes=minutes)
    return f"{settings.base_url}/wachtwoord-herstellen?token={token}"


async def request_password_reset(
    session: AsyncSession, settings: Settings, *, email: str, client_ip: str
) -> OutgoingMail | None:
    """The reset mail for the account with ``email``, or None when there is none to send.

    The caller answers the same either way. Rate-limited per client and per address (counted
    before the address is looked up), so the form can neither flood a mailbox nor probe quickly.
    """
    address = service.normalise_email(email)
    problem = service.email_problem(address)
    if problem is not None:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields={"email": problem})
    too_many = _("Te veel aanvragen. Wacht even en probeer het daarna opnieuw.")
    window = settings.rate_limit_window_seconds
    limit = settings.registration_attempts_per_window
    await ratelimit.hit(
        session, ratelimit.ip_key("reset", client_ip), limit, window, message=too_many
    )
    await ratelimit.hit(session, f"reset:email:{address}", limit, window, message=too_many)
    user = await service.get_user_by_email(session, address)
    if user is None or user.confirmed_at is None or user.deactivated_at is not None:
        # Unconfirmed accounts confirm first (registering again sends a new link); closed
        # accounts stay closed.
        return None
    body = _(
        "Beste %(name)s,\n\n"
        "Iemand heeft gevraagd om het wachtwoord van uw account voor de burgerbegroting van "
        "%(municipality)s opnieuw in te stellen. Was u dat? Kies dan een nieuw wachtwoord via "
        "deze link (%(minutes)s minuten geldig, één keer te gebruiken):\n\n"
        "%(link)s\n\n"
        "Heeft u dit niet zelf gevraagd? Dan hoeft u niets te doen: uw wachtwoord blijft "
        "hetzelfde.\n",
        name=user.display_name,
        municipality=settings.municipality,
        minutes=RESET_TOKEN_MINUTES,
        link=reset_link(settings, user),
    )
    return OutgoingMail(
        to=user.email, subject=_("Nieuw wachtwoord voor de burgerbegroting"), body=body
    )


async def _locked_user(session: AsyncSession, user_id: int) -> User | None:
    # Row lock on PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE already.
    result = await session.execute(
        select(User)
        .where(User.id == user_id)
        .options(selectinload(User.roles))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def check_reset_token(session: AsyncSession, settings: Settings, token: str) -> User:
    """The user a still-usable reset link belongs to; ``ValidationFailed`` otherwise."""
    user_id, fingerprint = _read_reset_token(settings, token)
    user = await service.get_user(session, user_id)
    if (
        user is None
        or user.deactivated_at is not None
        or not hmac.compare_digest(fingerprint, password_fingerprint(settings, user.password_hash))
    ):
        raise _invalid_link()
    return user


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str,
    password: str,
    passwords: PasswordService | None = None,
) -> User:
    """Set a new password with a reset link; every existing session of the account ends."""
    user_id, fingerprint = _read_reset_token(settings, token)
    user = await _locked_user(session, user_id)
    if user is None or not hmac.compare_digest(
        fingerprint, password_fingerprint(settings, user.password_hash)
    ):
        raise _invalid_link()
    problem = password_problem(password, user.role_set)
    if problem is not None:
        raise ValidationFailed(_("Kies een ander wachtwoord."), fields={"password": problem})
    if user.deactivated_at is not None:
        raise _invalid_link()
    user.password_hash = await (passwords or password_service(settings)).hash(password)
    if user.confirmed_at is None:
        # An invited staff member: the link reached the address, which confirms it.
        user.confirmed_at = utcnow()
    end_all_sessions(user)
    await session.flush()
    return user


def end_all_sessions(user: User, *, now: datetime | None = None) -> datetime:
    """Every session that exists now stops working; returns the moment new ones may start.

    ``auth_time`` is in whole seconds, so the boundary is the *next* whole second: a session
    authenticated earlier in this same second is ended too. A new session for this browser (a
    password change) is issued with that moment as its ``auth_time``."""
    boundary = (now or utcnow()).replace(microsecond=0) + timedelta(seconds=1)
    user.sessions_valid_after = boundary
    return boundary


async def load_session_user(
    session: AsyncSession, user_id: int, auth_time: object
) -> CurrentUser | None:
    """The user of a session token, or None when the account is gone, unconfirmed, or its
    sessions were ended after this one's password was entered (``auth_time``, Unix seconds)."""
    user = await service.get_user(session, user_id)
    if user is None or user.confirmed_at is None or user.deactivated_at is not None:
        return None
    if user.sessions_valid_after is not None and (
        not isinstance(auth_time, int) or auth_time < int(user.sessions_valid_after.timestamp())
    ):
        return None
    return service.to_current_user(user)
