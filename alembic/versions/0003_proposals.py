"""proposals: proposals, proposal_authors, proposal_supports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:30:05.363497
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from burgerbegroting.db import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("theme_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("societal_effect", sa.Text(), nullable=False),
        sa.Column("target_group", sa.String(length=300), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("organisation_name", sa.String(length=200), nullable=True),
        sa.Column("estimated_cost_cents", sa.BigInteger(), nullable=True),
        sa.Column("municipal_cost_cents", sa.BigInteger(), nullable=True),
        sa.Column("feasibility_notes", sa.Text(), nullable=True),
        sa.Column("public_reasoning", sa.Text(), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "(status = 'merged') = (merged_into_id IS NOT NULL)",
            name=op.f("ck_proposals_merged_has_target"),
        ),
        sa.CheckConstraint(
            "status <> 'accepted' OR municipal_cost_cents IS NOT NULL",
            name=op.f("ck_proposals_accepted_has_municipal_cost"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'in_review', 'changes_requested', 'accepted', 'rejected', 'withdrawn', 'merged')",
            name=op.f("ck_proposals_status_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'withdrawn') OR (theme_id IS NOT NULL AND estimated_cost_cents IS NOT NULL)",
            name=op.f("ck_proposals_complete_unless_draft"),
        ),
        sa.CheckConstraint(
            "estimated_cost_cents IS NULL OR (estimated_cost_cents >= 0 AND estimated_cost_cents <= 100000000000)",
            name=op.f("ck_proposals_estimated_cost_range"),
        ),
        sa.CheckConstraint(
            "merged_into_id IS NULL OR merged_into_id <> id",
            name=op.f("ck_proposals_not_merged_into_self"),
        ),
        sa.CheckConstraint(
            "municipal_cost_cents IS NULL OR (municipal_cost_cents >= 0 AND municipal_cost_cents <= 100000000000)",
            name=op.f("ck_proposals_municipal_cost_range"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_proposals_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_proposals_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["proposals.id"],
            name=op.f("fk_proposals_merged_into_id_proposals"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_proposals_reviewed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_proposals_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["theme_id"],
            ["themes.id"],
            name=op.f("fk_proposals_theme_id_themes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposals_author_id"), ["author_id"], unique=False)
        batch_op.create_index(
            "ix_proposals_round_created", ["round_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_proposals_round_district", ["round_id", "district_id"], unique=False
        )
        batch_op.create_index("ix_proposals_round_status", ["round_id", "status"], unique=False)
        batch_op.create_index("ix_proposals_round_theme", ["round_id", "theme_id"], unique=False)

    op.create_table(
        "proposal_authors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('author', 'coauthor')", name=op.f("ck_proposal_authors_role_valid")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_authors_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_proposal_authors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_authors")),
        sa.UniqueConstraint(
            "proposal_id", "user_id", name=op.f("uq_proposal_authors_proposal_id_user_id")
        ),
    )
    with op.batch_alter_table("proposal_authors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_authors_user_id"), ["user_id"], unique=False)

    op.create_table(
        "proposal_supports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_supports_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_proposal_supports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_supports")),
        sa.UniqueConstraint(
            "proposal_id", "user_id", name=op.f("uq_proposal_supports_proposal_id_user_id")
        ),
    )
    with op.batch_alter_table("proposal_supports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_supports_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("proposal_supports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_supports_user_id"))

    op.drop_table("proposal_supports")
    with op.batch_alter_table("proposal_authors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_authors_user_id"))

    op.drop_table("proposal_authors")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_proposals_round_theme")
        batch_op.drop_index("ix_proposals_round_status")
        batch_op.drop_index("ix_proposals_round_district")
        batch_op.drop_index("ix_proposals_round_created")
        batch_op.drop_index(batch_op.f("ix_proposals_author_id"))

    op.drop_table("proposals")
