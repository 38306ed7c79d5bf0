import random
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from burgerbegroting.settings import DEV_SECRET, Settings, SettingsError

REAL_SECRET = "q9Xv2LmT0rBzK8wYh3NcJ5sFdG7pA1eUoR4iV6tWbQ"  # secrets.token_urlsafe(32)


def production(secret: str) -> dict[str, str]:
    """A production environment with a PostgreSQL database and ``secret``."""
    return {
        "BB_ENV": "production",
        "BB_DATABASE_URL": "postgresql+asyncpg://db/bb",
        "BB_SECRET_KEY": secret,
    }


def test_development_defaults_to_sqlite_under_var_and_the_labelled_dev_secret() -> None:
    settings = Settings.from_env({"BB_VAR_DIR": "/tmp/bb-var"})
    assert settings.env == "development"
    assert settings.database_url == "sqlite+aiosqlite:////tmp/bb-var/burgerbegroting.sqlite3"
    assert settings.secret_key == DEV_SECRET
    assert settings.mail_dir == Path("/tmp/bb-var/mail")
    assert not settings.secure_cookies


@pytest.mark.parametrize(
    "env",
    [
        {"BB_ENV": "production", "BB_DATABASE_URL": "postgresql+asyncpg://db/bb"},
        {
            "BB_ENV": "production",
            "BB_DATABASE_URL": "postgresql+asyncpg://db/bb",
            "BB_SECRET_KEY": DEV_SECRET,
        },
        {
            "BB_ENV": "production",
            "BB_DATABASE_URL": "postgresql+asyncpg://db/bb",
            "BB_SECRET_KEY": "short",
        },
        {"BB_ENV": "production", "BB_SECRET_KEY": REAL_SECRET},
    ],
)
def test_production_refuses_to_start_without_real_secret_and_explicit_database(
    env: dict[str, str],
) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 32,
        "x" * 48,
        "0123456789abcdef" * 2,
        "ab" * 40,
        "passwordpasswordpassword12345678",
        "0123456789abcdef0123456789abcdeg",
    ],
)
def test_production_refuses_guessable_secrets_of_any_length(secret: str) -> None:
    with pytest.raises(SettingsError, match="BB_SECRET_KEY"):
        Settings.from_env(production(secret))


def test_production_refuses_a_long_secret_of_few_different_characters() -> None:
    """48 characters drawn from 11 letters with no two neighbours in the alphabet: it does not
    repeat, has no runs and shows about 160 bits by its letter frequencies, so only the check on
    the number of different characters refuses it."""
    letters = "acegikmoqsu"
    draw = random.Random(10)
    secret = "".join(draw.choice(letters) for _ in range(48))
    assert len(set(secret)) == len(letters)
    with pytest.raises(SettingsError, match="too few different characters"):
        Settings.from_env(production(secret))


@pytest.mark.parametrize("make", [lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32)])
def test_production_accepts_random_secrets(make: Callable[[], str]) -> None:
    for _ in range(50):
        assert Settings.from_env(production(make())).is_production


def test_production_with_real_secrets_uses_secure_cookies() -> None:
    settings = Settings.from_env(
        {
            "BB_ENV": "production",
            "BB_SECRET_KEY": REAL_SECRET,
            "BB_DATABASE_URL": "postgresql+asyncpg://db/bb",
            "BB_ALLOWED_HOSTS": "stem.gemeente.nl, www.stem.gemeente.nl",
        }
    )
    assert settings.secure_cookies
    assert settings.allowed_hosts == ("stem.gemeente.nl", "www.stem.gemeente.nl")


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_numbers_are_refused_with_the_variable_named(value: str) -> None:
    with pytest.raises(SettingsError, match="BB_STAFF_TOKEN_MINUTES"):
        Settings.from_env({"BB_STAFF_TOKEN_MINUTES": value})


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="BB_ENV"):
        Settings.from_env({"BB_ENV": "staging"})


def test_cli_reports_configuration_errors_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from burgerbegroting.cli import main

    monkeypatch.setenv("BB_ENV", "production")
    monkeypatch.delenv("BB_SECRET_KEY", raising=False)
    assert main(["db", "upgrade"]) == 2
    assert "BB_SECRET_KEY" in capsys.readouterr().err
