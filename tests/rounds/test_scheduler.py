"""Rounds move on schedule: one tick (cron), the background loop, and the CLI command."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine, utcnow
from burgerbegroting.rounds import service
from burgerbegroting.rounds.cli import tick_command
from burgerbegroting.rounds.models import Phase
from burgerbegroting.rounds.scheduler import phase_scheduler, tick
from burgerbegroting.settings import Settings
from tests.rounds.factories import add_missing_projects, create_user, round_data


async def _due_round(database_url: str) -> int:
    """A round whose submission started a minute ago and whose review starts in a day."""
    now = utcnow()
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            admin = await create_user(session, Role.ADMIN)
            round_ = await service.create_round(
                session,
                round_data(
                    submission_starts_at=now - timedelta(minutes=1),
                    review_starts_at=now + timedelta(days=1),
                    voting_starts_at=now + timedelta(days=2),
                    closed_starts_at=now + timedelta(days=3),
                    published_starts_at=now + timedelta(days=4),
                ),
                actor_id=admin,
            )
            # Opening voting on schedule needs an accepted project in every election.
            await add_missing_projects(session, round_.id)
            await session.commit()
            return round_.id
    finally:
        await engine.dispose()


async def _phase(database_url: str, round_id: int) -> str:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            return (await service.get_round(session, round_id)).phase
    finally:
        await engine.dispose()


async def test_tick_moves_due_rounds_and_commits(database_url: str) -> None:
    round_id = await _due_round(database_url)
    engine = create_engine(database_url)
    try:
        moves = await tick(engine)
        assert [(m.round_id, m.to_phase) for m in moves] == [(round_id, Phase.SUBMISSION)]
        assert await tick(engine) == []
        later = await tick(engine, utcnow() + timedelta(days=2, hours=1))
        assert [m.to_phase for m in later] == [Phase.REVIEW, Phase.VOTING]
    finally:
        await engine.dispose()
    assert await _phase(database_url, round_id) == "voting"


async def test_background_loop_ticks_while_running_and_stops_on_shutdown(
    database_url: str,
) -> None:
    round_id = await _due_round(database_url)
    engine = create_engine(database_url)
    try:
        lifespan = phase_scheduler(engine, interval=0.05)
        async with lifespan(None):
            # Up to 20 s: on a loaded 2-core CI machine the first tick can take seconds.
            for _ in range(400):
                if await _phase(database_url, round_id) == "submission":
                    break
                await asyncio.sleep(0.05)
        tasks = [t for t in asyncio.all_tasks() if t.get_name() == "round-phase-scheduler"]
        assert tasks == []
    finally:
        await engine.dispose()
    assert await _phase(database_url, round_id) == "submission"


def test_cli_tick_prints_the_moves(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    round_id = asyncio.run(_due_round(settings.database_url))
    assert tick_command(settings) == 0
    assert f"Ronde {round_id}: draft -> submission" in capsys.readouterr().out
    assert tick_command(settings) == 0
    assert "Geen ronde aan de beurt." in capsys.readouterr().out
