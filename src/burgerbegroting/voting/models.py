"""Voting tables: voting codes, voters, ballots and the hash-chained ballot log.

What holds by construction (database constraints and triggers, migration 0006), not by checks in
code that a race could slip past:

* one redemption identity per code: ``voting_codes.code_hash`` is UNIQUE, and a voter is
  ``UNIQUE(round_id, voter_key)`` where the key is a keyed hash of the code (or account);
* one current ballot per voter: ``voters.current_ballot_id`` is a single column, UNIQUE, and a
  cast locks the voter row (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` holds the
  database lock) before it reads which ballot it supersedes;
* one event per log height: ``UNIQUE(round_id, height)``; every append updates the round's
  ``ballot_logs`` row (the head), so appends of one round are serialised by that row lock, and a
  closed log (``closed_at`` set by the end event) refuses further appends in the same statement;
* ballots and log events are append-only: UPDATE and DELETE are refused by triggers.

No table here holds a name, e-mail address, user id or plain voting code. A ballot reaches its
voter only through ``voters.voter_key``, an HMAC with a key derived from the instance secret.
Ballots carry the day they were cast, never a finer time.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from burgerbegroting.db import Base, UTCDateTime, utcnow

HASH_LENGTH = 64  # hex SHA-256 / HMAC-SHA256
RECEIPT_LENGTH = 19  # XXXX-XXXX-XXXX-XXXX
BALLOT_UID_LENGTH = 32  # 128 random bits, hex


class Channel(StrEnum):
    """How a ballot reached us: for turnout figures only, never shown per ballot."""

    ONLINE = "online"
    PAPER = "paper"


class VoterMethod(StrEnum):
    CODE = "code"
    ACCOUNT = "account"


class EventKind(StrEnum):
    """Kinds of ballot-log events."""

    GENESIS = "genesis"  # round fingerprint + voter-roll fingerprint, when voting opens
    BALLOT = "ballot"  # a cast (online or paper), possibly superseding an earlier receipt
    VOID = "void"  # an admin voided the current ballot of a revoked code, with a reason
    ROLL = "roll"  # codes issued or revoked during voting: the roll's new fingerprint
    END = "end"  # voting closed: no event may follow


ReceiptStatus = Literal["counted", "superseded", "voided", "unknown"]
"""What a receipt lookup says (``public_checks.receipt_status``): the API's ``status`` and the lookup
page's wording (``pages.RECEIPT_STATUS``) list exactly these."""


AGE_BANDS: tuple[str, ...] = ("12-17", "18-26", "27-44", "45-66", "67+")
"""Age bands a code batch may carry (the municipality prints letters per band from the register),
for turnout per band; no birth date is ever stored."""


def _in(column: str, values: tuple[str, ...] | type[StrEnum]) -> str:
    items = [v.value for v in values] if isinstance(values, type) else list(values)
    return f"{column} IN ({', '.join(repr(v) for v in items)})"


class CodeBatch(Base):
    """One issue of voting codes for a round and district (a print run of letters)."""

    __tablename__ = "code_batches"
    __table_args__ = (
        CheckConstraint("count > 0", name="count_positive"),
        CheckConstraint(f"age_band IS NULL OR {_in('age_band', AGE_BANDS)}", name="age_band_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="RESTRICT"), index=True)
    district_id: Mapped[int | None] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    age_band: Mapped[str | None] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class VotingCode(Base):
    """A voting code, stored only as ``HMAC(key, normalised code)``; the plain code exists only in
    the answer that issued it (the mail-merge CSV and the letters)."""

    __tablename__ = "voting_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("code_batches.id", ondelete="RESTRICT"), index=True
    )
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="RESTRICT"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    code_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Voter(Base):
    """Who may hold a ballot in a round: a code or an account, seen only through ``voter_key``.

    Holds what eligibility and turnout need and nothing else: the district, the age band (from the
    code's batch) and, for account voting, that the account was verified.
    """

    __tablename__ = "voters"
    __table_args__ = (
        UniqueConstraint("round_id", "voter_key"),
        CheckConstraint(_in("method", VoterMethod), name="method_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="RESTRICT"), index=True)
    voter_key: Mapped[str] = mapped_column(String(HASH_LENGTH))
    method: Mapped[str] = mapped_column(String(10))
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("voting_codes.id", ondelete="RESTRICT"), unique=True
    )
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id", ondelete="RESTRICT"))
    age_band: Mapped[str | None] = mapped_column(String(10))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    current_ballot_id: Mapped[int | None] = mapped_column(
        ForeignKey("ballots.id", ondelete="RESTRICT", use_alter=True), unique=True
    )
    # The booth's unconfirmed choices (a lost connection loses nothing); never counted.
    draft: Mapped[str | None] = mapped_column(Text)


class Ballot(Base):
    """One cast ballot, never changed: a later cast supersedes it by becoming the voter's current
    ballot. ``content`` is canonical JSON (``voting.ballots``)."""

    __tablename__ = "ballots"
    __table_args__ = (
        UniqueConstraint("round_id", "receipt"),
        UniqueConstraint("round_id", "event_height"),
        CheckConstraint(_in("channel", Channel), name="channel_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="RESTRICT"), index=True)
    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id", ondelete="RESTRICT"), index=True)
    # The election it counts in: the district id in a districts round, NULL city-wide.
    election_district_id: Mapped[int | None] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT")
    )
    ballot_uid: Mapped[str] = mapped_column(String(BALLOT_UID_LENGTH), unique=True)
    content: Mapped[str] = mapped_column(Text)
    blank: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(10))
    cast_on: Mapped[date] = mapped_column(Date)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("ballots.id", ondelete="RESTRICT"), unique=True
    )
    event_height: Mapped[int] = mapped_column(Integer)
    receipt: Mapped[str] = mapped_column(String(RECEIPT_LENGTH))
    # HMAC of the voter and the client's Idempotency-Key: a retried request gets the same receipt.
    idempotency_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH), unique=True)


class BallotLog(Base):
    """The head of a round's ballot log (one row per round): height, head hash, closed or not.

    Every append updates this row first, which serialises the appends of one round and makes the
    closing event and any later cast mutually exclusive."""

    __tablename__ = "ballot_logs"
    __table_args__ = (CheckConstraint("height >= 0", name="height_nonnegative"),)

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="RESTRICT"), primary_key=True
    )
    height: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(HASH_LENGTH))
    roll_fingerprint: Mapped[str] = mapped_column(String(HASH_LENGTH))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogEvent(Base):
    """One event of the hash-chained ballot log (see ``voting.canonical.event_hash``)."""

    __tablename__ = "log_events"
    __table_args__ = (
        UniqueConstraint("round_id", "height"),
        CheckConstraint(_in("kind", EventKind), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="RESTRICT"), index=True)
    height: Mapped[int] = mapped_column(Integer)
    parent: Mapped[str] = mapped_column(String(HASH_LENGTH))
    kind: Mapped[str] = mapped_column(String(10))
    payload: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
