"""Rounds, districts, themes and the append-only audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from burgerbegroting.db import UTCDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The audit log is append-only. The application has no update or delete path; these triggers make
# the database refuse one too (a bug, a console session or a compromised app user with only DML
# rights cannot quietly rewrite history). Dropping a trigger needs DDL rights, which is visible.
_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
    """,
)
_POSTGRES_TRIGGERS = (
    """
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
    END;
    $$
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    # Row triggers do not fire on TRUNCATE.
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
)


def _create_audit_triggers() -> None:
    dialect = op.get_bind().dialect.name
    statements = _POSTGRES_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def upgrade() -> None:
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("phase_changed_at", UTCDateTime(), nullable=False),
        sa.Column("total_budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("budget_scope", sa.String(length=20), nullable=False),
        sa.Column("submission_starts_at", UTCDateTime(), nullable=True),
        sa.Column("review_starts_at", UTCDateTime(), nullable=True),
        sa.Column("voting_starts_at", UTCDateTime(), nullable=True),
        sa.Column("closed_starts_at", UTCDateTime(), nullable=True),
        sa.Column("published_starts_at", UTCDateTime(), nullable=True),
        sa.Column("ballot_type", sa.String(length=20), nullable=False),
        sa.Column("approval_max_k", sa.Integer(), nullable=True),
        sa.Column("cumulative_points", sa.Integer(), nullable=True),
        sa.Column("min_projects", sa.Integer(), nullable=False),
        sa.Column("max_projects", sa.Integer(), nullable=True),
        sa.Column("min_budget_share_permille", sa.Integer(), nullable=False),
        sa.Column("blank_ballot_allowed", sa.Boolean(), nullable=False),
        sa.Column("counting_rule", sa.String(length=30), nullable=False),
        sa.Column("tie_break", sa.String(length=20), nullable=False),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("vote_by_code", sa.Boolean(), nullable=False),
        sa.Column("vote_by_account", sa.Boolean(), nullable=False),
        sa.Column("supports_enabled", sa.Boolean(), nullable=False),
        sa.Column("support_threshold", sa.Integer(), nullable=True),
        sa.Column("frozen_at", UTCDateTime(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("frozen_definition", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "ballot_type <> 'approval' OR approval_max_k IS NOT NULL",
            name=op.f("ck_rounds_approval_has_k"),
        ),
        sa.CheckConstraint(
            "ballot_type <> 'cumulative' OR cumulative_points IS NOT NULL",
            name=op.f("ck_rounds_cumulative_has_points"),
        ),
        sa.CheckConstraint(
            "ballot_type IN ('knapsack', 'approval', 'cumulative', 'choose-1', 'ranked')",
            name=op.f("ck_rounds_ballot_type_known"),
        ),
        sa.CheckConstraint(
            "budget_scope IN ('city', 'districts')", name=op.f("ck_rounds_budget_scope_known")
        ),
        sa.CheckConstraint(
            "counting_rule IN ('greedy', 'mes', 'mes-add1', 'mes-add1-exhaustive', 'mes-add1-greedy', 'phragmen')",
            name=op.f("ck_rounds_counting_rule_known"),
        ),
        sa.CheckConstraint(
            "phase IN ('draft', 'submission', 'review') OR frozen_at IS NOT NULL",
            name=op.f("ck_rounds_voting_is_frozen"),
        ),
        sa.CheckConstraint(
            "phase IN ('draft', 'submission', 'review', 'voting', 'closed', 'published')",
            name=op.f("ck_rounds_phase_known"),
        ),
        sa.CheckConstraint(
            "tie_break IN ('lowest-cost', 'lexicographic')", name=op.f("ck_rounds_tie_break_known")
        ),
        sa.CheckConstraint(
            "(frozen_at IS NULL) = (fingerprint IS NULL)",
            name=op.f("ck_rounds_frozen_has_fingerprint"),
        ),
        sa.CheckConstraint(
            "approval_max_k IS NULL OR approval_max_k >= 1",
            name=op.f("ck_rounds_approval_k_positive"),
        ),
        sa.CheckConstraint(
            "cumulative_points IS NULL OR cumulative_points >= 1",
            name=op.f("ck_rounds_cumulative_points_positive"),
        ),
        sa.CheckConstraint("length(title) > 0", name=op.f("ck_rounds_title_not_empty")),
        sa.CheckConstraint(
            "max_projects IS NULL OR max_projects >= min_projects",
            name=op.f("ck_rounds_max_projects_ge_min"),
        ),
        sa.CheckConstraint(
            "min_age IS NULL OR (min_age >= 0 AND min_age <= 120)",
            name=op.f("ck_rounds_min_age_range"),
        ),
        sa.CheckConstraint(
            "min_budget_share_permille >= 0 AND min_budget_share_permille <= 1000",
            name=op.f("ck_rounds_min_budget_share_range"),
        ),
        sa.CheckConstraint("min_projects >= 0", name=op.f("ck_rounds_min_projects_nonnegative")),
        sa.CheckConstraint(
            "support_threshold IS NULL OR support_threshold >= 0",
            name=op.f("ck_rounds_support_threshold_range"),
        ),
        sa.CheckConstraint(
            "total_budget_cents > 0 AND total_budget_cents <= 100000000000",
            name=op.f("ck_rounds_total_budget_range"),
        ),
        sa.CheckConstraint(
            "vote_by_code OR vote_by_account", name=op.f("ck_rounds_some_voting_method")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rounds")),
    )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rounds_phase"), ["phase"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject_type", sa.String(length=50), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index("ix_audit_log_subject", ["subject_type", "subject_id"], unique=False)
    _create_audit_triggers()

    op.create_table(
        "districts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("budget_cents", sa.BigInteger(), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "budget_cents IS NULL OR (budget_cents > 0 AND budget_cents <= 100000000000)",
            name=op.f("ck_districts_budget_range"),
        ),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_districts_name_not_empty")),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_districts_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_districts")),
        sa.UniqueConstraint("round_id", "name", name=op.f("uq_districts_round_id_name")),
    )
    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_districts_round_id"), ["round_id"], unique=False)

    op.create_table(
        "themes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("max_spend_cents", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_themes_name_not_empty")),
        sa.CheckConstraint(
            "max_spend_cents IS NULL OR (max_spend_cents > 0 AND max_spend_cents <= 100000000000)",
            name=op.f("ck_themes_max_spend_range"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_themes_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_themes")),
        sa.UniqueConstraint("round_id", "name", name=op.f("uq_themes_round_id_name")),
    )
    with op.batch_alter_table("themes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_themes_round_id"), ["round_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("themes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_themes_round_id"))

    op.drop_table("themes")
    with op.batch_alter_table("districts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_districts_round_id"))

    op.drop_table("districts")
    _drop_audit_triggers()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject")
        batch_op.drop_index(batch_op.f("ix_audit_log_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rounds_phase"))

    op.drop_table("rounds")
