"""``burgerbegroting users create``: password from stdin or a double prompt."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service
from burgerbegroting.accounts.passwords import PasswordService
from burgerbegroting.accounts.roles import Role
from burgerbegroting.cli import main
from burgerbegroting.db import create_engine
from tests.conftest import TEST_SECRET


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:
    monkeypatch.setenv("BB_ENV", "test")
    monkeypatch.setenv("BB_DATABASE_URL", database_url)
    monkeypatch.setenv("BB_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("BB_VAR_DIR", str(tmp_path / "var"))
    return database_url


async def _load(database_url: str, email: str) -> tuple[set[Role], bool, bool, str] | None:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            user = await service.get_user_by_email(session, email)
            if user is None:
                return None
            ok = await PasswordService().verify(user.password_hash, "een-lang-beheerwachtwoord")
            return set(user.role_set), user.confirmed_at is not None, ok, user.display_name
    finally:
        await engine.dispose()


def test_create_staff_user_with_two_roles_from_stdin(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("een-lang-beheerwachtwoord\n"))
    code = main(
        ["users", "create", "--email", "Beheer@Example.nl", "--role", "admin", "--role", "council"]
    )
    assert code == 0
    assert "beheer@example.nl aangemaakt" in capsys.readouterr().out
    loaded = asyncio.run(_load(env, "beheer@example.nl"))
    assert loaded == ({Role.ADMIN, Role.COUNCIL}, True, True, "beheer")


def test_short_staff_password_is_refused_in_dutch(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("kort-maar-8\n"))
    code = main(["users", "create", "--email", "m@example.nl", "--role", "moderator"])
    assert code == 1
    assert "minstens 12 tekens" in capsys.readouterr().err
    assert asyncio.run(_load(env, "m@example.nl")) is None


def test_duplicate_address_is_refused(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for expected in (0, 1):
        monkeypatch.setattr(sys, "stdin", io.StringIO("een-lang-beheerwachtwoord\n"))
        assert main(["users", "create", "--email", "d@example.nl", "--role", "auditor"]) == expected
    assert "bestaat al" in capsys.readouterr().err


def test_prompt_asks_twice_and_refuses_a_mismatch(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["een-lang-beheerwachtwoord", "iets-anders-ingetypt"])
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "create", "--email", "t@example.nl", "--role", "admin"]) == 1
    assert "niet gelijk" in capsys.readouterr().err
    assert asyncio.run(_load(env, "t@example.nl")) is None

    answers = iter(["een-lang-beheerwachtwoord", "een-lang-beheerwachtwoord"])
    assert main(["users", "create", "--email", "t@example.nl", "--role", "admin"]) == 0
    assert asyncio.run(_load(env, "t@example.nl")) is not None


def test_command_runs_as_a_process(env: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "burgerbegroting.cli",
            "users",
            "create",
            "--email",
            "proces@example.nl",
            "--role",
            "resident",
            "--name",
            "Proces Test",
        ],
        input="acht-tekens\n",
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = asyncio.run(_load(env, "proces@example.nl"))
    assert loaded is not None
    assert loaded[0] == {Role.RESIDENT}
    assert loaded[3] == "Proces Test"


def test_unknown_role_is_refused_by_the_parser(env: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["users", "create", "--email", "x@example.nl", "--role", "koning"])
    assert caught.value.code == 2
