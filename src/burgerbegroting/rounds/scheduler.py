"""Moving rounds on schedule: one ``tick`` (cron: ``burgerbegroting rounds tick``) and the app's
background loop that ticks every ``interval`` seconds while the server runs.

Several workers (or cron next to the server) may tick at once: ``advance_due_phases`` locks each
round row (``FOR UPDATE`` on PostgreSQL; on SQLite the write transaction holds the database lock)
and only ever moves a round to the phase after the one it finds, so a move cannot happen twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from burgerbegroting.db import utcnow
from burgerbegroting.rounds.service import PhaseMove, advance_due_phases

logger = logging.getLogger("burgerbegroting.rounds")

TICK_SECONDS = 30.0


async def tick(engine: AsyncEngine, now: datetime | None = None) -> list[PhaseMove]:
    """Advance every round that is due at ``now`` (default: the current time) and commit."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        moves = await advance_due_phases(session, now or utcnow())
        await session.commit()
    for move in moves:
        logger.info(
            "round %s moved on schedule: %s -> %s", move.round_id, move.from_phase, move.to_phase
        )
    return moves


async def run_forever(engine: AsyncEngine, interval: float = TICK_SECONDS) -> None:
    """Tick now and then every ``interval`` seconds until cancelled. A failing tick is logged and
    retried next time: a database hiccup must not stop the schedule for good."""
    while True:
        try:
            await tick(engine)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("scheduled phase tick failed; retrying in %s s", interval)
        await asyncio.sleep(interval)


def phase_scheduler(
    engine: AsyncEngine, interval: float = TICK_SECONDS
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook: starts the loop on startup, cancels it on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(run_forever(engine, interval), name="round-phase-scheduler")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    return lifespan
