"""One support per resident per proposal, under simultaneous clicks, on SQLite and PostgreSQL.

Every worker is its own thread with its own event loop, engine and connection, and commits for
real: no shared transaction can hide rows (NOTES.md: race tests that cannot fail are common). The
negative control removes the UNIQUE constraint in the test's own database and forces the worst
interleaving (both workers checked "not yet supported" before either inserts), to show that the
constraint, not luck, is what holds.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import ExitStack, nullcontext
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.db import create_engine, is_sqlite, read_only
from burgerbegroting.proposals import service
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer
from tests.proposals.factories import (
    create_proposal,
    make_people,
    make_round,
    run,
    scalar,
)

WORKERS = 6


def _seed(settings: Settings) -> tuple[int, int]:
    """(proposal id, supporter id) for a submitted proposal in a round that collects supports."""
    people = make_people(settings)
    ids = make_round(settings)
    app = create_app(settings)
    with TestClient(app=app, base_url="http://testserver.local") as client:
        proposal = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    return proposal["id"], people.other


def _supporter(user_id: int) -> CurrentUser:
    return CurrentUser(
        id=user_id, email="bram@example.nl", display_name="Bram", roles=frozenset({Role.RESIDENT})
    )


def test_simultaneous_support_requests_store_one_row_and_no_5xx(settings: Settings) -> None:
    proposal_id, user_id = _seed(settings)
    barrier = threading.Barrier(WORKERS)
    statuses: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    headers = bearer(settings, user_id)
    with ExitStack() as stack:
        # A whole app per worker: each TestClient runs its app on its own event loop with its own
        # engine and connection pool. They are started here, one by one, and warmed up with a
        # read, so the threads below only send the racing request (Litestar imports some
        # modules lazily, and concurrent first imports in threads are not safe).
        clients = []
        for _ in range(WORKERS):
            client = stack.enter_context(
                TestClient(app=create_app(settings), base_url="http://testserver.local")
            )
            assert client.get(f"/api/v1/proposals/{proposal_id}").status_code == 200
            clients.append(client)

        def worker(client: TestClient[Litestar]) -> None:
            try:
                barrier.wait(timeout=60)
                response = client.put(f"/api/v1/proposals/{proposal_id}/supports", headers=headers)
                with lock:
                    statuses.append(response.status_code)
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                raise

        threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert failures == []
    assert sorted(statuses) == [200] * WORKERS
    assert (
        scalar(
            settings,
            "SELECT count(*) FROM proposal_supports WHERE proposal_id = :p AND user_id = :u",
            p=proposal_id,
            u=user_id,
        )
        == 1
    )


def _race(settings: Settings, proposal_id: int, user_id: int) -> tuple[list[object], bool]:
    """Two workers, each with its own engine and connection, call ``add_support`` for the same
    pair. Each pauses right after its "already supported?" SELECT until the other one has read too
    (or 3 s passed), so both read "no support yet" before either writes. Returns their results
    (True, False or the exception) and whether the two really met after reading.

    On SQLite both start *deferred* transactions (``read_only()``), so neither holds the write lock
    while it reads; the database-wide lock of ``BEGIN IMMEDIATE`` cannot serialise them. Within one
    deferred transaction SQLite would still refuse the second writer ("database is locked",
    SQLITE_BUSY_SNAPSHOT: its snapshot is older than the first writer's commit), constraint or
    not. So before the write, each worker ends its read transaction and begins an IMMEDIATE one,
    carrying the now stale "not yet" answer into it: the exact situation the UNIQUE constraint is
    there for. On PostgreSQL (READ COMMITTED) the single transaction already behaves like that.
    """
    barrier = threading.Barrier(2, timeout=3)
    met = threading.Event()
    results: list[object] = []
    lock = threading.Lock()
    sqlite = is_sqlite(settings.database_url)

    async def attempt() -> object:
        engine = create_engine(settings.database_url)

        def wait_for_the_other_reader(
            _conn: Any, _cursor: Any, statement: str, *_args: Any
        ) -> None:
            if statement.lstrip().upper().startswith("SELECT PROPOSAL_SUPPORTS.ID"):
                try:
                    barrier.wait()
                    met.set()
                except threading.BrokenBarrierError:
                    pass

        def write_with_the_stale_answer(
            _conn: Any, cursor: Any, statement: str, *_args: Any
        ) -> None:
            # add_support inserts inside a savepoint: swap transactions just before it.
            if statement.lstrip().upper().startswith("SAVEPOINT"):
                cursor.execute("COMMIT")
                cursor.execute("BEGIN IMMEDIATE")

        event.listen(engine.sync_engine, "after_cursor_execute", wait_for_the_other_reader)
        if sqlite:
            event.listen(engine.sync_engine, "before_cursor_execute", write_with_the_stale_answer)
        try:
            with read_only() if sqlite else nullcontext():
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    added = await service.add_support(
                        session, proposal_id=proposal_id, user=_supporter(user_id)
                    )
                    await session.commit()
                    return added
        finally:
            await engine.dispose()

    def worker() -> None:
        try:
            outcome: object = asyncio.run(attempt())
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, met.is_set()


def _count(settings: Settings, proposal_id: int, user_id: int) -> int:
    return int(
        scalar(
            settings,
            "SELECT count(*) FROM proposal_supports WHERE proposal_id = :p AND user_id = :u",
            p=proposal_id,
            u=user_id,
        )
    )


def test_forced_interleaving_is_decided_by_the_unique_constraint(settings: Settings) -> None:
    proposal_id, user_id = _seed(settings)
    results, met = _race(settings, proposal_id, user_id)
    assert sorted(map(repr, results)) == ["False", "True"], results  # no exception escaped
    assert met  # both really read "not yet" before either inserted: the constraint decided
    assert _count(settings, proposal_id, user_id) == 1


def _drop_unique_constraint(settings: Settings) -> None:
    async def work(session: AsyncSession) -> None:
        if is_sqlite(settings.database_url):
            # SQLite cannot drop a constraint: rebuild the table without it.
            await session.execute(
                text(
                    "CREATE TABLE proposal_supports_plain ("
                    "id INTEGER PRIMARY KEY, proposal_id INTEGER NOT NULL, "
                    "user_id INTEGER NOT NULL, created_at DATETIME NOT NULL)"
                )
            )
            await session.execute(text("DROP TABLE proposal_supports"))
            await session.execute(
                text("ALTER TABLE proposal_supports_plain RENAME TO proposal_supports")
            )
        else:
            await session.execute(
                text(
                    "ALTER TABLE proposal_supports "
                    "DROP CONSTRAINT uq_proposal_supports_proposal_id_user_id"
                )
            )

    run(settings, work)


def test_without_the_constraint_the_same_race_stores_duplicates(settings: Settings) -> None:
    """Negative control: the race above is real, and the constraint is what stops it.

    Both workers read "no support yet" before either inserts (on SQLite in deferred transactions,
    so the write lock does not serialise them; see ``_race``), both insert, both succeed.
    """
    proposal_id, user_id = _seed(settings)
    _drop_unique_constraint(settings)
    results, met = _race(settings, proposal_id, user_id)
    assert met
    assert results == [True, True]
    assert _count(settings, proposal_id, user_id) == 2


@pytest.mark.parametrize("times", [2])
def test_unique_constraint_refuses_a_duplicate_row_directly(settings: Settings, times: int) -> None:
    proposal_id, user_id = _seed(settings)

    async def insert(session: AsyncSession) -> None:
        for _ in range(times):
            await session.execute(
                text(
                    "INSERT INTO proposal_supports (proposal_id, user_id, created_at) "
                    "VALUES (:p, :u, CURRENT_TIMESTAMP)"
                ),
                {"p": proposal_id, "u": user_id},
            )

    with pytest.raises(Exception, match=r"(?i)unique"):
        run(settings, insert)
    assert _count(settings, proposal_id, user_id) == 0
