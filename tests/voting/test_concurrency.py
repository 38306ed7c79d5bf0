"""Casting under concurrency, on SQLite and PostgreSQL, each test with its negative control.

Every cast runs in its own session and transaction against a real database file or server
(no shared transaction hides rows); tasks start together and really overlap: the pool gives
PostgreSQL up to 20 concurrent transactions, SQLite serialises writers with ``BEGIN IMMEDIATE``.

Negative controls show the tests can fail: on PostgreSQL without the row locks (voter row and log
head), on SQLite with deferred transactions instead of ``BEGIN IMMEDIATE``; each time the same
scenario then loses or refuses casts, or leaves a log that disagrees with the stored ballots. Every
scenario has one (100 × 5 casts, one code redeemed 20 times, ten ballots of one voter, the race with
the close). For the 20 redemptions the control also removes what makes one code one voter: the
UNIQUE constraints on ``voters`` (PostgreSQL; measured: one code became 3 voters) with a
check-then-insert redemption; SQLite cannot drop a table's constraint, so there the control is
the deferred transaction (measured: "database is locked").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from burgerbegroting import db
from burgerbegroting.db import create_engine
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting import casting, context, voters
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import log as log_mod
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.models import BallotLog, Voter
from tests.proposals.factories import run
from tests.voting.factories import issue_codes, open_round, scalar
from tests.voting.replay import ReplayError, replay


async def _redeem_all(settings: Settings, codes: list[str]) -> list[voter_tokens.VoterToken]:
    engine = create_engine(settings.database_url)
    tokens: list[voter_tokens.VoterToken] = []
    try:
        for i, code in enumerate(codes):
            async with AsyncSession(engine, expire_on_commit=False) as session:
                tokens.append(
                    await voters.redeem_code(session, settings, code=code, client_ip=f"test-{i}")
                )
                await session.commit()
    finally:
        await engine.dispose()
    return tokens


async def _cast(
    engine: AsyncEngine,
    settings: Settings,
    token: voter_tokens.VoterToken,
    raw: dict[str, Any],
    *,
    lock: bool = True,
) -> str:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        ctx = await context.voter_context(session, token, token.round_id, lock=lock)
        result = await casting.cast(session, settings, ctx, raw)
        await session.commit()
        return result.receipt


async def _gather(
    jobs: list[Callable[[], Awaitable[str]]],
) -> tuple[list[str], list[BaseException]]:
    start = asyncio.Event()

    async def run(job: Callable[[], Awaitable[str]]) -> str:
        await start.wait()
        return await job()

    tasks = [asyncio.create_task(run(job)) for job in jobs]
    await asyncio.sleep(0)
    start.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    ok = [o for o in outcomes if isinstance(o, str)]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    return ok, errors


async def _unlocked_head(session: AsyncSession, round_id: int) -> BallotLog | None:
    # The log head without FOR UPDATE: what lock_head would be with its lock removed.
    result = await session.execute(
        select(BallotLog)
        .where(BallotLog.round_id == round_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def _unlocked_head_for_casts(
    session: AsyncSession, round_id: int
) -> tuple[BallotLog | None, datetime | None]:
    # What lock_head_for_casts (the cast writer's) would be with its lock removed.
    head = await _unlocked_head(session, round_id)
    ends_at = (
        await session.execute(select(Round.closed_starts_at).where(Round.id == round_id))
    ).scalar_one_or_none()
    return head, ends_at


def remove_head_lock(
    monkeypatch: pytest.MonkeyPatch,
    unlocked: Callable[[AsyncSession, int], Awaitable[BallotLog | None]] = _unlocked_head,
) -> None:
    """Take FOR UPDATE off both ways of locking the log head: ``lock_head`` (close, roll events)
    and ``lock_head_for_casts`` (the cast writer, which reads the scheduled end with it)."""

    async def for_casts(
        session: AsyncSession, round_id: int
    ) -> tuple[BallotLog | None, datetime | None]:
        _head, ends_at = await _unlocked_head_for_casts(session, round_id)
        return await unlocked(session, round_id), ends_at

    monkeypatch.setattr(log_mod, "lock_head", unlocked)
    monkeypatch.setattr(log_mod, "lock_head_for_casts", for_casts)


def _locks_removed(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AbstractContextManager[None]:
    """Remove the serialisation the cast relies on: the row locks on PostgreSQL, ``BEGIN
    IMMEDIATE`` on SQLite (transactions begin deferred, as Python's driver would)."""
    remove_head_lock(monkeypatch)
    if db.is_sqlite(settings.database_url):
        return db.read_only()
    return nullcontext()


def _many_voters(
    settings: Settings,
    *,
    voters: int,
    casts_each: int,
    locked: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Any, list[str], list[BaseException]]:
    vr = open_round(settings, costs=(3_000_000, 3_000_000, 2_000_000, 2_000_000, 1_000_000))
    codes = issue_codes(settings, vr, voters)
    tokens = asyncio.run(_redeem_all(settings, codes))
    choices = [[p] for p in vr.projects] + [vr.projects[:2], vr.projects[2:]]

    async def main() -> tuple[list[str], list[BaseException]]:
        engine = create_engine(settings.database_url)
        try:
            n = len(choices)
            jobs = [
                (
                    lambda t=t, c=choices[(i + j) % n]: _cast(
                        engine, settings, t, {"projects": c}, lock=locked
                    )
                )
                for i, t in enumerate(tokens)
                for j in range(casts_each)
            ]
            context = nullcontext() if locked else _locks_removed(monkeypatch, settings)
            with context:
                return await _gather(jobs)
        finally:
            await engine.dispose()

    ok, errors = asyncio.run(main())
    return vr, ok, errors


def test_100_voters_5_simultaneous_casts_each(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    vr, ok, errors = _many_voters(
        settings, voters=100, casts_each=5, locked=True, monkeypatch=monkeypatch
    )
    assert errors == []
    assert len(ok) == 500
    result = replay(settings, vr.round_id)
    assert len(result.current_in_db) == 100
    assert set(ok) <= result.receipts  # every acknowledged receipt is in the log
    assert (
        scalar(settings, "SELECT count(*) FROM voters WHERE current_ballot_id IS NOT NULL") == 100
    )
    assert scalar(settings, "SELECT count(*) FROM ballots") == 500


def test_negative_control_without_locks_casts_are_lost_or_the_log_disagrees(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    vr, _ok, errors = _many_voters(
        settings, voters=30, casts_each=5, locked=False, monkeypatch=monkeypatch
    )
    try:
        replay(settings, vr.round_id)
        consistent = True
    except ReplayError:
        consistent = False
    # Without the locks, concurrent casts collide: refused ("database is locked", a duplicate log
    # height or a supersession clash) or, worse, stored with a log that no longer replays.
    # Measured: SQLite 134 of 150 casts refused ("database is locked"), PostgreSQL 138 of 150
    # (a duplicate log height or supersession); without the refusals the log would not replay.
    assert errors or not consistent, "the race was not observed: the test could not fail"


async def _close(engine: AsyncEngine, round_id: int, admin_id: int) -> str:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await rounds.move_phase(session, round_id, Phase.CLOSED, actor_id=admin_id, reason="test")
        await session.commit()
        return "closed"


def _race_the_close(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, *, locked: bool
) -> tuple[Any, list[str], list[BaseException]]:
    vr = open_round(settings, costs=(3_000_000, 2_000_000))
    codes = issue_codes(settings, vr, 40)
    tokens = asyncio.run(_redeem_all(settings, codes))

    async def main() -> tuple[list[str], list[BaseException]]:
        engine = create_engine(settings.database_url)
        try:
            jobs: list[Callable[[], Awaitable[str]]] = [
                (
                    lambda t=t: _cast(
                        engine, settings, t, {"projects": [vr.projects[0]]}, lock=locked
                    )
                )
                for t in tokens
            ]
            jobs.insert(20, lambda: _close(engine, vr.round_id, vr.admin_id))
            context = nullcontext() if locked else _locks_removed(monkeypatch, settings)
            with context:
                return await _gather(jobs)
        finally:
            await engine.dispose()

    ok, errors = asyncio.run(main())
    return vr, ok, errors


def _close_race_problems(
    settings: Settings, vr: Any, ok: list[str], errors: list[BaseException]
) -> list[str]:
    """What the close race must not show: empty when every cast either made it before the end
    event or was refused as "voting closed", the log replays, and the count took exactly the
    acknowledged ballots."""
    problems: list[str] = []
    if "closed" not in ok:
        return [f"the close failed: {errors}"]
    receipts = [r for r in ok if r != "closed"]
    refused = [e for e in errors if not getattr(e, "message", "").startswith("Het stemmen is gesl")]
    if refused:
        problems.append(f"{len(refused)} casts failed otherwise: {refused[0]!r}")
    try:
        result = replay(settings, vr.round_id)
    except ReplayError as error:
        return [*problems, f"the log does not replay: {error}"]
    if not result.closed:
        problems.append("the log has no end event")
    if set(receipts) != set(result.current_in_db):
        problems.append("acknowledged receipts and current ballots differ")
    counted = scalar(
        settings, "SELECT document FROM round_results WHERE round_id = :r", r=vr.round_id
    )
    if f'"ballots":{len(receipts)}' not in (counted or ""):
        problems.append("the stored outcome did not count exactly the acknowledged ballots")
    return problems


def test_casts_racing_the_close_never_commit_after_the_end_event(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    vr, ok, errors = _race_the_close(settings, monkeypatch, locked=True)
    assert _close_race_problems(settings, vr, ok, errors) == []


def test_negative_control_the_close_race_without_locks_is_seen(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race with the voter and log-head locks removed (on SQLite: deferred transactions
    instead of BEGIN IMMEDIATE): the test above then finds the close itself or casts failing with
    something else than "voting closed" (a duplicate log height on PostgreSQL, "database is
    locked" on SQLite, as measured), or a log or count that disagrees, so it can fail."""
    vr, ok, errors = _race_the_close(settings, monkeypatch, locked=False)
    assert _close_race_problems(settings, vr, ok, errors) != [], "the race was not observed"


def test_a_cast_checked_while_voting_and_written_after_the_close_is_refused(
    settings: Settings,
) -> None:
    """The close race made deterministic, on both databases: a cast whose booth context (phase
    "voting") was read before the close commits, and which reaches the log head after it (a
    batched cast's context is read before its writer locks the head). Here the phase read is
    stale, so only the log head can refuse: the cast must fail as "voting closed", the log must
    end with the end event and the count stay as it was.

    Mutation run: with the log head's close guards removed (the ``closed_at`` / scheduled-end
    check in ``append_casts``, the ``closed_at`` check in ``append_many`` and ``closed_at IS
    NULL`` in the head's conditional UPDATE), the race test above fails on PostgreSQL but passes
    on SQLite (there BEGIN IMMEDIATE puts the phase read after the close); this test fails on
    both. Any one guard left in place refuses the cast."""
    vr = open_round(settings, costs=(3_000_000, 2_000_000))
    (token,) = asyncio.run(_redeem_all(settings, issue_codes(settings, vr, 1)))

    async def main() -> BaseException | None:
        engine = create_engine(settings.database_url)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                stale = await context.voter_context(session, token, vr.round_id, lock=True)
                await session.rollback()
            assert stale.round.phase == Phase.VOTING.value
            await _close(engine, vr.round_id, vr.admin_id)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                try:
                    await casting.cast(session, settings, stale, {"projects": [vr.projects[0]]})
                    await session.commit()
                except Exception as error:  # noqa: BLE001 - the refusal is the expected outcome
                    await session.rollback()
                    return error
            return None
        finally:
            await engine.dispose()

    refused = asyncio.run(main())
    assert refused is not None, "a cast was written after the end event"
    assert getattr(refused, "message", "").startswith("Het stemmen is gesloten"), repr(refused)
    result = replay(settings, vr.round_id)
    assert result.closed
    assert result.current_in_db == {}
    kinds = scalar(
        settings,
        "SELECT kind FROM log_events WHERE round_id = :r ORDER BY height DESC LIMIT 1",
        r=vr.round_id,
    )
    assert kinds == "end"
    counted = scalar(
        settings, "SELECT document FROM round_results WHERE round_id = :r", r=vr.round_id
    )
    assert '"ballots":0' in counted


async def _naive_voter_for_code(
    session: AsyncSession, settings: Settings, code_row: Any, batch: Any
) -> Voter:
    """What ``voters.voter_for_code`` would be without the constraint it relies on: look the
    voter up, and insert one when there is none (check, then act)."""
    key = codes_mod.voter_key_for_code(settings, code_row.code_hash)
    query = select(Voter).where(Voter.round_id == code_row.round_id, Voter.voter_key == key)
    found = (await session.execute(query.limit(1))).scalars().first()
    if found is not None:
        return found
    await asyncio.sleep(0.01)  # the other redemptions run meanwhile, as on a busy server
    voter = Voter(
        round_id=code_row.round_id,
        voter_key=key,
        method="code",
        code_id=code_row.id,
        district_id=code_row.district_id,
        age_band=batch.age_band,
        verified=True,
    )
    session.add(voter)
    await session.flush()
    return voter


def _without_one_voter_per_code(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AbstractContextManager[None]:
    """Remove what makes one code one voter: the UNIQUE constraints on ``voters`` (PostgreSQL;
    SQLite cannot drop a table's constraint, so there its ``BEGIN IMMEDIATE`` goes instead) and
    the conflict-free insert, replaced by check-then-insert."""
    monkeypatch.setattr(voters, "voter_for_code", _naive_voter_for_code)
    if db.is_sqlite(settings.database_url):
        return _locks_removed(monkeypatch, settings)

    async def drop(session: AsyncSession) -> None:
        for name in ("uq_voters_round_id_voter_key", "uq_voters_code_id"):
            await session.execute(text(f"ALTER TABLE voters DROP CONSTRAINT {name}"))
        await session.commit()

    run(settings, drop)
    return _locks_removed(monkeypatch, settings)


def _redeem_twenty_and_cast(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, *, guarded: bool
) -> tuple[Any, list[voter_tokens.VoterToken], list[str], list[BaseException]]:
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    context = nullcontext() if guarded else _without_one_voter_per_code(settings, monkeypatch)

    async def main() -> tuple[list[voter_tokens.VoterToken], list[str], list[BaseException]]:
        engine = create_engine(settings.database_url)
        try:

            async def redeem(i: int) -> voter_tokens.VoterToken:
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    token = await voters.redeem_code(
                        session, settings, code=code, client_ip=f"ip-{i}"
                    )
                    await session.commit()
                    return token

            with context:
                redeemed = await asyncio.gather(
                    *(redeem(i) for i in range(20)), return_exceptions=True
                )
                tokens = [t for t in redeemed if isinstance(t, voter_tokens.VoterToken)]
                failed = [e for e in redeemed if isinstance(e, BaseException)]
                jobs = [
                    (
                        lambda t=t, i=i: _cast(
                            engine, settings, t, {"projects": [vr.projects[i % 4]]}, lock=guarded
                        )
                    )
                    for i, t in enumerate(tokens)
                ]
                ok, errors = await _gather(jobs)
            return tokens, ok, failed + errors
        finally:
            await engine.dispose()

    tokens, ok, errors = asyncio.run(main())
    return vr, tokens, ok, errors


def _one_code_problems(
    settings: Settings,
    vr: Any,
    tokens: list[voter_tokens.VoterToken],
    ok: list[str],
    errors: list[BaseException],
) -> list[str]:
    problems: list[str] = []
    if errors:
        problems.append(f"{len(errors)} redemptions or casts failed: {errors[0]!r}")
    if len({t.jti for t in tokens}) != 20:
        problems.append(f"{len({t.jti for t in tokens})} sessions, not 20")
    if len({t.voter_id for t in tokens}) != 1:
        problems.append(f"one code became {len({t.voter_id for t in tokens})} voters")
    if len(ok) != 20:
        problems.append(f"{len(ok)} casts acknowledged, not 20")
    try:
        result = replay(settings, vr.round_id)
    except ReplayError as error:
        return [*problems, f"the log does not replay: {error}"]
    if len(result.current_in_db) != 1:
        problems.append(f"{len(result.current_in_db)} current ballots for one code")
    return problems


def test_one_code_redeemed_20_times_at_once_still_one_current_ballot(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    vr, tokens, ok, errors = _redeem_twenty_and_cast(settings, monkeypatch, guarded=True)
    assert _one_code_problems(settings, vr, tokens, ok, errors) == []


def test_negative_control_one_code_without_its_constraints_becomes_several_voters(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``UNIQUE(round_id, voter_key)`` and ``UNIQUE(code_id)`` (PostgreSQL) or without
    ``BEGIN IMMEDIATE`` (SQLite), a check-then-insert redemption and unlocked casts: the test above
    then sees several voters (and current ballots) for one code, or failures."""
    vr, tokens, ok, errors = _redeem_twenty_and_cast(settings, monkeypatch, guarded=False)
    problems = _one_code_problems(settings, vr, tokens, ok, errors)
    assert problems != [], "the race was not observed"


def _ten_ballots_of_one_voter(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, *, locked: bool
) -> tuple[Any, list[list[int]], list[str], list[BaseException]]:
    """One voter sends ten ballots of € 60.000 at once against a budget of € 100.000 (three
    different ones, so two of them together would be € 120.000)."""
    vr = open_round(settings, costs=(6_000_000, 4_000_000, 2_000_000, 3_000_000, 3_000_000))
    [code] = issue_codes(settings, vr, 1)
    [token] = asyncio.run(_redeem_all(settings, [code]))
    p = vr.projects
    ballots = [[p[0]], [p[1], p[2]], [p[3], p[4]]]
    assert all(sum(vr.costs[i] for i in b) == 6_000_000 for b in ballots)

    async def main() -> tuple[list[str], list[BaseException]]:
        engine = create_engine(settings.database_url)
        try:
            jobs = [
                (
                    lambda c=ballots[i % 3]: _cast(
                        engine, settings, token, {"projects": c}, lock=locked
                    )
                )
                for i in range(10)
            ]
            context = nullcontext() if locked else _locks_removed(monkeypatch, settings)
            with context:
                return await _gather(jobs)
        finally:
            await engine.dispose()

    ok, errors = asyncio.run(main())
    return vr, ballots, ok, errors


def _one_voter_problems(
    settings: Settings,
    vr: Any,
    ballots: list[list[int]],
    ok: list[str],
    errors: list[BaseException],
) -> list[str]:
    problems: list[str] = []
    if errors:
        problems.append(f"{len(errors)} casts failed: {errors[0]!r}")
    try:
        result = replay(settings, vr.round_id)
    except ReplayError as error:
        return [*problems, f"the log does not replay: {error}"]
    if len(result.current_in_db) != 1:
        problems.append(f"{len(result.current_in_db)} current ballots")
        return problems
    [(receipt, content)] = result.current_in_db.items()
    if receipt not in ok:
        problems.append("the current ballot was never acknowledged")
    if sorted(content["projects"]) not in [sorted(b) for b in ballots]:
        problems.append(f"the current ballot {content} is none of those sent")
    if sum(vr.costs[pid] for pid in content["projects"]) > 10_000_000:
        problems.append("the current ballot is over budget")
    # Every acknowledged cast is stored once and the chain of supersessions is one line: the
    # current ballot is the last ballot event of this voter in the log.
    if scalar(settings, "SELECT count(*) FROM ballots") != len(ok):
        problems.append("stored ballots and acknowledged casts differ")
    last = scalar(settings, "SELECT receipt FROM ballots ORDER BY event_height DESC LIMIT 1")
    if last != receipt:
        problems.append("the current ballot is not the voter's last cast")
    return problems


def test_ten_simultaneous_60k_ballots_against_100k_leave_one_that_fits(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    vr, ballots, ok, errors = _ten_ballots_of_one_voter(settings, monkeypatch, locked=True)
    assert len(ok) == 10
    assert _one_voter_problems(settings, vr, ballots, ok, errors) == []


def test_negative_control_ten_ballots_of_one_voter_without_locks_are_seen(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the voter-row and log-head locks (on SQLite: deferred transactions), two of the
    voter's casts read the same current ballot: both supersede it (refused by the UNIQUE
    ``supersedes_id``, or the log forks), or they fail with "database is locked"."""
    vr, ballots, ok, errors = _ten_ballots_of_one_voter(settings, monkeypatch, locked=False)
    assert _one_voter_problems(settings, vr, ballots, ok, errors) != [], "the race was not observed"
