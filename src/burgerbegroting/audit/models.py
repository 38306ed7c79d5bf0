"""The staff action log. Append-only: no code path updates or deletes a row, and database
triggers (created in migration 0002, on SQLite and PostgreSQL) refuse UPDATE and DELETE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from burgerbegroting.db import Base, UTCDateTime, utcnow

ACTION_MAX_LENGTH = 100


class AuditEntry(Base):
    """One staff action: who (``actor_id``; NULL for the scheduler), when, what, on what, why."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # RESTRICT: an account that acted cannot silently disappear from the log.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(ACTION_MAX_LENGTH))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
