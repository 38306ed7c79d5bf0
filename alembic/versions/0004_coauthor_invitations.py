"""co-author invitations: proposal_invitations, proposal_authors.organisation_name

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from burgerbegroting.db import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposal_authors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_name", sa.String(length=200), nullable=True))

    op.create_table(
        "proposal_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.Column("responded_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')",
            name=op.f("ck_proposal_invitations_status_valid"),
        ),
        sa.CheckConstraint(
            "length(email) > 0", name=op.f("ck_proposal_invitations_email_not_empty")
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_proposal_invitations_expires_after_created")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_invitations_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("fk_proposal_invitations_invited_by_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["responded_by_id"],
            ["users.id"],
            name=op.f("fk_proposal_invitations_responded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_proposal_invitations_token_hash")),
    )
    with op.batch_alter_table("proposal_invitations", schema=None) as batch_op:
        # One pending invitation per address and proposal; answered ones do not count.
        batch_op.create_index(
            "uq_proposal_invitations_pending_email",
            ["proposal_id", "email"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_proposal_invitations_email_status", ["email", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("proposal_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_proposal_invitations_email_status")
        batch_op.drop_index("uq_proposal_invitations_pending_email")

    op.drop_table("proposal_invitations")
    with op.batch_alter_table("proposal_authors", schema=None) as batch_op:
        batch_op.drop_column("organisation_name")
