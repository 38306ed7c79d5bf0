"""Proposals, their (co-)authors and resident supports.

The invariants that matter live in the database: one support per resident per proposal (a UNIQUE
constraint, because application checks race under concurrent clicks), one credit row per person per
proposal, non-negative and bounded costs, an accepted proposal always carries the municipal cost,
and a merged proposal always points at the proposal it was merged into. At most one *pending*
co-author invitation per address per proposal (a partial UNIQUE index: two simultaneous
invitations of the same address must not both be stored).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from burgerbegroting.db import Base, UTCDateTime, utcnow

# One billion euro in cents: far above any social-domain budget, far below int64 overflow.
MAX_COST_CENTS = 100_000_000_000


class ProposalStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


class AuthorRole(StrEnum):
    AUTHOR = "author"
    COAUTHOR = "coauthor"


_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in ProposalStatus)


class Proposal(Base):
    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status_valid"),
        CheckConstraint(
            f"estimated_cost_cents IS NULL OR "
            f"(estimated_cost_cents >= 0 AND estimated_cost_cents <= {MAX_COST_CENTS})",
            name="estimated_cost_range",
        ),
        CheckConstraint(
            f"municipal_cost_cents IS NULL OR "
            f"(municipal_cost_cents >= 0 AND municipal_cost_cents <= {MAX_COST_CENTS})",
            name="municipal_cost_range",
        ),
        # Only a draft (or a withdrawn draft) may be incomplete; what reaches a moderator is not.
        CheckConstraint(
            "status IN ('draft', 'withdrawn') OR "
            "(theme_id IS NOT NULL AND estimated_cost_cents IS NOT NULL)",
            name="complete_unless_draft",
        ),
        # The municipal cost is the cost on the ballot: an accepted proposal must have one.
        CheckConstraint(
            "status <> 'accepted' OR municipal_cost_cents IS NOT NULL",
            name="accepted_has_municipal_cost",
        ),
        CheckConstraint(
            "(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged_has_target"
        ),
        CheckConstraint(
            "merged_into_id IS NULL OR merged_into_id <> id", name="not_merged_into_self"
        ),
        # The gallery filters on round + status and then theme / district; these keep it an
        # index range scan at thousands of proposals (see docs/performance.md).
        Index("ix_proposals_round_status", "round_id", "status"),
        Index("ix_proposals_round_theme", "round_id", "theme_id"),
        Index("ix_proposals_round_district", "round_id", "district_id"),
        Index("ix_proposals_round_created", "round_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    theme_id: Mapped[int | None] = mapped_column(ForeignKey("themes.id", ondelete="RESTRICT"))
    # NULL means city-wide (stedelijk).
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=ProposalStatus.DRAFT.value)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    societal_effect: Mapped[str] = mapped_column(Text, default="")
    target_group: Mapped[str] = mapped_column(String(300), default="")
    location: Mapped[str | None] = mapped_column(String(300))
    # Set when an organisation submits under the "Right to Challenge" (uitdaagrecht).
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    estimated_cost_cents: Mapped[int | None] = mapped_column(BigInteger)
    municipal_cost_cents: Mapped[int | None] = mapped_column(BigInteger)
    feasibility_notes: Mapped[str | None] = mapped_column(Text)
    public_reasoning: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_right_to_challenge(self) -> bool:
        return self.organisation_name is not None


class ProposalAuthor(Base):
    """Who is credited on a proposal (and may edit it): the author, co-authors, merged-in authors."""

    __tablename__ = "proposal_authors"
    __table_args__ = (
        UniqueConstraint("proposal_id", "user_id"),
        CheckConstraint("role IN ('author', 'coauthor')", name="role_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    # An organisation working on the same theme, credited beside the person who accepted.
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"


_INVITATION_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in InvitationStatus)


class ProposalInvitation(Base):
    """An invitation to become co-author, sent by e-mail to an address (which may or may not
    have an account). The link's token is stored only as a keyed hash (``token_hash``).

    Answered invitations stay (status accepted, declined, revoked or expired), so a reused link
    gets a clear answer; only one *pending* invitation per address and proposal can exist. The
    index is partial (``WHERE status = 'pending'``) on both databases, so an address can be
    invited again after a decline, revocation or expiry.
    """

    __tablename__ = "proposal_invitations"
    __table_args__ = (
        CheckConstraint(f"status IN ({_INVITATION_STATUS_VALUES})", name="status_valid"),
        CheckConstraint("length(email) > 0", name="email_not_empty"),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index(
            "uq_proposal_invitations_pending_email",
            "proposal_id",
            "email",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_proposal_invitations_email_status", "email", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    # Normalised like users.email (trimmed, lower case), so it compares with account addresses.
    email: Mapped[str] = mapped_column(String(254))
    # HMAC-SHA256 of the link token (hex); the token itself is only in the mail.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default=InvitationStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ProposalSupport(Base):
    """A resident's support for a proposal. Withdrawing deletes the row (no soft delete: a
    ``deleted_at`` column would let NULLs slip past the unique constraint, as in OpenStad)."""

    __tablename__ = "proposal_supports"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MAX_PHOTOS_PER_PROPOSAL = 5
MAX_ALT_TEXT = 300


class ProposalPhoto(Base):
    """A photo on a proposal. The files (display size and thumbnail, both WebP) live under the
    media directory as ``proposals/<proposal_id>/<file_key>.webp`` and ``…-klein.webp``; the row
    is written only after both files are, and the files are removed when the row could not be
    stored (see ``proposals/photos.py``). Alt text is required (WCAG 1.1.1)."""

    __tablename__ = "proposal_photos"
    __table_args__ = (
        CheckConstraint(
            f"length(alt_text) > 0 AND length(alt_text) <= {MAX_ALT_TEXT}", name="alt_text_length"
        ),
        CheckConstraint("width > 0 AND height > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    # Random (128 bits, hex): the file name, so a URL or a file name reveals nothing and a new
    # upload never reuses a cached name.
    file_key: Mapped[str] = mapped_column(String(32), unique=True)
    alt_text: Mapped[str] = mapped_column(String(MAX_ALT_TEXT))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumb_width: Mapped[int] = mapped_column(Integer)
    thumb_height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
