"""The hash-chained ballot log of a round.

Every event has a height (0 for genesis), its parent's hash and a canonical payload; its hash is
``voting.canonical.event_hash``. Genesis (written when voting opens) holds the frozen round
fingerprint and the voter-roll fingerprint; every cast appends a ``ballot`` event; codes issued or
revoked during voting append a ``roll`` event; an admin's void appends a ``void`` event; closing
appends ``end``, after which nothing can be appended.

Appends of one round are serialised by the ``ballot_logs`` row: it is read ``FOR UPDATE`` on
PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already holds the database lock), checked for
``closed_at``, and moved on in the same transaction as the event. So a cast that commits after the
end event is impossible: either it held the row first and the end event follows it, or it finds
the log closed and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from burgerbegroting.errors import Conflict
from burgerbegroting.i18n import _
from burgerbegroting.rounds.models import Round
from burgerbegroting.voting.canonical import canonical_json, event_hash, iso_utc, sha256_hex
from burgerbegroting.voting.models import BallotLog, CodeBatch, EventKind, LogEvent, VotingCode

GENESIS_PARENT = "0" * 64


@dataclass(frozen=True, slots=True)
class Appended:
    height: int
    hash: str


async def roll_summary(session: AsyncSession, round_id: int) -> dict[str, Any]:
    """The voter roll as it stands: per district, the number of live codes and the SHA-256 of
    their sorted keyed hashes. It says how many codes could vote, and commits to which, without
    revealing any code."""
    rows = (
        await session.execute(
            select(VotingCode.district_id, VotingCode.code_hash)
            .join(CodeBatch, CodeBatch.id == VotingCode.batch_id)
            .where(
                VotingCode.round_id == round_id,
                VotingCode.revoked_at.is_(None),
                CodeBatch.revoked_at.is_(None),
            )
            .order_by(VotingCode.district_id, VotingCode.code_hash)
        )
    ).all()
    by_district: dict[int | None, list[str]] = {}
    for district_id, code_hash in rows:
        by_district.setdefault(district_id, []).append(code_hash)
    districts = [
        {
            "district_id": district_id,
            "codes": len(hashes),
            "digest": sha256_hex("\n".join(sorted(hashes)).encode("ascii")),
        }
        for district_id, hashes in sorted(
            by_district.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0)
        )
    ]
    return {"districts": districts}


def roll_fingerprint(summary: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(summary))


async def open_log(
    session: AsyncSession, *, round_id: int, round_fingerprint: str, now: datetime
) -> Appended:
    """Write the genesis event of a round that opens for voting (once: a second call is a
    Conflict, and the primary key of ``ballot_logs`` refuses a second head)."""
    existing = await session.get(BallotLog, round_id)
    if existing is not None:
        raise Conflict(_("Het stemlogboek van deze ronde bestaat al."))
    summary = await roll_summary(session, round_id)
    fingerprint = roll_fingerprint(summary)
    payload = {
        "round_fingerprint": round_fingerprint,
        "roll_fingerprint": fingerprint,
        "roll": summary,
        "opened": iso_utc(now),
    }
    digest = event_hash(
        round_id=round_id,
        height=0,
        parent=GENESIS_PARENT,
        kind=EventKind.GENESIS.value,
        payload=payload,
    )
    session.add(
        LogEvent(
            round_id=round_id,
            height=0,
            parent=GENESIS_PARENT,
            kind=EventKind.GENESIS.value,
            payload=canonical_json(payload).decode("utf-8"),
            hash=digest,
        )
    )
    session.add(BallotLog(round_id=round_id, height=0, head=digest, roll_fingerprint=fingerprint))
    await session.flush()
    return Appended(height=0, hash=digest)


# Built once: it runs once per batch of casts, inside the round's lock.
_LOCK_HEAD = (
    select(BallotLog)
    .where(BallotLog.round_id == bindparam("head_round"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def lock_head(session: AsyncSession, round_id: int) -> BallotLog | None:
    """The round's log head, locked for this transaction (``FOR UPDATE``; SQLite holds the
    database lock already). None when voting never opened."""
    result = await session.execute(_LOCK_HEAD, {"head_round": round_id})
    return result.scalar_one_or_none()


# The same lock for a batch of casts, with the round's scheduled end of voting in the same
# statement (no extra round trip inside the lock): the end may be moved while voting is open.
_LOCK_HEAD_AND_END = (
    select(BallotLog, Round.closed_starts_at)
    .join(Round, Round.id == BallotLog.round_id)
    .where(BallotLog.round_id == bindparam("head_round"))
    .with_for_update(of=BallotLog)
    .execution_options(populate_existing=True)
)


async def lock_head_for_casts(
    session: AsyncSession, round_id: int
) -> tuple[BallotLog | None, datetime | None]:
    """``lock_head`` and the round's scheduled end of voting (``closed_starts_at``)."""
    row = (await session.execute(_LOCK_HEAD_AND_END, {"head_round": round_id})).one_or_none()
    return (None, None) if row is None else (row[0], row[1])


def closed_error() -> Conflict:
    return Conflict(_("Het stemmen is gesloten. Er kan niet meer gestemd worden in deze ronde."))


# Built once: statement construction is a visible share of a cast's time (plain table statements,
# so the session executes them without the unit of work).
_EVENTS: Table = LogEvent.__table__  # type: ignore[assignment]
_LOGS: Table = BallotLog.__table__  # type: ignore[assignment]
_INSERT_EVENT = insert(_EVENTS)
_MOVE_HEAD = (
    update(_LOGS)
    .where(
        _LOGS.c.round_id == bindparam("log_round"),
        _LOGS.c.height == bindparam("from_height"),
        _LOGS.c.closed_at.is_(None),
    )
    .values(height=bindparam("to_height"), head=bindparam("to_head"))
)


async def append(
    session: AsyncSession, head: BallotLog, kind: EventKind, payload: dict[str, Any]
) -> Appended:
    """Append one event after ``head`` (which the caller locked with ``lock_head``)."""
    (appended,) = await append_many(session, head, [(kind, payload)])
    return appended


async def append_many(
    session: AsyncSession, head: BallotLog, entries: Sequence[tuple[EventKind, dict[str, Any]]]
) -> list[Appended]:
    """Append events after ``head`` (which the caller locked with ``lock_head``), in order: one
    INSERT for all of them and one guarded move of the head."""
    if head.closed_at is not None:
        raise closed_error()
    height, parent = head.height, head.head
    rows: list[dict[str, Any]] = []
    appended: list[Appended] = []
    for kind, payload in entries:
        height += 1
        digest = event_hash(
            round_id=head.round_id, height=height, parent=parent, kind=kind.value, payload=payload
        )
        rows.append(
            {
                "round_id": head.round_id,
                "height": height,
                "parent": parent,
                "kind": kind.value,
                "payload": canonical_json(payload).decode("utf-8"),
                "hash": digest,
            }
        )
        appended.append(Appended(height=height, hash=digest))
        parent = digest
    # Plain table statements, not the unit of work: this runs inside the lock every cast of the
    # round waits on.
    await session.execute(_INSERT_EVENT, rows if len(rows) > 1 else rows[0])
    # The conditional UPDATE is the second guard: it moves the head only from the height we read.
    moved = await session.execute(
        _MOVE_HEAD,
        {
            "log_round": head.round_id,
            "from_height": head.height,
            "to_height": height,
            "to_head": parent,
        },
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise closed_error()
    # The row already holds these values: tell the session without marking it changed (assigning
    # them would flush the same UPDATE a second time, inside the lock).
    set_committed_value(head, "height", height)
    set_committed_value(head, "head", parent)
    return appended


async def close_log(session: AsyncSession, round_id: int, *, now: datetime) -> Appended | None:
    """Append the end event and mark the log closed; None when the round never had a log."""
    head = await lock_head(session, round_id)
    if head is None:
        return None
    if head.closed_at is not None:
        return Appended(height=head.height, hash=head.head)
    totals = await session.execute(
        select(func.count()).select_from(LogEvent).where(LogEvent.round_id == round_id)
    )
    appended = await append(
        session,
        head,
        EventKind.END,
        {"closed": iso_utc(now), "events": int(totals.scalar_one())},
    )
    await session.execute(
        update(BallotLog)
        .where(BallotLog.round_id == round_id)
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(head, "closed_at", now)
    return appended


async def events(session: AsyncSession, round_id: int) -> Sequence[LogEvent]:
    """Every event of the round's log in height order."""
    result = await session.execute(
        select(LogEvent).where(LogEvent.round_id == round_id).order_by(LogEvent.height)
    )
    return result.scalars().all()


def event_json(event: LogEvent) -> dict[str, Any]:
    """An event as exported: envelope, payload (parsed) and hash."""
    return {
        "height": event.height,
        "parent": event.parent,
        "kind": event.kind,
        "payload": json.loads(event.payload),
        "hash": event.hash,
    }
