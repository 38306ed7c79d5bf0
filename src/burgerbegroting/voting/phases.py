"""What opening and closing voting does to the ballot log and the count.

Called by ``rounds.service`` inside the phase move's transaction (by hand or on schedule), so a
move and its effects commit together or not at all: opening writes the log's genesis event;
closing appends the end event (after which no cast can commit) and counts every election of the
round, storing the outcome (``results.counting``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.results import counting
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.voting import log as log_mod


async def on_phase(session: AsyncSession, round_: Round, target: Phase, *, now: datetime) -> None:
    if target == Phase.VOTING:
        assert round_.fingerprint is not None
        await log_mod.open_log(
            session, round_id=round_.id, round_fingerprint=round_.fingerprint, now=now
        )
    elif target == Phase.CLOSED:
        await log_mod.close_log(session, round_.id, now=now)
        await counting.count_and_store(session, round_, now=now)
