"""Declarative base, naming convention, and engine set-up (SQLite pragmas, write transactions).

SQLite: WAL, ``foreign_keys=ON``, ``busy_timeout`` and ``synchronous=FULL`` on every connection, and
``BEGIN IMMEDIATE`` for every transaction that may write. A deferred ``BEGIN`` that reads and then
writes fails at once with "database is locked" when another writer got in between (see NOTES.md:
47-49 of 50 concurrent first votes lost), whatever the busy timeout. Python's sqlite3 driver issues its
own ``BEGIN`` lazily, so we take that over with SQLAlchemy's documented event recipe.

Read-only work (GET pages, exports) runs inside ``read_only()`` and begins deferred, so readers never
queue behind the write lock. Everything else is a write transaction by default: forgetting to mark a
read costs a little concurrency, forgetting to mark a write would lose votes.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVarTuple, cast

import msgspec
from sqlalchemy import DateTime, MetaData, Select, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite has one writer at a time. Waiting writers poll in SQLite's busy handler (sleeps of up to
# 100 ms, no queue), so with many of them one can lose the race until its timeout and fail with
# "database is locked" (measured: 1 of 500 casts at 15 connections on a loaded machine). A small
# pool keeps the pollers few; the rest wait their turn in the pool's queue instead.
SQLITE_POOL_SIZE = 5
SQLITE_POOL_TIMEOUT_S = 60
# PostgreSQL connections per worker process, all kept open. No overflow: an overflow connection is
# closed when it is returned to a full pool, so under load most requests paid for a new connection
# (authentication and asyncpg's type introspection, about 10 ms of the worker's CPU each): measured
# 21 casts/s on one worker with pool_size=10 and the default overflow of 10, at 50 clients. Requests
# beyond the pool wait in its queue. Two workers hold 40 of PostgreSQL's default 100 connections.
POSTGRES_POOL_SIZE = 20
POSTGRES_POOL_TIMEOUT_S = 60
POSTGRES_POOL_RECYCLE_S = 1800
# The largest id our INTEGER primary keys hold on PostgreSQL (SQLite's INTEGER is wider, but the
# ids are the same on both): asyncpg raises "value out of int32 range" for a larger one, instead of
# finding no row, so everything that takes an id from outside checks it against this.
MAX_ID = 2**31 - 1
# A row id in a request body: one the database can hold, so a larger one is a 400, not a 500.
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]

_read_only: contextvars.ContextVar[bool] = contextvars.ContextVar("bb_read_only", default=False)


class Base(DeclarativeBase):
    """Base of every model. All tables share one metadata with a constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def read_only() -> Iterator[None]:
    """Run the enclosed database work in deferred (read) transactions on SQLite."""
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def set_read_only(value: bool) -> contextvars.Token[bool]:
    """Mark the current context read-only (used by the request middleware)."""
    return _read_only.set(value)


def reset_read_only(token: contextvars.Token[bool]) -> None:
    _read_only.reset(token)


FETCH_CHUNK = 2_000
"""Rows per fetch of :func:`fetch_tuples`."""


Ts = TypeVarTuple("Ts")


async def fetch_tuples(
    session: AsyncSession, statement: Select[*Ts], *, chunk: int | None = None
) -> list[tuple[*Ts]]:
    """Every row of ``statement`` as a plain tuple, fetched ``chunk`` rows at a time (default
    :data:`FETCH_CHUNK`), in the session's transaction (one snapshot, as with ``execute``).

    For the large reads of a closed round (100,000 log events, 100,000 ballots).
    ``(await session.execute(…)).all()`` turns every row into a SQLAlchemy ``Row`` in one go on
    the event loop and keeps them all: at 50,000 ballots the export's two reads held the loop for
    65-120 ms at a stretch (every other request of the worker waited), and 100,000 ``Row``
    objects, which the garbage collector tracks, made its passes long. Here the loop serves other
    requests between chunks (SQLite's driver fetches in its own thread, PostgreSQL through a
    server-side cursor), at most one chunk of rows exists as ``Row`` objects at a time, and the
    tuples of strings and numbers they become are untracked by the collector at its next pass.
    """
    result = await session.stream(statement.execution_options(yield_per=chunk or FETCH_CHUNK))
    rows: list[tuple[*Ts]] = []
    async for part in result.partitions():
        # A real tuple: ``Row._tuple()`` returns the row itself (typing only).
        rows.extend(cast("tuple[*Ts]", tuple(row)) for row in part)
    return rows


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the driver so we can choose IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")


def _private_sqlite_file(database_url: str) -> None:
    """Create the SQLite file readable by its owner only (0600), or make it so.

    SQLite creates the file with the process umask (usually 0644: world-readable password hashes
    and audit data); its -wal and -shm files take the database file's permissions.
    """
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    path.chmod(0o600)


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine for ``database_url`` with the project's connection rules.

    ``hide_parameters``: a failing statement's exception (and so the error log's traceback) shows
    the SQL but not its parameters, which carry rounds' before/after JSON, e-mail addresses and
    hashes.
    """
    if is_sqlite(database_url):
        _private_sqlite_file(database_url)
        engine = create_async_engine(
            database_url,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=0,
            pool_timeout=SQLITE_POOL_TIMEOUT_S,
        )
        _install_sqlite_hooks(engine.sync_engine)
        return engine
    return create_async_engine(
        database_url,
        echo=echo,
        hide_parameters=True,
        # No pre-ping: asyncpg's ping is three round trips (begin, select, rollback) before every
        # request's first statement. A connection found broken is discarded by the pool when its
        # statement fails (that one request fails); connections are also renewed every half hour.
        pool_recycle=POSTGRES_POOL_RECYCLE_S,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=0,
        pool_timeout=POSTGRES_POOL_TIMEOUT_S,
    )
