"""Alembic environment: async engine, batch mode so every migration runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from burgerbegroting.db import create_engine
from burgerbegroting.models import Base
from burgerbegroting.settings import Settings

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if isinstance(url, str) and url:
        return url
    return Settings.from_env().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")


async def _run_async() -> None:
    engine = create_engine(_database_url())
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # A batch migration recreates a table (copy, DROP, rename). With foreign keys on,
            # SQLite's DROP TABLE deletes the rows first, and ON DELETE CASCADE then empties every
            # child table: recreating ``rounds`` would delete all districts, themes and proposals.
            # The pragma is a no-op inside a transaction, so it is set on the raw connection before
            # the migration's transaction begins; the foreign keys are checked before commit.
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(_run_async())
