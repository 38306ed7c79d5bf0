"""everyday use: users.sessions_valid_after (sign out everywhere after a password reset) and
users.deactivated_at (an admin closed the account)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from burgerbegroting.db import UTCDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sessions_valid_after", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("deactivated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
        batch_op.drop_column("sessions_valid_after")
