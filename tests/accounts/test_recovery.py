"""Forgotten passwords and "log out everywhere" at the service level (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import recovery, service
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import RateLimited
from burgerbegroting.settings import Settings
from tests.conftest import make_settings

RESET_AT = datetime(2027, 3, 1, 12, 0, 5, 700_000, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var", registration_attempts_per_window=2)


async def _anna(session: AsyncSession) -> User:
    user = await service.create_user(
        session,
        email="anna@example.nl",
        password="een-goed-wachtwoord",
        roles={Role.RESIDENT},
        confirmed=True,
    )
    await session.commit()
    return user


async def test_reset_requests_for_one_address_are_limited_whatever_the_client_address(
    session: AsyncSession, settings: Settings
) -> None:
    """Changing addresses must not let anyone flood one mailbox with reset mails."""
    await _anna(session)
    for ip in ("192.0.2.1", "192.0.2.2"):
        mail = await recovery.request_password_reset(
            session, settings, email="anna@example.nl", client_ip=ip
        )
        assert mail is not None
    with pytest.raises(RateLimited):
        await recovery.request_password_reset(
            session, settings, email="Anna@Example.nl", client_ip="192.0.2.3"
        )
    # another address from a fresh client is not affected
    assert (
        await recovery.request_password_reset(
            session, settings, email="bram@example.nl", client_ip="192.0.2.4"
        )
        is None
    )


async def test_ending_sessions_ends_those_of_the_same_second_and_admits_the_next(
    session: AsyncSession,
) -> None:
    """``auth_time`` is in whole seconds: a session that logged in earlier in the second of the
    reset is ended; the one issued for the boundary (this browser after a change) is not."""
    user = await _anna(session)
    boundary = recovery.end_all_sessions(user, now=RESET_AT)
    await session.commit()
    same_second = int(RESET_AT.timestamp())  # 12:00:05, the reset happened at 12:00:05.7
    assert await recovery.load_session_user(session, user.id, same_second - 60) is None
    assert await recovery.load_session_user(session, user.id, same_second) is None
    assert await recovery.load_session_user(session, user.id, "12") is None
    fresh = await recovery.load_session_user(session, user.id, int(boundary.timestamp()))
    assert fresh is not None
    assert fresh.id == user.id
    assert int(boundary.timestamp()) == same_second + 1
