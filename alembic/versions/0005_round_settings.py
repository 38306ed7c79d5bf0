"""Round settings the count depends on, and a database that refuses to change a frozen round.

New ``rounds`` columns: ``greedy_threshold``, ``greedy_no_skip``, ``tie_break_seed``,
``tie_break_order``, ``leftover``, ``ranked_scores``, ``export_public``; ``tie_break`` gains
``explicit``; CHECK constraints for the value sets and for settings that belong to one rule only.

Triggers (SQLite and PostgreSQL) refuse, once ``rounds.frozen_at`` is set, every change to what the
fingerprint covers: the count-affecting columns of the round, moving its phase backwards, deleting
it; inserting, deleting or changing (name, budget, eligibility, cap) its districts and themes;
accepting a proposal, or changing or deleting an accepted one (title, status, municipal cost,
theme, district). The application refuses these too (``rounds.validation``); the triggers make a
console session, a bug or a stolen application account unable to do it quietly.

NOTE for later migrations: on SQLite a batch operation that recreates ``rounds``, ``districts``,
``themes`` or ``proposals`` drops that table's triggers (and renaming the copy fails while another
table's trigger names the dropped table): drop the triggers first with ``drop_freeze_triggers()``
and create them again afterwards (copy the SQL of this file).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the frozen definition covers (rounds.definition.build_definition), and the freeze itself.
ROUND_COLUMNS = (
    "id",
    "total_budget_cents",
    "budget_scope",
    "ballot_type",
    "approval_max_k",
    "cumulative_points",
    "min_projects",
    "max_projects",
    "min_budget_share_permille",
    "blank_ballot_allowed",
    "counting_rule",
    "tie_break",
    "tie_break_seed",
    "tie_break_order",
    "greedy_threshold",
    "greedy_no_skip",
    "leftover",
    "ranked_scores",
    "min_age",
    "vote_by_code",
    "vote_by_account",
    "supports_enabled",
    "support_threshold",
    "frozen_at",
    "fingerprint",
    "frozen_definition",
)
DISTRICT_COLUMNS = ("round_id", "name", "budget_cents", "eligible")
THEME_COLUMNS = ("round_id", "name", "max_spend_cents")
PROPOSAL_COLUMNS = (
    "round_id",
    "status",
    "title",
    "municipal_cost_cents",
    "theme_id",
    "district_id",
)
PHASES = ("draft", "submission", "review", "voting", "closed", "published")

MESSAGE = "round is frozen (voting opened): what the fingerprint covers cannot change"


def _rank(expression: str) -> str:
    whens = " ".join(f"WHEN '{phase}' THEN {i}" for i, phase in enumerate(PHASES))
    return f"(CASE {expression} {whens} END)"


def _changed_sqlite(columns: Sequence[str]) -> str:
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)


def _frozen_sqlite(*round_ids: str) -> str:
    # Trigger text built from this file's constants only (no input): not an injection vector.
    return (
        f"EXISTS (SELECT 1 FROM rounds WHERE id IN ({', '.join(round_ids)}) "  # noqa: S608
        "AND frozen_at IS NOT NULL)"
    )


def _sqlite_triggers() -> list[str]:
    abort = f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    statements = [
        f"""CREATE TRIGGER rounds_frozen_no_update BEFORE UPDATE ON rounds
        WHEN OLD.frozen_at IS NOT NULL AND ({_changed_sqlite(ROUND_COLUMNS)}
            OR {_rank("NEW.phase")} < {_rank("OLD.phase")})
        {abort}""",
        f"""CREATE TRIGGER rounds_frozen_no_delete BEFORE DELETE ON rounds
        WHEN OLD.frozen_at IS NOT NULL {abort}""",
    ]
    for table, columns in (("districts", DISTRICT_COLUMNS), ("themes", THEME_COLUMNS)):
        statements += [
            f"""CREATE TRIGGER {table}_frozen_no_insert BEFORE INSERT ON {table}
            WHEN {_frozen_sqlite("NEW.round_id")} {abort}""",
            f"""CREATE TRIGGER {table}_frozen_no_update BEFORE UPDATE ON {table}
            WHEN ({_changed_sqlite(columns)})
                AND {_frozen_sqlite("OLD.round_id", "NEW.round_id")} {abort}""",
            f"""CREATE TRIGGER {table}_frozen_no_delete BEFORE DELETE ON {table}
            WHEN {_frozen_sqlite("OLD.round_id")} {abort}""",
        ]
    statements += [
        f"""CREATE TRIGGER proposals_frozen_no_insert BEFORE INSERT ON proposals
        WHEN NEW.status = 'accepted' AND {_frozen_sqlite("NEW.round_id")} {abort}""",
        f"""CREATE TRIGGER proposals_frozen_no_update BEFORE UPDATE ON proposals
        WHEN (OLD.status = 'accepted' OR NEW.status = 'accepted')
            AND ({_changed_sqlite(PROPOSAL_COLUMNS)})
            AND {_frozen_sqlite("OLD.round_id", "NEW.round_id")} {abort}""",
        f"""CREATE TRIGGER proposals_frozen_no_delete BEFORE DELETE ON proposals
        WHEN OLD.status = 'accepted' AND {_frozen_sqlite("OLD.round_id")} {abort}""",
    ]
    return statements


SQLITE_TRIGGER_NAMES = (
    "rounds_frozen_no_update",
    "rounds_frozen_no_delete",
    *(
        f"{t}_frozen_no_{op_}"
        for t in ("districts", "themes", "proposals")
        for op_ in ("insert", "update", "delete")
    ),
)


def _row(prefix: str, columns: Sequence[str]) -> str:
    return f"ROW({', '.join(f'{prefix}.{c}' for c in columns)})"


# integrity_constraint_violation (23000): drivers report it as an IntegrityError, which the
# application answers with a 409, like any other constraint.
_RAISE = f"RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';"


def _frozen_pg(round_id: str) -> str:
    return f"EXISTS (SELECT 1 FROM rounds WHERE id = {round_id} AND frozen_at IS NOT NULL)"  # noqa: S608


def _postgres_statements() -> list[str]:
    phase_rank = " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(PHASES))
    statements = [
        f"""CREATE FUNCTION rounds_phase_rank(phase text) RETURNS integer
        LANGUAGE sql IMMUTABLE AS $$ SELECT CASE phase {phase_rank} END $$""",
        f"""CREATE FUNCTION rounds_refuse_frozen_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.frozen_at IS NOT NULL THEN {_RAISE} END IF;
                RETURN OLD;
            END IF;
            IF OLD.frozen_at IS NOT NULL AND (
                {_row("NEW", ROUND_COLUMNS)} IS DISTINCT FROM {_row("OLD", ROUND_COLUMNS)}
                OR rounds_phase_rank(NEW.phase) < rounds_phase_rank(OLD.phase)
            ) THEN
                {_RAISE}
            END IF;
            RETURN NEW;
        END;
        $$""",
        """CREATE TRIGGER rounds_frozen BEFORE UPDATE OR DELETE ON rounds
        FOR EACH ROW EXECUTE FUNCTION rounds_refuse_frozen_change()""",
    ]
    for table, columns in (("districts", DISTRICT_COLUMNS), ("themes", THEME_COLUMNS)):
        statements += [
            f"""CREATE FUNCTION {table}_refuse_frozen_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    IF {_frozen_pg("NEW.round_id")} THEN {_RAISE} END IF;
                    RETURN NEW;
                ELSIF TG_OP = 'DELETE' THEN
                    IF {_frozen_pg("OLD.round_id")} THEN {_RAISE} END IF;
                    RETURN OLD;
                END IF;
                IF {_row("NEW", columns)} IS DISTINCT FROM {_row("OLD", columns)}
                    AND ({_frozen_pg("OLD.round_id")} OR {_frozen_pg("NEW.round_id")}) THEN
                    {_RAISE}
                END IF;
                RETURN NEW;
            END;
            $$""",
            f"""CREATE TRIGGER {table}_frozen BEFORE INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_refuse_frozen_change()""",
        ]
    statements += [
        f"""CREATE FUNCTION proposals_refuse_frozen_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                IF NEW.status = 'accepted' AND {_frozen_pg("NEW.round_id")} THEN
                    {_RAISE}
                END IF;
                RETURN NEW;
            ELSIF TG_OP = 'DELETE' THEN
                IF OLD.status = 'accepted' AND {_frozen_pg("OLD.round_id")} THEN
                    {_RAISE}
                END IF;
                RETURN OLD;
            END IF;
            IF (OLD.status = 'accepted' OR NEW.status = 'accepted')
                AND {_row("NEW", PROPOSAL_COLUMNS)} IS DISTINCT FROM {_row("OLD", PROPOSAL_COLUMNS)}
                AND ({_frozen_pg("OLD.round_id")} OR {_frozen_pg("NEW.round_id")}) THEN
                {_RAISE}
            END IF;
            RETURN NEW;
        END;
        $$""",
        """CREATE TRIGGER proposals_frozen BEFORE INSERT OR UPDATE OR DELETE ON proposals
        FOR EACH ROW EXECUTE FUNCTION proposals_refuse_frozen_change()""",
    ]
    return statements


def create_freeze_triggers() -> None:
    statements = (
        _postgres_statements() if op.get_bind().dialect.name == "postgresql" else _sqlite_triggers()
    )
    for statement in statements:
        op.execute(statement)


def drop_freeze_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("rounds", "districts", "themes", "proposals"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_frozen ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_refuse_frozen_change()")
        op.execute("DROP FUNCTION IF EXISTS rounds_phase_rank(text)")
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tie_break_seed", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("tie_break_order", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("greedy_threshold", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("greedy_no_skip", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "leftover", sa.String(length=20), server_default=sa.text("'keep'"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("ranked_scores", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("export_public", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_constraint(batch_op.f("ck_rounds_tie_break_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_tie_break_known"),
            "tie_break IN ('lowest-cost', 'lexicographic', 'explicit')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_leftover_known"), "leftover IN ('keep', 'fund-by-score')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_greedy_options_greedy_only"),
            "counting_rule = 'greedy' OR "
            "(greedy_threshold IS NULL AND NOT greedy_no_skip AND leftover = 'keep')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_greedy_threshold_positive"),
            "greedy_threshold IS NULL OR greedy_threshold >= 1",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_seed_lowest_cost_only"),
            "tie_break_seed IS NULL OR (tie_break = 'lowest-cost' AND length(tie_break_seed) > 0)",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_order_explicit_only"),
            "tie_break_order IS NULL OR tie_break = 'explicit'",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_ranked_scores_ranked_greedy_only"),
            "ranked_scores IS NULL OR (ballot_type = 'ranked' AND counting_rule = 'greedy')",
        )
    create_freeze_triggers()


def downgrade() -> None:
    drop_freeze_triggers()
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        for name in (
            "ranked_scores_ranked_greedy_only",
            "order_explicit_only",
            "seed_lowest_cost_only",
            "greedy_threshold_positive",
            "greedy_options_greedy_only",
            "leftover_known",
            "tie_break_known",
        ):
            batch_op.drop_constraint(batch_op.f(f"ck_rounds_{name}"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_tie_break_known"), "tie_break IN ('lowest-cost', 'lexicographic')"
        )
        for column in (
            "export_public",
            "ranked_scores",
            "leftover",
            "greedy_no_skip",
            "greedy_threshold",
            "tie_break_order",
            "tie_break_seed",
        ):
            batch_op.drop_column(column)
