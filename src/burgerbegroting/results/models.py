"""The stored outcome of a closed round and the admin overrides recorded next to it.

``round_results`` holds one row per round, written once when voting closes: the canonical JSON of
every election's outcome (winners, votes, the engine's trace, tie-breaks, the engine version and
the log head it counted). A recount of the same log gives the same bytes. Rows are append-only
(triggers refuse UPDATE and DELETE): an override never replaces the computed outcome, it is stored
beside it in ``result_overrides`` with who, when and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from burgerbegroting.db import Base, UTCDateTime, utcnow


class RoundResult(Base):
    __tablename__ = "round_results"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="RESTRICT"), primary_key=True
    )
    document: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(40))
    log_head: Mapped[str] = mapped_column(String(64))
    log_height: Mapped[int] = mapped_column(Integer)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResultOverride(Base):
    """A decision after the vote that departs from the computed outcome (for example a funded
    project found infeasible), shown next to the outcome, never instead of it."""

    __tablename__ = "result_overrides"
    __table_args__ = (
        CheckConstraint("decision IN ('not-funded', 'funded')", name="decision_known"),
        CheckConstraint("length(reason) > 0", name="reason_not_empty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="RESTRICT"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="RESTRICT"))
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(2000))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
