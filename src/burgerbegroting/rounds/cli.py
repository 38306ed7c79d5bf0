"""``burgerbegroting rounds tick``: move due rounds once (for cron, next to or instead of the
server's own background loop)."""

from __future__ import annotations

import asyncio

from burgerbegroting.db import create_engine
from burgerbegroting.rounds.scheduler import tick
from burgerbegroting.rounds.service import PhaseMove
from burgerbegroting.settings import Settings


def tick_command(settings: Settings) -> int:
    """Run one tick against ``settings.database_url``; prints each move (Dutch)."""

    async def run() -> list[PhaseMove]:
        engine = create_engine(settings.database_url)
        try:
            return await tick(engine)
        finally:
            await engine.dispose()

    moves = asyncio.run(run())
    for move in moves:
        print(f"Ronde {move.round_id}: {move.from_phase.value} -> {move.to_phase.value}")
    if not moves:
        print("Geen ronde aan de beurt.")
    return 0
