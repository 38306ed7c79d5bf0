"""Replaying a round's ballot log straight from the database, for tests.

Recomputes every event hash and parent link, and derives the current ballots from the log alone
(a ballot event supersedes the receipt it names; a void event voids one): that set must equal the
database's current ballots. The full auditor's check of an export is ``audit.verify``; this is the
small version the integrity tests use on the live tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.settings import Settings
from burgerbegroting.voting.canonical import event_hash, receipt_from_hash
from burgerbegroting.voting.log import GENESIS_PARENT
from tests.proposals.factories import run


@dataclass(frozen=True)
class Replay:
    height: int
    current_from_log: dict[str, dict[str, Any]]  # receipt -> content
    current_in_db: dict[str, dict[str, Any]]
    receipts: set[str]
    closed: bool


class ReplayError(AssertionError):
    pass


async def _replay(session: AsyncSession, round_id: int) -> Replay:
    events = (
        await session.execute(
            text(
                "SELECT height, parent, kind, payload, hash FROM log_events "
                "WHERE round_id = :r ORDER BY height"
            ),
            {"r": round_id},
        )
    ).all()
    parent = GENESIS_PARENT
    current: dict[str, dict[str, Any]] = {}
    receipts: set[str] = set()
    closed = False
    for expected_height, (height, stored_parent, kind, payload_text, stored_hash) in enumerate(
        events
    ):
        if height != expected_height:
            raise ReplayError(f"height {height} where {expected_height} was expected")
        if stored_parent != parent:
            raise ReplayError(f"event {height}: parent does not match the previous hash")
        if closed:
            raise ReplayError(f"event {height} follows the end event")
        payload = json.loads(payload_text)
        digest = event_hash(
            round_id=round_id, height=height, parent=stored_parent, kind=kind, payload=payload
        )
        if digest != stored_hash:
            raise ReplayError(f"event {height}: hash does not match its content")
        if kind == "ballot":
            receipt = receipt_from_hash(digest)
            superseded = payload["supersedes"]
            if superseded is not None:
                if superseded not in current:
                    raise ReplayError(f"event {height} supersedes {superseded}, not current")
                del current[superseded]
            current[receipt] = payload["ballot"]
            receipts.add(receipt)
        elif kind == "void":
            if payload["voids"] not in current:
                raise ReplayError(f"event {height} voids a ballot that is not current")
            del current[payload["voids"]]
        elif kind == "end":
            closed = True
        parent = digest
    head = (
        await session.execute(
            text("SELECT height, head FROM ballot_logs WHERE round_id = :r"), {"r": round_id}
        )
    ).one()
    if events and (head[0] != len(events) - 1 or head[1] != parent):
        raise ReplayError("the published head is not the last event")
    rows = (
        await session.execute(
            text(
                "SELECT b.receipt, b.content FROM ballots b JOIN voters v "
                "ON v.current_ballot_id = b.id WHERE b.round_id = :r"
            ),
            {"r": round_id},
        )
    ).all()
    in_db = {receipt: json.loads(content) for receipt, content in rows}
    return Replay(len(events) - 1, current, in_db, receipts, closed)


def replay(settings: Settings, round_id: int) -> Replay:
    """Replay and check the log; raises ``ReplayError`` naming the first problem."""
    result = run(settings, lambda session: _replay(session, round_id))
    if result.current_from_log != result.current_in_db:
        raise ReplayError(
            f"log says {len(result.current_from_log)} current ballots, "
            f"database {len(result.current_in_db)}"
        )
    return result
