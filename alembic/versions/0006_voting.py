"""voting: codes, voters, ballots, the hash-chained ballot log; stored results and overrides

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:36:21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from burgerbegroting.db import UTCDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Ballots, log events and stored results are append-only: a cast never changes an earlier ballot
# (it supersedes it), the log only grows, and an outcome is never rewritten (overrides go beside
# it). The application has no UPDATE or DELETE path for them; the database refuses one too.
APPEND_ONLY = ("ballots", "log_events", "round_results")


def _create_append_only_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            """
            CREATE FUNCTION bb_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END;
            $$
            """
        )
    for table in APPEND_ONLY:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION bb_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bb_refuse_change()"
            )
        else:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def _drop_append_only_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS bb_refuse_change()")


def upgrade() -> None:
    op.create_table(
        "ballot_logs",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("roll_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("height >= 0", name=op.f("ck_ballot_logs_height_nonnegative")),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_ballot_logs_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_ballot_logs")),
    )
    op.create_table(
        "log_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('genesis', 'ballot', 'void', 'roll', 'end')",
            name=op.f("ck_log_events_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_log_events_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_log_events_hash")),
        sa.UniqueConstraint("round_id", "height", name=op.f("uq_log_events_round_id_height")),
    )
    with op.batch_alter_table("log_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_events_round_id"), ["round_id"], unique=False)

    op.create_table(
        "round_results",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("engine_version", sa.String(length=40), nullable=False),
        sa.Column("log_head", sa.String(length=64), nullable=False),
        sa.Column("log_height", sa.Integer(), nullable=False),
        sa.Column("counted_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_round_results_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_round_results")),
    )
    op.create_table(
        "code_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("age_band", sa.String(length=10), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "age_band IS NULL OR age_band IN ('12-17', '18-26', '27-44', '45-66', '67+')",
            name=op.f("ck_code_batches_age_band_known"),
        ),
        sa.CheckConstraint("count > 0", name=op.f("ck_code_batches_count_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_code_batches_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_code_batches_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_code_batches_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_batches")),
    )
    with op.batch_alter_table("code_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_code_batches_district_id"), ["district_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_code_batches_round_id"), ["round_id"], unique=False)

    op.create_table(
        "result_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('not-funded', 'funded')", name=op.f("ck_result_overrides_decision_known")
        ),
        sa.CheckConstraint("length(reason) > 0", name=op.f("ck_result_overrides_reason_not_empty")),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_result_overrides_actor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["proposals.id"],
            name=op.f("fk_result_overrides_project_id_proposals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_result_overrides_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_overrides")),
    )
    with op.batch_alter_table("result_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_result_overrides_round_id"), ["round_id"], unique=False
        )

    op.create_table(
        "voting_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["code_batches.id"],
            name=op.f("fk_voting_codes_batch_id_code_batches"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_voting_codes_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_voting_codes_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voting_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_voting_codes_code_hash")),
    )
    with op.batch_alter_table("voting_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voting_codes_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_voting_codes_round_id"), ["round_id"], unique=False)

    op.create_table(
        "voters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("voter_key", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("age_band", sa.String(length=10), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("current_ballot_id", sa.Integer(), nullable=True),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.CheckConstraint("method IN ('code', 'account')", name=op.f("ck_voters_method_known")),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["voting_codes.id"],
            name=op.f("fk_voters_code_id_voting_codes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_voters_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_voters_round_id_rounds"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voters")),
        sa.UniqueConstraint("code_id", name=op.f("uq_voters_code_id")),
        sa.UniqueConstraint("current_ballot_id", name=op.f("uq_voters_current_ballot_id")),
        sa.UniqueConstraint("round_id", "voter_key", name=op.f("uq_voters_round_id_voter_key")),
    )
    with op.batch_alter_table("voters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voters_round_id"), ["round_id"], unique=False)

    op.create_table(
        "ballots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("voter_id", sa.Integer(), nullable=False),
        sa.Column("election_district_id", sa.Integer(), nullable=True),
        sa.Column("ballot_uid", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("blank", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("cast_on", sa.Date(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("event_height", sa.Integer(), nullable=False),
        sa.Column("receipt", sa.String(length=19), nullable=False),
        sa.Column("idempotency_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint("channel IN ('online', 'paper')", name=op.f("ck_ballots_channel_known")),
        sa.ForeignKeyConstraint(
            ["election_district_id"],
            ["districts.id"],
            name=op.f("fk_ballots_election_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_ballots_round_id_rounds"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["ballots.id"],
            name=op.f("fk_ballots_supersedes_id_ballots"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["voter_id"],
            ["voters.id"],
            name=op.f("fk_ballots_voter_id_voters"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
        sa.UniqueConstraint("ballot_uid", name=op.f("uq_ballots_ballot_uid")),
        sa.UniqueConstraint("idempotency_hash", name=op.f("uq_ballots_idempotency_hash")),
        sa.UniqueConstraint(
            "round_id", "event_height", name=op.f("uq_ballots_round_id_event_height")
        ),
        sa.UniqueConstraint("round_id", "receipt", name=op.f("uq_ballots_round_id_receipt")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_ballots_supersedes_id")),
    )
    with op.batch_alter_table("ballots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballots_round_id"), ["round_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ballots_voter_id"), ["voter_id"], unique=False)

    # voters and ballots point at each other: the voter's current ballot is added once both exist.
    with op.batch_alter_table("voters", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_voters_current_ballot_id_ballots"),
            "ballots",
            ["current_ballot_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table("voters", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_voters_current_ballot_id_ballots"), type_="foreignkey"
        )
    with op.batch_alter_table("ballots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballots_voter_id"))
        batch_op.drop_index(batch_op.f("ix_ballots_round_id"))

    op.drop_table("ballots")
    with op.batch_alter_table("voters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voters_round_id"))

    op.drop_table("voters")
    with op.batch_alter_table("voting_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voting_codes_round_id"))
        batch_op.drop_index(batch_op.f("ix_voting_codes_batch_id"))

    op.drop_table("voting_codes")
    with op.batch_alter_table("result_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_overrides_round_id"))

    op.drop_table("result_overrides")
    with op.batch_alter_table("code_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_batches_round_id"))
        batch_op.drop_index(batch_op.f("ix_code_batches_district_id"))

    op.drop_table("code_batches")
    op.drop_table("round_results")
    with op.batch_alter_table("log_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_events_round_id"))

    op.drop_table("log_events")
    op.drop_table("ballot_logs")
