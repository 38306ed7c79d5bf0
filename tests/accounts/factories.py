"""Plain helpers for account tests: users, tokens, rows, CSRF and mail."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Iterable
from datetime import datetime

import jwt
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service, tokens
from burgerbegroting.accounts.roles import Role, is_staff
from burgerbegroting.db import create_engine
from burgerbegroting.settings import Settings

RESIDENT_PASSWORD = "lang-genoeg-1"
STAFF_PASSWORD = "veel-langer-wachtwoord-1"


async def _create(
    settings: Settings,
    email_address: str,
    password: str,
    roles: Iterable[Role],
    confirmed: bool,
    display_name: str,
) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            user = await service.create_user(
                session,
                email=email_address,
                password=password,
                display_name=display_name,
                roles=set(roles),
                confirmed=confirmed,
            )
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


def make_user(
    settings: Settings,
    email_address: str = "inwoner@example.nl",
    *,
    password: str | None = None,
    roles: Iterable[Role] = (Role.RESIDENT,),
    confirmed: bool = True,
    display_name: str = "Inwoner Test",
) -> int:
    """Create a user straight in the database; returns its id."""
    role_set = set(roles)
    if password is None:
        password = STAFF_PASSWORD if is_staff(role_set) else RESIDENT_PASSWORD
    return asyncio.run(
        _create(settings, email_address, password, role_set, confirmed, display_name)
    )


async def _scalar(settings: Settings, sql: str) -> object:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


def count_rows(settings: Settings, table: str) -> int:
    value = asyncio.run(_scalar(settings, f"SELECT count(*) FROM {table}"))
    assert isinstance(value, int)
    return value


def scalar(settings: Settings, sql: str) -> object:
    return asyncio.run(_scalar(settings, sql))


def counts(settings: Settings) -> dict[str, int]:
    """Rows of every accounts table that a request could write (not the rate-limit counters)."""
    return {t: count_rows(settings, t) for t in ("users", "user_roles", "revoked_tokens")}


def bearer(settings: Settings, user_id: int, *, staff: bool = False) -> dict[str, str]:
    token = tokens.issue_session_token(settings, user_id=user_id, staff=staff)
    return {"Authorization": f"Bearer {token.encoded}"}


def csrf_token(client: TestClient[Litestar]) -> str:
    """The CSRF token (double-submit cookie), fetched with a page if not there yet."""
    if "csrftoken" not in client.cookies:
        client.get("/inloggen")
    return str(client.cookies["csrftoken"])


def mails(settings: Settings) -> list[email.message.EmailMessage]:
    paths = sorted(settings.mail_dir.glob("*.eml")) if settings.mail_dir.exists() else []
    out = []
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        out.append(message)
    return out


def mail_text(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content


def confirmation_token(settings: Settings) -> str:
    """The token from the link in the newest mail."""
    text_body = mail_text(mails(settings)[-1])
    match = re.search(r"/bevestigen\?token=(\S+)", text_body)
    assert match, text_body
    return match.group(1)


def session_payload(settings: Settings, encoded: str) -> dict[str, object]:
    payload: dict[str, object] = jwt.decode(
        encoded,
        tokens.session_key(settings),
        algorithms=["HS256"],
        audience=tokens.SESSION_AUDIENCE,
        issuer=settings.base_url,
    )
    return payload


async def user_count(session: AsyncSession) -> int:
    from burgerbegroting.accounts.models import User

    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


def ts(moment: datetime) -> int:
    return int(moment.timestamp())
