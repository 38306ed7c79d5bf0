"""Group commit of online casts (voting/batching.py), on SQLite and PostgreSQL.

Two ``CastBatcher``s with their own engines stand for two worker processes: each request checks
its ballot in a read-only session of its own and submits it; the batchers write what waited,
each batch in one transaction. The same integrity checks as for single casts (test_concurrency.py)
apply, each with its negative control: without the log-head lock (and, on SQLite, with deferred
instead of immediate write transactions) the same scenario refuses casts or leaves a log that does
not replay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from burgerbegroting import db
from burgerbegroting.app import create_app
from burgerbegroting.db import create_engine
from burgerbegroting.errors import DomainError
from burgerbegroting.settings import Settings
from burgerbegroting.voting import batching, casting, context
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.batching import CastBatcher
from burgerbegroting.voting.models import BallotLog
from tests.voting.factories import issue_codes, open_round, scalar
from tests.voting.replay import ReplayError, replay
from tests.voting.test_concurrency import (
    _close,
    _gather,
    _redeem_all,
    _unlocked_head,
    remove_head_lock,
)


async def _prepare(
    engine: AsyncEngine,
    settings: Settings,
    token: voter_tokens.VoterToken,
    raw: dict[str, Any],
    idempotency_key: str | None = None,
) -> casting.PreparedCast | casting.CastResult:
    # As the controller does: a read-only transaction, ended before the cast waits for its writer.
    with db.read_only():
        async with AsyncSession(engine, expire_on_commit=False) as session:
            ctx = await context.voter_context(session, token, token.round_id, lock=False)
            prepared = await casting.prepare_cast(
                session, settings, ctx, raw, idempotency_key=idempotency_key
            )
            await session.commit()
            return prepared


async def _batched_cast(
    engine: AsyncEngine,
    batcher: CastBatcher,
    settings: Settings,
    token: voter_tokens.VoterToken,
    raw: dict[str, Any],
    idempotency_key: str | None = None,
) -> str:
    prepared = await _prepare(engine, settings, token, raw, idempotency_key)
    assert isinstance(prepared, casting.PreparedCast)
    return (await batcher.submit(prepared)).receipt


def _record_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = casting.append_casts

    async def recording(
        session: AsyncSession,
        round_id: int,
        casts: Sequence[casting.PreparedCast],
        *,
        lock_voters: bool,
    ) -> list[casting.CastResult | Any]:
        sizes.append(len(casts))
        return await real(session, round_id, casts, lock_voters=lock_voters)

    monkeypatch.setattr(casting, "append_casts", recording)
    return sizes


def _two_workers(
    settings: Settings,
    jobs_for: Callable[[list[tuple[AsyncEngine, CastBatcher]]], list[Callable[[], Awaitable[str]]]],
) -> tuple[list[str], list[BaseException]]:
    async def main() -> tuple[list[str], list[BaseException]]:
        engines = [create_engine(settings.database_url) for _ in range(2)]
        try:
            workers = [
                (e, CastBatcher(async_sessionmaker(e, expire_on_commit=False))) for e in engines
            ]
            return await _gather(jobs_for(workers))
        finally:
            for engine in engines:
                await engine.dispose()

    return asyncio.run(main())


def _many_voters(
    settings: Settings,
    *,
    voters: int,
    casts_each: int,
    before_casting: Callable[[], None] | None = None,
) -> tuple[Any, list[str], list[BaseException]]:
    """``voters`` voters cast ``casts_each`` times each, spread over two batching workers;
    ``before_casting`` runs once the round is open and the codes redeemed."""
    vr = open_round(settings, costs=(3_000_000, 3_000_000, 2_000_000, 2_000_000, 1_000_000))
    tokens = asyncio.run(_redeem_all(settings, issue_codes(settings, vr, voters)))
    if before_casting is not None:
        before_casting()
    choices = [[p] for p in vr.projects] + [vr.projects[:2], vr.projects[2:]]

    def jobs(
        workers: list[tuple[AsyncEngine, CastBatcher]],
    ) -> list[Callable[[], Awaitable[str]]]:
        n = len(choices)
        return [
            (
                lambda t=t, c=choices[(i + j) % n], w=workers[(i + j) % 2]: _batched_cast(
                    w[0], w[1], settings, t, {"projects": c}
                )
            )
            for i, t in enumerate(tokens)
            for j in range(casts_each)
        ]

    ok, errors = _two_workers(settings, jobs)
    return vr, ok, errors


def test_two_batching_workers_100_voters_5_simultaneous_casts_each(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _record_batches(monkeypatch)
    vr, ok, errors = _many_voters(settings, voters=100, casts_each=5)
    assert errors == []
    assert len(ok) == 500
    # The casts were really written in batches (else this tests single casts again).
    assert max(sizes) > 1
    assert sum(sizes) == 500
    result = replay(settings, vr.round_id)
    assert len(result.current_in_db) == 100
    assert set(ok) <= result.receipts  # every acknowledged receipt is in the log
    assert (
        scalar(settings, "SELECT count(*) FROM voters WHERE current_ballot_id IS NOT NULL") == 100
    )
    assert scalar(settings, "SELECT count(*) FROM ballots") == 500


def test_negative_control_batching_without_the_head_lock_refuses_or_breaks_the_log(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the head lock two writers append at the same height: the loser's batch is refused
    (a duplicate log height, or the head moved under it) and written again cast by cast, or its
    casts fail. The test above rules out all of these (no error, a log that replays, and every
    cast written exactly once: ``sum(sizes) == 500``), so it fails without the lock."""
    sizes = _record_batches(monkeypatch)
    reads = 0
    both_read: asyncio.Event | None = None

    async def unlocked_head(session: AsyncSession, round_id: int) -> BallotLog | None:
        # The head without its lock. The first two reads (one by each worker's writer: a writer
        # reads the head once per batch, and waits here) wait for each other, so that both writers
        # certainly hold the same head once; on a busy machine a pause alone did not always make
        # them overlap. Later reads pause a moment, so that they may overlap again.
        nonlocal reads, both_read
        head = await _unlocked_head(session, round_id)
        reads += 1
        if both_read is None:
            both_read = asyncio.Event()
        if reads == 2:
            both_read.set()
        if reads <= 2:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both_read.wait(), 10)
        else:
            await asyncio.sleep(0.02)
        return head

    if db.is_sqlite(settings.database_url):
        # Writers begin deferred, as Python's driver would, instead of BEGIN IMMEDIATE; and wait
        # half a second, not 30, for a lock (every cast of a failed batch is retried alone, and
        # without the serialisation most of them fail again after waiting).
        deferred = db.set_read_only
        monkeypatch.setattr(batching.db, "set_read_only", lambda _value: deferred(True))
        monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 500)
    # The lock comes off once the round is open and the codes redeemed: only the two writers read
    # the head from then on.
    vr, _ok, errors = _many_voters(
        settings,
        voters=20,
        casts_each=5,
        before_casting=lambda: remove_head_lock(monkeypatch, unlocked_head),
    )
    assert reads >= 2
    try:
        replay(settings, vr.round_id)
        consistent = True
    except ReplayError:
        consistent = False
    written_again = sum(sizes) != 100
    assert errors or not consistent or written_again, "the race was not observed"


def test_batched_casts_racing_the_close_never_commit_after_the_end_event(
    settings: Settings,
) -> None:
    vr = open_round(settings, costs=(3_000_000, 2_000_000))
    tokens = asyncio.run(_redeem_all(settings, issue_codes(settings, vr, 40)))

    def jobs(
        workers: list[tuple[AsyncEngine, CastBatcher]],
    ) -> list[Callable[[], Awaitable[str]]]:
        casts: list[Callable[[], Awaitable[str]]] = [
            (
                lambda t=t, w=workers[i % 2]: _batched_cast(
                    w[0], w[1], settings, t, {"projects": [vr.projects[0]]}
                )
            )
            for i, t in enumerate(tokens)
        ]
        casts.insert(20, lambda: _close(workers[0][0], vr.round_id, vr.admin_id))
        return casts

    ok, errors = _two_workers(settings, jobs)
    assert "closed" in ok, errors
    receipts = [r for r in ok if r != "closed"]
    # A cast either made it before the end event or was refused: closed, or (checked before the
    # close, then found the round closed) not open any more.
    assert all(isinstance(e, DomainError) for e in errors), errors
    result = replay(settings, vr.round_id)
    assert result.closed
    assert set(receipts) == set(result.current_in_db)
    counted = scalar(
        settings, "SELECT document FROM round_results WHERE round_id = :r", r=vr.round_id
    )
    assert f'"ballots":{len(receipts)}' in counted


def test_one_voter_casting_ten_times_at_once_through_one_writer_keeps_one_current_ballot(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = _record_batches(monkeypatch)
    vr = open_round(settings)
    [token] = asyncio.run(_redeem_all(settings, issue_codes(settings, vr, 1)))

    def jobs(
        workers: list[tuple[AsyncEngine, CastBatcher]],
    ) -> list[Callable[[], Awaitable[str]]]:
        engine, batcher = workers[0]
        return [
            (
                lambda i=i: _batched_cast(
                    engine, batcher, settings, token, {"projects": [vr.projects[i % 4]]}
                )
            )
            for i in range(10)
        ]

    ok, errors = _two_workers(settings, jobs)
    assert errors == []
    assert len(set(ok)) == 10
    # One cast per voter per batch: the ten went in ten batches, each replacing the one before.
    assert sizes == [1] * 10
    result = replay(settings, vr.round_id)
    assert len(result.current_in_db) == 1
    assert scalar(settings, "SELECT count(*) FROM ballots WHERE supersedes_id IS NOT NULL") == 9


def test_one_failing_cast_does_not_take_its_batch_down(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of nine where one cast breaks a constraint (here: an election that does not
    exist) fails as a whole, and is written again cast by cast: the eight others succeed, the one
    is refused, and the log holds exactly the eight."""
    sizes = _record_batches(monkeypatch)
    vr = open_round(settings)
    tokens = asyncio.run(_redeem_all(settings, issue_codes(settings, vr, 9)))

    async def main() -> tuple[list[str], list[BaseException]]:
        engine = create_engine(settings.database_url)
        try:
            batcher = CastBatcher(async_sessionmaker(engine, expire_on_commit=False))
            # Prepared first, so all nine wait together for one writer.
            casts = []
            for t in tokens:
                prepared = await _prepare(engine, settings, t, {"projects": [vr.projects[0]]})
                assert isinstance(prepared, casting.PreparedCast)
                casts.append(prepared)
            casts[4] = replace(casts[4], election_key=db.MAX_ID)
            outcomes = await asyncio.gather(
                *(batcher.submit(c) for c in casts), return_exceptions=True
            )
            ok = [o.receipt for o in outcomes if isinstance(o, casting.CastResult)]
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            return ok, errors
        finally:
            await engine.dispose()

    ok, errors = asyncio.run(main())
    assert len(ok) == 8
    assert len(errors) == 1
    assert isinstance(errors[0], IntegrityError)
    assert sizes == [9] + [1] * 9
    result = replay(settings, vr.round_id)
    assert set(ok) == set(result.current_in_db)
    assert scalar(settings, "SELECT count(*) FROM ballots") == 8


def _put_at_once(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    round_id: int,
    ballots: list[dict[str, Any]],
) -> tuple[list[httpx.Response], list[casting.PreparedCast]]:
    """``PUT /ballot`` once per ballot, all at once, in one voter session with one
    ``Idempotency-Key``. Every request waits for the others before handing its cast to the round's
    writer, so all were checked before any was written. The answers, and the casts submitted."""
    submitted: list[casting.PreparedCast] = []
    all_submitted = asyncio.Event()
    real_submit = CastBatcher.submit

    async def submit_together(self: CastBatcher, cast: casting.PreparedCast) -> Any:
        submitted.append(cast)
        if len(submitted) == len(ballots):
            all_submitted.set()
        await asyncio.wait_for(all_submitted.wait(), timeout=30)
        return await real_submit(self, cast)

    monkeypatch.setattr(CastBatcher, "submit", submit_together)

    async def main() -> list[httpx.Response]:
        # httpx's ASGI transport runs the requests at once in this loop (Litestar's test clients
        # run one request at a time).
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client,
        ):
            redeemed = await client.post("/api/v1/auth/code", json={"code": code})
            assert redeemed.status_code == 200, redeemed.text
            headers = {
                "Authorization": f"Bearer {redeemed.json()['token']}",
                "Idempotency-Key": "een-klik-meer-verzoeken",
            }
            return list(
                await asyncio.gather(
                    *(
                        client.put(f"/api/v1/rounds/{round_id}/ballot", json=b, headers=headers)
                        for b in ballots
                    )
                )
            )

    return asyncio.run(main()), submitted


def test_one_idempotency_key_sent_four_times_at_once_over_http_casts_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four ``PUT /ballot`` of one voter session with one ``Idempotency-Key``, all checked before
    any is written: the first is written, the others break the key's unique constraint in batches
    of their own and are answered with the first's receipt (``_submit`` in
    voting/controllers.py). Without that handling they end in a 500."""
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    ballot = {"projects": [vr.projects[0]]}
    responses, submitted = _put_at_once(settings, monkeypatch, code, vr.round_id, [ballot] * 4)
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    # The race really happened: all four were checked and went to the writer.
    assert len(submitted) == 4
    assert len({c.idempotency_hash for c in submitted}) == 1
    receipts = {r.json()["receipt"] for r in responses}
    assert len(receipts) == 1
    assert all(r.json()["ballot"] == ballot for r in responses)
    assert all(r.json()["supersedes"] is None for r in responses)
    assert scalar(settings, "SELECT count(*) FROM ballots") == 1
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'ballot'") == 1
    result = replay(settings, vr.round_id)
    assert result.receipts == receipts
    assert set(result.current_in_db) == receipts


def test_one_idempotency_key_with_two_ballots_at_once_stores_one_and_refuses_the_other(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of the race carried another ballot: it is refused (422, in Dutch), not told that
    the winner's receipt is its own."""
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    ballots = [{"projects": [vr.projects[0]]}, {"projects": [vr.projects[1]]}]
    responses, submitted = _put_at_once(settings, monkeypatch, code, vr.round_id, ballots)
    assert len(submitted) == 2
    assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
    [stored] = [r for r in responses if r.status_code == 200]
    [refused] = [r for r in responses if r.status_code == 422]
    assert "al gebruikt voor een andere stem" in refused.json()["detail"]
    result = replay(settings, vr.round_id)
    assert set(result.current_in_db) == {stored.json()["receipt"]}
    assert list(result.current_in_db.values()) == [stored.json()["ballot"]]
    assert scalar(settings, "SELECT count(*) FROM ballots") == 1
