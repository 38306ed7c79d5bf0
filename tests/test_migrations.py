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


def _sql(database_url: str, *statements: str) -> list[list[tuple[object, ...]]]:
    async def run() -> list[list[tuple[object, ...]]]:
        engine = create_engine(database_url)
        out: list[list[tuple[object, ...]]] = []
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    result = await connection.execute(text(statement))
                    out.append([tuple(row) for row in result.all()] if result.returns_rows else [])
        finally:
            await engine.dispose()
        return out

    return asyncio.run(run())


# compare_metadata sees tables, columns, indexes and keys, but neither CHECK constraints nor
# triggers: a CHECK in the models that no migration creates gave no diff. These two tests do.

# Triggers live in the migrations only (the models cannot declare them). A migration that adds one
# adds its name here; one that loses one fails here.
_APPEND_ONLY = ("audit_log", "ballots", "log_events", "round_results")  # 0002, 0006
_FROZEN = ("rounds", "districts", "themes", "proposals")  # 0005: what the fingerprint covers
EXPECTED_TRIGGERS = {
    "sqlite": {(t, f"{t}_no_{op}") for t in _APPEND_ONLY for op in ("update", "delete")}
    | {(t, f"{t}_frozen_no_{op}") for t in _FROZEN for op in ("update", "delete")}
    | {(t, f"{t}_frozen_no_insert") for t in ("districts", "themes", "proposals")},
    "postgresql": {(t, f"{t}_{n}") for t in _APPEND_ONLY for n in ("append_only", "no_truncate")}
    | {(t, f"{t}_frozen") for t in _FROZEN},
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


def test_round_settings_migration_keeps_every_round_and_its_children(database_url: str) -> None:
    """0005 recreates ``rounds`` on SQLite (copy, drop, rename): with foreign keys on, the drop
    would cascade and delete every district, theme and proposal. Nothing may be lost."""
    from alembic import command

    from burgerbegroting.cli import alembic_config

    config = alembic_config(database_url)
    command.downgrade(config, "0004")  # type: ignore[arg-type]
    now = "'2027-01-01 09:00:00'"
    _sql(
        database_url,
        "INSERT INTO users (id, email, password_hash, display_name, created_at)"
        f" VALUES (1, 'a@example.nl', 'x', 'A', {now})",
        "INSERT INTO rounds (id, title, description, phase, phase_changed_at, total_budget_cents,"
        " budget_scope, ballot_type, min_projects, min_budget_share_permille,"
        " blank_ballot_allowed, counting_rule, tie_break, vote_by_code, vote_by_account,"
        " supports_enabled, created_at, updated_at) VALUES (1, 'R', '', 'submission',"
        f" {now}, 1000, 'city', 'knapsack', 0, 0, true, 'mes', 'lowest-cost', true, false,"
        f" false, {now}, {now})",
        "INSERT INTO districts (id, round_id, name, eligible, position) VALUES (1, 1, 'Noord',"
        " true, 0)",
        "INSERT INTO themes (id, round_id, name, position) VALUES (1, 1, 'Zorg', 0)",
        "INSERT INTO proposals (id, round_id, theme_id, district_id, author_id, status, title,"
        " summary, description, societal_effect, target_group, estimated_cost_cents,"
        " created_at, updated_at) VALUES (1, 1, 1, 1, 1, 'submitted', 'Een voorstel', '', '',"
        f" '', '', 500, {now}, {now})",
    )
    command.upgrade(config, "head")  # type: ignore[arg-type]
    counts, settings = _sql(
        database_url,
        "SELECT (SELECT count(*) FROM rounds), (SELECT count(*) FROM districts),"
        " (SELECT count(*) FROM themes), (SELECT count(*) FROM proposals)",
        "SELECT counting_rule, leftover, greedy_no_skip, export_public, greedy_threshold,"
        " tie_break_seed, tie_break_order, ranked_scores FROM rounds",
    )
    assert counts == [(1, 1, 1, 1)]
    assert settings == [("mes", "keep", False, False, None, None, None, None)]
    assert _diff(database_url) == []


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
