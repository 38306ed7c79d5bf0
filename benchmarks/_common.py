"""What several benchmarks share: a throw-away PostgreSQL database next to the SQLite file.

The benchmarks measure on a fresh SQLite file and, when ``BB_TEST_POSTGRES_URL`` names a server
(``scripts/with-postgres`` sets it), on a fresh PostgreSQL database created here and dropped
afterwards, so repeated runs leave nothing behind on the server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_ENV = "BB_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    """The server to create benchmark databases on (``BB_TEST_POSTGRES_URL``), or None."""
    return os.environ.get(POSTGRES_ENV, "").strip() or None


async def _ddl(admin_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def postgres_database(admin_url: str, prefix: str = "bb_bench") -> Iterator[str]:
    """Create an empty database on the server of ``admin_url`` (an SQLAlchemy asyncpg URL), yield
    its URL, and drop it (``WITH (FORCE)``: a server a benchmark started may still hold
    connections) however the benchmark ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_ddl(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_ddl(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
