"""Engine set-up (``db.create_engine``): what reaches the error log, who can read the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from burgerbegroting.db import create_engine

SECRET_VALUE = "geheim-voor-en-na-json"


async def test_failing_statements_do_not_carry_their_parameters(database_url: str) -> None:
    """A PostgreSQL error's traceback in the log showed the parameters (a round's before/after
    JSON); the exception text is what the log handler prints."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(
                    text("INSERT INTO bestaat_niet (x) VALUES (:value)"), {"value": SECRET_VALUE}
                )
    finally:
        await engine.dispose()
    assert SECRET_VALUE not in str(caught.value)
    assert "bestaat_niet" in str(caught.value)  # the SQL itself is still there to debug with


async def test_sqlite_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nieuw.sqlite3"
    old = os.umask(0o022)
    try:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        await engine.dispose()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
