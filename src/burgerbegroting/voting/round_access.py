"""The round as voting reads it: a round by id (drafts do not exist for voting), its frozen
definition, whether voting is open now, and what a booth request needs of it.

Every voting module reads its round through here, so "this round does not exist" and "voting is
closed" have one definition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.db import MAX_ID, utcnow
from burgerbegroting.errors import Conflict, NotFound
from burgerbegroting.i18n import _
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.rounds.service import phase_ends_at
from burgerbegroting.voting import log as log_mod


def round_not_found() -> NotFound:
    return NotFound(_("Deze begrotingsronde bestaat niet."))


async def load_round(session: AsyncSession, round_id: int) -> Round:
    if not 0 < round_id <= MAX_ID:
        raise round_not_found()
    round_ = (
        await session.execute(
            select(Round).where(Round.id == round_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if round_ is None or round_.phase == Phase.DRAFT.value:
        raise round_not_found()
    return round_


def definition_of(round_: Round) -> dict[str, Any]:
    """The round's frozen definition (voting has opened, so it exists)."""
    if round_.frozen_definition is None:
        raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
    loaded: dict[str, Any] = json.loads(round_.frozen_definition)
    return loaded


@dataclass(frozen=True, slots=True)
class BoothRound:
    """What a booth request needs of its round."""

    id: int
    title: str
    phase: str
    closes_at: datetime | None  # when voting is scheduled to end (while it is open)

    @classmethod
    def of(cls, round_: Round) -> BoothRound:
        closes_at = phase_ends_at(round_) if round_.phase == Phase.VOTING.value else None
        return cls(round_.id, round_.title, round_.phase, closes_at)


def require_voting(round_: Round | BoothRound) -> None:
    if round_.phase == Phase.VOTING.value:
        ends_at = round_.closes_at if isinstance(round_, BoothRound) else round_.closed_starts_at
        if ends_at is not None and ends_at <= utcnow():
            raise log_mod.closed_error()  # past its scheduled end; the scheduler is catching up
        return
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        raise log_mod.closed_error()
    raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
