"""``burgerbegroting users create``: make an account from the command line.

The password is read from standard input when it is not a terminal (``echo … | burgerbegroting
users create …``, scripts, containers) and otherwise asked twice without echo. It never appears in
the arguments, where other users of the machine could read it from the process list.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service
from burgerbegroting.accounts.passwords import password_service
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine
from burgerbegroting.errors import DomainError
from burgerbegroting.settings import Settings


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        # One line; the trailing newline is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Wachtwoord: ")
    second = getpass.getpass("Herhaal het wachtwoord: ")
    if first != second:
        print("De wachtwoorden zijn niet gelijk.", file=sys.stderr)
        return None
    return first


async def _create(
    settings: Settings, *, email: str, password: str, roles: Sequence[Role], name: str | None
) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            user = await service.create_user(
                session,
                email=email,
                password=password,
                display_name=name,
                roles=roles,
                confirmed=True,
                passwords=password_service(settings),
            )
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


def create_user_command(
    settings: Settings, *, email: str, roles: Sequence[str], name: str | None
) -> int:
    """Create a confirmed account with ``roles``; exit status 0 on success, 1 on refusal."""
    try:
        role_values = [Role(r) for r in roles]
    except ValueError:
        print(f"Onbekende rol. Kies uit: {', '.join(r.value for r in Role)}.", file=sys.stderr)
        return 2
    password = _read_password()
    if password is None:
        return 1
    try:
        user_id = asyncio.run(
            _create(settings, email=email, password=password, roles=role_values, name=name)
        )
    except DomainError as error:
        details = "; ".join(error.fields.values())
        print(
            f"Niet aangemaakt: {error.message}" + (f" ({details})" if details else ""),
            file=sys.stderr,
        )
        return 1
    roles_text = ", ".join(sorted(r.value for r in set(role_values)))
    print(
        f"Account {service.normalise_email(email)} aangemaakt (id {user_id}, rollen: {roles_text})."
    )
    return 0
