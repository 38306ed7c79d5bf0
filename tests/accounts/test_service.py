"""Account rules: creation, registration, confirmation, login, revocation (both databases)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service, tokens
from burgerbegroting.accounts.models import RevokedToken, User, UserRole
from burgerbegroting.accounts.passwords import PasswordService
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import utcnow
from burgerbegroting.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    RateLimited,
    ValidationFailed,
)
from burgerbegroting.settings import Settings
from tests.conftest import make_settings

IP = "192.0.2.10"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var")


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_create_user_normalises_email_and_stores_all_roles(session: AsyncSession) -> None:
    user = await service.create_user(
        session,
        email="  Raad.Lid@Example.NL ",
        password="twaalf-tekens-ok",
        display_name="  Raads   lid ",
        roles={Role.COUNCIL, Role.RESIDENT},
        confirmed=True,
    )
    await session.commit()
    loaded = await service.get_user_by_email(session, "RAAD.LID@example.nl")
    assert loaded is not None
    assert loaded.id == user.id
    assert loaded.email == "raad.lid@example.nl"
    assert loaded.display_name == "Raads lid"
    assert loaded.role_set == {Role.COUNCIL, Role.RESIDENT}
    assert loaded.password_hash.startswith("$argon2id$")


async def test_email_is_unique_case_insensitively(session: AsyncSession) -> None:
    await service.create_user(
        session, email="a@example.nl", password="acht-tek", roles={Role.RESIDENT}
    )
    with pytest.raises(Conflict) as caught:
        await service.create_user(
            session, email="A@EXAMPLE.NL", password="acht-tek", roles={Role.RESIDENT}
        )
    assert "bestaat al" in caught.value.message
    assert await _count(session, User) == 1


async def test_database_refuses_a_second_user_with_the_same_email(session: AsyncSession) -> None:
    session.add(User(email="x@example.nl", display_name="X", password_hash="h"))
    await session.commit()
    session.add(User(email="x@example.nl", display_name="Y", password_hash="h"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_database_refuses_the_same_role_twice_and_unknown_roles(
    session: AsyncSession,
) -> None:
    user = await service.create_user(
        session, email="r@example.nl", password="acht-tek", roles={Role.RESIDENT}
    )
    await session.commit()
    user_id = user.id  # the rollback below expires the object
    session.add(UserRole(user_id=user_id, role="resident"))
    with pytest.raises(IntegrityError):
        await session.commit()
    await session.rollback()
    session.add(UserRole(user_id=user_id, role="koning"))
    with pytest.raises(IntegrityError):
        await session.commit()


@pytest.mark.parametrize(
    ("password", "roles", "fragment"),
    [
        ("", {Role.RESIDENT}, "Vul een wachtwoord in"),
        ("zeven77", {Role.RESIDENT}, "minstens 8 tekens"),
        ("elf-tekens!", {Role.ADMIN}, "medewerkers gebruiken minstens 12"),
        ("elf-tekens!", {Role.RESIDENT, Role.MODERATOR}, "medewerkers gebruiken minstens 12"),
        ("x" * 1025, {Role.RESIDENT}, "te lang"),
        ("          ", {Role.RESIDENT}, "spaties"),
    ],
)
async def test_password_rules_reject_with_a_dutch_message(
    session: AsyncSession, password: str, roles: set[Role], fragment: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await service.create_user(session, email="p@example.nl", password=password, roles=roles)
    assert fragment in caught.value.fields["password"]
    assert await _count(session, User) == 0


async def test_staff_password_of_twelve_and_resident_of_eight_are_accepted(
    session: AsyncSession,
) -> None:
    await service.create_user(
        session, email="s@example.nl", password="twaalf-teken", roles={Role.AUDITOR}
    )
    await service.create_user(
        session, email="i@example.nl", password="acht-tek", roles={Role.RESIDENT}
    )
    assert await _count(session, User) == 2


@pytest.mark.parametrize(
    ("email", "name", "field"),
    [
        ("", "Naam", "email"),
        ("geen-apenstaartje", "Naam", "email"),
        ("a@b", "Naam", "email"),
        ("a" * 250 + "@example.nl", "Naam", "email"),
        ("ok@example.nl", "", "display_name"),
        ("ok@example.nl", "n" * 101, "display_name"),
        ("ok@example.nl", "naam\x00", "display_name"),
    ],
)
async def test_bad_email_or_name_is_rejected(
    session: AsyncSession, email: str, name: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await service.create_user(
            session, email=email, password="acht-tek", display_name=name, roles={Role.RESIDENT}
        )
    assert caught.value.fields[field]
    assert await _count(session, User) == 0


async def test_register_creates_an_unconfirmed_resident_and_a_link(
    session: AsyncSession, settings: Settings
) -> None:
    mail = await service.register(
        session,
        settings,
        email="Nieuw@Example.nl",
        password="acht-tek",
        display_name="Nieuw",
        client_ip=IP,
    )
    user = await service.get_user_by_email(session, "nieuw@example.nl")
    assert user is not None
    assert user.confirmed_at is None
    assert user.role_set == {Role.RESIDENT}
    assert mail.to == "nieuw@example.nl"
    assert f"{settings.base_url}/bevestigen?token=" in mail.body


async def test_register_of_a_confirmed_address_sends_a_notice_not_a_second_account(
    session: AsyncSession, settings: Settings
) -> None:
    await service.create_user(
        session, email="al@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    mail = await service.register(
        session,
        settings,
        email="al@example.nl",
        password="anders-wachtwoord",
        display_name="Indringer",
        client_ip=IP,
    )
    assert "al een account" in mail.body
    assert "bevestigen?token" not in mail.body
    assert await _count(session, User) == 1
    user = await service.get_user_by_email(session, "al@example.nl")
    assert user is not None
    assert user.display_name != "Indringer"


async def test_preregistration_by_someone_else_cannot_take_the_account_over(
    session: AsyncSession, settings: Settings
) -> None:
    # An attacker registers the victim's address first; they never see the mailed link.
    await service.register(
        session,
        settings,
        email="slachtoffer@example.nl",
        password="aanvaller-1",
        display_name="Aanvaller",
        client_ip="198.51.100.1",
    )
    attacker_link = service.confirmation_link(
        settings,
        await service.get_user_by_email(session, "slachtoffer@example.nl"),  # type: ignore[arg-type]
    )
    # The owner registers too and confirms with the link from their own mailbox.
    mail = await service.register(
        session,
        settings,
        email="slachtoffer@example.nl",
        password="eigenaar-1",
        display_name="Eigenaar",
        client_ip=IP,
    )
    owner_token = mail.body.split("token=")[1].split()[0]
    # The link made for the attacker's password no longer confirms anything.
    with pytest.raises(ValidationFailed):
        await service.confirm_email(session, settings, attacker_link.split("token=")[1])
    await service.confirm_email(session, settings, owner_token)
    with pytest.raises(NotAuthenticated):
        await service.login(
            session,
            settings,
            email="slachtoffer@example.nl",
            password="aanvaller-1",
            client_ip=IP,
        )
    user = await service.login(
        session, settings, email="slachtoffer@example.nl", password="eigenaar-1", client_ip=IP
    )
    assert user.display_name == "Eigenaar"


async def test_confirm_is_idempotent_and_refuses_forged_or_expired_links(
    session: AsyncSession, settings: Settings
) -> None:
    mail = await service.register(
        session,
        settings,
        email="b@example.nl",
        password="acht-tek",
        display_name="B",
        client_ip=IP,
    )
    token = mail.body.split("token=")[1].split()[0]
    first = await service.confirm_email(session, settings, token)
    confirmed_at = first.confirmed_at
    assert confirmed_at is not None
    again = await service.confirm_email(session, settings, token)
    assert again.confirmed_at == confirmed_at

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ValidationFailed, match="ongeldig"):
        await service.confirm_email(session, settings, forged)

    now = utcnow()
    expired = jwt.encode(
        {
            "iss": settings.base_url,
            "aud": tokens.CONFIRM_AUDIENCE,
            "sub": str(first.id),
            "email": "b@example.nl",
            "iat": int((now - timedelta(days=3)).timestamp()),
            "exp": int((now - timedelta(days=1)).timestamp()),
        },
        tokens.derive_key(settings, "confirm-email"),
        algorithm="HS256",
    )
    with pytest.raises(ValidationFailed, match="verlopen"):
        await service.confirm_email(session, settings, expired)


async def test_a_session_token_is_not_a_confirmation_link(
    session: AsyncSession, settings: Settings
) -> None:
    user = await service.create_user(
        session, email="c@example.nl", password="acht-tek", roles={Role.RESIDENT}
    )
    session_token = tokens.issue_session_token(settings, user_id=user.id, staff=False)
    with pytest.raises(ValidationFailed):
        await service.confirm_email(session, settings, session_token.encoded)
    assert user.confirmed_at is None


async def test_login_refuses_unknown_and_wrong_with_the_same_message(
    session: AsyncSession, settings: Settings
) -> None:
    await service.create_user(
        session, email="d@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    with pytest.raises(NotAuthenticated) as unknown:
        await service.login(
            session, settings, email="niemand@example.nl", password="acht-tek", client_ip=IP
        )
    with pytest.raises(NotAuthenticated) as wrong:
        await service.login(
            session, settings, email="d@example.nl", password="fout-fout", client_ip=IP
        )
    assert unknown.value.message == wrong.value.message


async def test_login_of_unknown_address_still_spends_a_hash(
    session: AsyncSession, settings: Settings
) -> None:
    work: list[str] = []

    class CountingPasswords(PasswordService):
        async def hash(self, password: str) -> str:
            work.append("hash")
            return await super().hash(password)

        async def verify(self, password_hash: str, password: str) -> bool:
            work.append("verify")
            return await super().verify(password_hash, password)

    passwords = CountingPasswords()
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            await service.login(
                session,
                settings,
                email="niemand@example.nl",
                password="wat-dan-ook",
                client_ip=IP,
                passwords=passwords,
            )
    # Exactly one argon2 computation per attempt, as for a known address.
    assert work == ["hash", "verify", "verify"]


async def test_unconfirmed_account_cannot_log_in(session: AsyncSession, settings: Settings) -> None:
    await service.create_user(
        session, email="e@example.nl", password="acht-tek", roles={Role.RESIDENT}
    )
    with pytest.raises(Forbidden, match="nog niet bevestigd"):
        await service.login(
            session, settings, email="e@example.nl", password="acht-tek", client_ip=IP
        )


async def test_login_rehashes_when_parameters_changed(
    session: AsyncSession, settings: Settings
) -> None:
    await service.create_user(
        session, email="f@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    old = (await service.get_user_by_email(session, "f@example.nl")).password_hash  # type: ignore[union-attr]
    stronger = PasswordService(memory_kib=20 * 1024, time_cost=3)
    user = await service.login(
        session,
        settings,
        email="f@example.nl",
        password="acht-tek",
        client_ip=IP,
        passwords=stronger,
    )
    assert user.password_hash != old
    assert "m=20480,t=3" in user.password_hash
    assert not stronger.needs_rehash(user.password_hash)
    assert user.last_login_at is not None


async def test_failures_from_changing_addresses_slow_the_account_but_never_lock_it(
    session: AsyncSession, database_url: str, tmp_path: Path
) -> None:
    """Ten wrong passwords from ten addresses locked the owner out for up to 20 minutes (429 with
    the right password). Now they slow the account down and the owner still gets in."""
    settings = make_settings(database_url, tmp_path / "var", login_attempts_per_window=3)
    await service.create_user(
        session, email="g@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    for n in range(10):
        with pytest.raises(NotAuthenticated):
            await service.login(
                session,
                settings,
                email="g@example.nl",
                password="fout-fout",
                client_ip=f"203.0.113.{n}",
                sleep=fake_sleep,
            )
    user = await service.login(
        session,
        settings,
        email="G@example.nl",
        password="acht-tek",
        client_ip="203.0.113.99",
        sleep=fake_sleep,
    )
    assert user.email == "g@example.nl"
    # No wait for the first three failures, then one second more per failure, at most five.
    assert waits == [1, 2, 3, 4, 5, 5, 5, 5]


async def test_failures_from_one_address_refuse_that_address(
    session: AsyncSession, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "var", login_attempts_per_window=3)
    await service.create_user(
        session, email="g@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    for n in range(3):
        with pytest.raises(NotAuthenticated):
            await service.login(
                session,
                settings,
                email=f"ander{n}@example.nl",
                password="fout-fout",
                client_ip="198.51.100.7",
            )
    with pytest.raises(RateLimited) as caught:
        await service.login(
            session, settings, email="g@example.nl", password="acht-tek", client_ip="198.51.100.7"
        )
    assert caught.value.retry_after >= 1
    assert "Te veel inlogpogingen" in caught.value.message
    # The account itself is not locked: the owner elsewhere logs in.
    await service.login(
        session, settings, email="g@example.nl", password="acht-tek", client_ip="192.0.2.1"
    )


async def test_login_failures_are_limited_per_ipv6_64(
    session: AsyncSession, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "var", login_attempts_per_window=2)
    await service.create_user(
        session, email="g@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    for host in ("1", "2"):
        with pytest.raises(NotAuthenticated):
            await service.login(
                session,
                settings,
                email="g@example.nl",
                password="fout-fout",
                client_ip=f"2001:db8:5:6::{host}",
            )
    with pytest.raises(RateLimited):
        await service.login(
            session,
            settings,
            email="g@example.nl",
            password="acht-tek",
            client_ip="2001:db8:5:6::3",
        )
    await service.login(
        session, settings, email="g@example.nl", password="acht-tek", client_ip="2001:db8:5:7::1"
    )


async def test_successful_logins_are_not_counted(
    session: AsyncSession, database_url: str, tmp_path: Path
) -> None:
    """The eleventh demo login from one address was refused: successes counted as attempts."""
    settings = make_settings(database_url, tmp_path / "var", login_attempts_per_window=3)
    await service.create_user(
        session, email="g@example.nl", password="acht-tek", roles={Role.RESIDENT}, confirmed=True
    )
    for _ in range(12):
        await service.login(
            session, settings, email="g@example.nl", password="acht-tek", client_ip="192.0.2.1"
        )
        await session.commit()


async def test_revocation_covers_jti_and_session_and_cleans_up_expired_rows(
    session: AsyncSession,
) -> None:
    past = utcnow() - timedelta(minutes=1)
    future = utcnow() + timedelta(minutes=30)
    await service.revoke_tokens(session, ["oud"], past)
    await session.commit()
    await service.revoke_tokens(session, ["jti-1", "sessie-1"], future)
    await service.revoke_tokens(session, ["jti-1"], future)  # twice: no error
    await session.commit()
    assert await service.is_revoked(session, ["jti-2", "sessie-1"])
    assert await service.is_revoked(session, ["jti-1"])
    assert not await service.is_revoked(session, ["jti-3", "sessie-3"])
    ids = set((await session.scalars(select(RevokedToken.jti))).all())
    assert ids == {"jti-1", "sessie-1"}
