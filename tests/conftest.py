"""Shared fixtures: every app test runs on SQLite and PostgreSQL, on databases built from migrations.

PostgreSQL comes from ``BB_TEST_POSTGRES_URL`` (an admin URL such as
``postgresql+asyncpg://postgres@127.0.0.1:54329/postgres``; ``scripts/with-postgres`` starts a
throw-away server and sets it). With ``BB_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) a missing server
fails the PostgreSQL half of the suite instead of skipping it.

Migrations run once per session into a template (a SQLite file, a PostgreSQL template database);
each test gets a fresh copy, so tests never share rows and never hide them in an open transaction.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.app import create_app
from burgerbegroting.cli import upgrade_database
from burgerbegroting.settings import Settings

BACKENDS = ("sqlite", "postgresql")
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
_counter = itertools.count()


def _pg_admin_url() -> str | None:
    url = os.environ.get("BB_TEST_POSTGRES_URL", "").strip()
    return url or None


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _pg_execute(admin_url: str, *statements: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _with_database(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    admin = _pg_admin_url()
    if admin is None:
        yield None
        return
    name = f"bb_template_{uuid.uuid4().hex[:8]}"
    _pg_execute(admin, f'CREATE DATABASE "{name}"')
    upgrade_database(_with_database(admin, name))
    yield name
    _pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
) -> Iterator[str]:
    """A fresh, fully migrated database for one test, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin = _pg_admin_url()
    if admin is None:
        if os.environ.get("BB_REQUIRE_POSTGRES") == "1":
            pytest.fail("BB_REQUIRE_POSTGRES=1 but BB_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set BB_TEST_POSTGRES_URL or use make test)")
    template = request.getfixturevalue("postgres_template")
    name = f"bb_test_{os.getpid()}_{next(_counter)}"
    _pg_execute(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _with_database(admin, name)
    finally:
        _pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, var_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "var_dir": var_dir,
        "municipality": "Gemeente Teststad",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "var")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client
