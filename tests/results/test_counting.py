"""The count refuses a round whose frozen definition no longer matches its fingerprint."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.errors import Conflict
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.settings import Settings
from tests.proposals.factories import run
from tests.rounds.factories import disable_freeze_trigger
from tests.voting.factories import close, open_round, scalar


def test_the_count_stops_when_a_frozen_project_was_changed_behind_the_triggers(
    settings: Settings,
) -> None:
    """Someone with the rights to drop the freeze trigger lowers a project's municipal cost after
    voting opened: closing the round refuses to count it (the fingerprint no longer matches), and
    no result is stored. (An untouched round counts on close: tests/voting/test_concurrency.py.)"""
    vr = open_round(settings)

    async def tamper(session: AsyncSession) -> None:
        await disable_freeze_trigger(session, "proposals")
        await session.execute(
            update(Proposal)
            .where(Proposal.id == vr.projects[0])
            .values(municipal_cost_cents=1)
            .execution_options(synchronize_session=False)
        )
        await session.commit()

    run(settings, tamper)
    with pytest.raises(Conflict, match="vingerafdruk"):
        close(settings, vr)
    assert scalar(settings, "SELECT count(*) FROM round_results") == 0
    assert scalar(settings, "SELECT phase FROM rounds WHERE id = :r", r=vr.round_id) == "voting"
