"""The migrations and the models describe the same schema, on both databases."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.engine import Connection

import burgerbegroting.models as models
from burgerbegroting.db import create_engine


def _diff(database_url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, models.Base.metadata))

    async def run() -> list[object]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_head_matches_the_models(database_url: str) -> None:
    assert _diff(database_url) == []


# compare_metadata sees tables, columns, indexes and keys, but neither CHECK constraints nor
# triggers: a CHECK in the models that no migration creates gave no diff. These two tests do.

# Triggers live in the migrations only (the models cannot declare them). A migration that adds one
# adds its name here; one that loses one fails here.
EXPECTED_TRIGGERS = {
    "sqlite": {("audit_log", "audit_log_no_update"), ("audit_log", "audit_log_no_delete")},
    "postgresql": {("audit_log", "audit_log_append_only"), ("audit_log", "audit_log_no_truncate")},
}


def _normalised(sql: str) -> str:
    return "".join(sql.split()).lower().replace("(", "").replace(")", "")


def _database_schema(
    database_url: str,
) -> tuple[str, set[tuple[str, str, str]], set[tuple[str, str]]]:
    """(dialect, {(table, check name, check SQL)}, {(table, trigger name)}) of the database."""

    def read(connection: Connection) -> tuple[str, set[tuple[str, str, str]], set[tuple[str, str]]]:
        inspector = inspect(connection)
        checks = {
            (table, str(check["name"]), _normalised(check["sqltext"]))
            for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)
        }
        dialect = connection.dialect.name
        if dialect == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT c.relname, t.tgname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            )
        else:
            rows = connection.execute(
                text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            )
        return dialect, checks, {(str(r[0]), str(r[1])) for r in rows}

    async def run() -> tuple[str, set[tuple[str, str, str]], set[tuple[str, str]]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _model_checks() -> set[tuple[str, str, str]]:
    return {
        (table.name, str(constraint.name), _normalised(str(constraint.sqltext)))
        for table in models.Base.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }


def test_check_constraints_match_the_models(database_url: str) -> None:
    dialect, checks, _triggers = _database_schema(database_url)
    model = _model_checks()
    assert {(t, n) for t, n, _sql in checks} == {(t, n) for t, n, _sql in model}
    if dialect == "sqlite":
        # SQLite keeps the CHECK text as written; PostgreSQL rewrites it (casts, parentheses).
        assert checks == model


def test_triggers_are_the_expected_ones(database_url: str) -> None:
    dialect, _checks, triggers = _database_schema(database_url)
    assert triggers == EXPECTED_TRIGGERS[dialect]
