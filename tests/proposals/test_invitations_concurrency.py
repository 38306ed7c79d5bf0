"""One pending invitation per address per proposal, under simultaneous requests, on both databases.

As in ``test_supports_concurrency.py``: each worker is its own thread with its own event loop,
engine and connection, and commits for real. The service has *no* application check for a
duplicate pending invitation: the partial UNIQUE index ``uq_proposal_invitations_pending_email``
decides. The negative control drops that index in the test's own database and shows that the same
two requests then store two rows (on SQLite as well: the proposal's row lock / BEGIN IMMEDIATE only
serialises the two requests, and without the index the second insert simply succeeds).
"""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.db import create_engine
from burgerbegroting.errors import Conflict
from burgerbegroting.proposals import invitations
from burgerbegroting.settings import Settings
from tests.proposals.factories import create_proposal, make_people, make_round, run, scalar

INVITEE = "carla@example.nl"


def _seed(settings: Settings) -> tuple[int, int]:
    from litestar.testing import TestClient

    people = make_people(settings)
    ids = make_round(settings)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        proposal = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    return proposal["id"], people.resident


def _author(user_id: int) -> CurrentUser:
    return CurrentUser(
        id=user_id,
        email="anna@example.nl",
        display_name="Anna de Vries",
        roles=frozenset({Role.RESIDENT}),
    )


def _race(settings: Settings, proposal_id: int, user_id: int) -> list[object]:
    """Two workers invite the same address to the same proposal at the same moment."""
    barrier = threading.Barrier(2, timeout=30)
    results: list[object] = []
    lock = threading.Lock()

    async def attempt() -> object:
        engine = create_engine(settings.database_url)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                barrier.wait()
                invitation, _mail = await invitations.invite(
                    session,
                    settings,
                    proposal_id=proposal_id,
                    user=_author(user_id),
                    email=INVITEE,
                )
                await session.commit()
                return invitation.id
        finally:
            await engine.dispose()

    def worker() -> None:
        try:
            outcome: object = asyncio.run(attempt())
        except Exception as exc:  # noqa: BLE001 - reported to the test, which checks it
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _pending(settings: Settings, proposal_id: int) -> int:
    return int(
        scalar(
            settings,
            "SELECT count(*) FROM proposal_invitations "
            "WHERE proposal_id = :p AND email = :e AND status = 'pending'",
            p=proposal_id,
            e=INVITEE,
        )
    )


def test_simultaneous_invitations_of_one_address_store_one_row(settings: Settings) -> None:
    proposal_id, user_id = _seed(settings)
    results = _race(settings, proposal_id, user_id)
    assert len(results) == 2
    conflicts = [r for r in results if isinstance(r, Conflict)]
    stored = [r for r in results if isinstance(r, int)]
    assert len(stored) == 1, results  # no other exception (no 5xx) escaped
    assert len(conflicts) == 1, results
    assert "uitnodiging open" in conflicts[0].message
    assert _pending(settings, proposal_id) == 1


def _drop_unique_index(settings: Settings) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(text("DROP INDEX uq_proposal_invitations_pending_email"))

    run(settings, work)


def test_without_the_unique_index_the_same_race_stores_duplicates(settings: Settings) -> None:
    """Negative control: nothing but the index stops the second invitation."""
    proposal_id, user_id = _seed(settings)
    _drop_unique_index(settings)
    results = _race(settings, proposal_id, user_id)
    assert all(isinstance(r, int) for r in results), results
    assert _pending(settings, proposal_id) == 2


def test_an_answered_invitation_does_not_block_a_new_one(settings: Settings) -> None:
    """The index is partial: only *pending* rows clash."""
    proposal_id, user_id = _seed(settings)

    async def invite_twice(session: AsyncSession) -> None:
        first, _mail = await invitations.invite(
            session, settings, proposal_id=proposal_id, user=_author(user_id), email=INVITEE
        )
        first.status = "declined"
        await session.flush()
        await invitations.invite(
            session, settings, proposal_id=proposal_id, user=_author(user_id), email=INVITEE
        )

    run(settings, invite_twice)
    assert _pending(settings, proposal_id) == 1
    assert (
        scalar(settings, "SELECT count(*) FROM proposal_invitations WHERE email = :e", e=INVITEE)
        == 2
    )
