"""Account tables: users, their roles, revoked tokens and rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import Base, UTCDateTime, utcnow

EMAIL_MAX_LENGTH = 254
DISPLAY_NAME_MAX_LENGTH = 100

_ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class User(Base):
    """An account. ``email`` is stored normalised (trimmed, lower case), so uniqueness is
    case-insensitive on every backend without a functional index."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Sessions that authenticated (password entered) before this moment are no longer valid:
    # set by a password reset or change and by deleting the account ("log out everywhere").
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set when an admin closes the account (``accounts.admin``): no login, no session.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    # No CHECK (email = lower(email)): SQLite's lower() folds ASCII only and PostgreSQL's depends
    # on the collation, so the same address could pass on one backend and fail on the other.
    # ``service.normalise_email`` is the single place addresses are stored from.
    __table_args__ = (CheckConstraint("length(display_name) > 0", name="display_name_not_empty"),)

    @property
    def role_set(self) -> frozenset[Role]:
        """The user's roles (``roles`` must have been loaded)."""
        return frozenset(Role(r.role) for r in self.roles)


class UserRole(Base):
    """One role held by one user; a user may hold several, each at most once."""

    __tablename__ = "user_roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))

    user: Mapped[User] = relationship(back_populates="roles", lazy="raise")

    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        CheckConstraint(f"role IN ({_ROLE_VALUES})", name="role_known"),
    )


class RevokedToken(Base):
    """A revoked JWT id (or session id). Rows are useless once the token would have expired
    anyway, so they carry that moment and are deleted lazily on the next revocation."""

    __tablename__ = "revoked_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RateLimitHit(Base):
    """Attempts counted for one key (a SHA-256 of e.g. ``login:ip:203.0.113.7``) in one fixed
    window starting at ``window_start`` (Unix seconds). Shared by every worker through the
    database; incremented with an atomic upsert."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("key", "window_start"),
        Index("ix_rate_limit_hits_expires_at", "expires_at"),
    )
