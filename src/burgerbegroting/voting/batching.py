"""Group commit for online casts: one writer per round per worker process.

Every cast of a round appends to the same log, so every cast waits on the same lock: the log head
row. When each request took that lock in its own transaction, the lock was held across five
statements and a commit, and between them the worker's event loop ran every other request's
work, so casts queued behind one another (a convoy: 30 casts a second with one worker at 50
clients, whatever the CPU). Here a request checks its ballot in a read-only transaction and hands
it to the round's writer; the writer takes every ballot waiting at that moment (one per voter) and
writes them in one transaction, with one lock of the head, one INSERT of all their events and one
of all their ballots, then answers each request. Nothing is acknowledged before its commit, so a
crash loses only unanswered casts, as before.

A batch that fails as a whole for one cast (say an idempotency key sent twice at once) is
written again one cast at a time, so one bad cast never takes the others down. A refusal that
holds for all (the log closed) answers all.

No Litestar here: the controller owns one ``CastBatcher`` per app (``app.state``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from burgerbegroting import db
from burgerbegroting.errors import DomainError
from burgerbegroting.voting import casting

logger = logging.getLogger(__name__)

# A batch's size is what waited while the previous batch was written; this bounds one transaction.
MAX_BATCH = 200


@dataclass
class _Waiting:
    cast: casting.PreparedCast
    answer: asyncio.Future[casting.CastResult]


class CastBatcher:
    """Writes prepared casts in batches, per round; ``submit`` answers when its cast is committed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, max_batch: int = MAX_BATCH):
        self._sessions = sessions
        self._max_batch = max_batch
        self._waiting: dict[int, list[_Waiting]] = {}
        self._writers: dict[int, asyncio.Task[None]] = {}

    async def submit(self, cast: casting.PreparedCast) -> casting.CastResult:
        """Write ``cast``; its result once committed, or the refusal raised."""
        waiting = _Waiting(cast, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(cast.round_id, []).append(waiting)
        if cast.round_id not in self._writers:
            self._writers[cast.round_id] = asyncio.create_task(self._write_round(cast.round_id))
        # Shielded: a client that goes away does not cancel a cast others are written with.
        return await asyncio.shield(waiting.answer)

    async def _write_round(self, round_id: int) -> None:
        try:
            # Writes, never read-only (the task's context is copied from a request's).
            db.set_read_only(False)
            while True:
                queue = self._waiting.get(round_id)
                if not queue:
                    # No await between this check and the writer's removal: a cast submitted
                    # after it finds no writer and starts one.
                    self._waiting.pop(round_id, None)
                    return
                batch: list[_Waiting] = []
                later: list[_Waiting] = []
                voters: set[int] = set()
                for waiting in queue:
                    # One cast per voter per batch: a second waits for the next batch, where it
                    # replaces the first (in the order they arrived).
                    if waiting.cast.voter_id in voters or len(batch) >= self._max_batch:
                        later.append(waiting)
                    else:
                        voters.add(waiting.cast.voter_id)
                        batch.append(waiting)
                self._waiting[round_id] = later
                await self._write(round_id, batch)
        except BaseException as failure:
            # Never leave a request waiting for a writer that is gone (a bug, or shutdown).
            for waiting in self._waiting.pop(round_id, []):
                _settle(waiting, failure)
            raise
        finally:
            self._writers.pop(round_id, None)

    async def _write(self, round_id: int, batch: list[_Waiting]) -> None:
        try:
            async with self._sessions() as session:
                answers = await casting.append_casts(
                    session, round_id, [w.cast for w in batch], lock_voters=True
                )
                await session.commit()
        except DomainError as refusal:
            # Holds for every cast of the batch (the log closed, voting not open).
            for waiting in batch:
                _settle(waiting, refusal)
            return
        except Exception as failure:  # noqa: BLE001 (every failure must reach the waiting requests)
            if len(batch) == 1:
                _settle(batch[0], failure)
                return
            logger.warning(
                "cast batch of %d failed (%s); writing its casts one by one",
                len(batch),
                type(failure).__name__,
            )
            for waiting in batch:
                await self._write(round_id, [waiting])
            return
        for waiting, answer in zip(batch, answers, strict=True):
            _settle(waiting, answer)


def _settle(waiting: _Waiting, answer: casting.CastResult | BaseException) -> None:
    if waiting.answer.done():
        return
    if isinstance(answer, BaseException):
        waiting.answer.set_exception(answer)
    else:
        waiting.answer.set_result(answer)
