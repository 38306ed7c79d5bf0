"""Casting (voting/casting.py) through the API: idempotency keys, the saved draft after a cast."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.settings import Settings
from burgerbegroting.voting import booths, casting, context, voters
from tests.proposals.factories import run
from tests.voting.factories import (
    issue_codes,
    open_round,
    redeem,
    scalar,
)
from tests.voting.replay import replay


def test_an_idempotency_key_makes_a_retry_return_the_first_answer(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    voter = {**redeem(client, code), "Idempotency-Key": "poging-1"}
    first = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[0]]}, headers=voter
    )
    again = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[0]]}, headers=voter
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["receipt"] == again.json()["receipt"]
    assert scalar(settings, "SELECT count(*) FROM ballots") == 1


def test_one_idempotency_key_used_by_two_voters_casts_both_ballots(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A key belongs to one voter: a second voter sending the same key and the same ballot casts
    their own ballot and gets their own receipt, never the first voter's (which would drop their
    vote and hand them a receipt of someone else's ballot)."""
    vr = open_round(settings)
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    receipts = []
    for code in issue_codes(settings, vr, 2):
        voter = {**redeem(client, code), "Idempotency-Key": "stem-1"}
        cast = client.put(url, json={"projects": [vr.projects[0]]}, headers=voter)
        assert cast.status_code == 200, cast.text
        receipts.append(cast.json()["receipt"])
    assert receipts[0] != receipts[1]
    assert scalar(settings, "SELECT count(*) FROM voters WHERE current_ballot_id IS NOT NULL") == 2
    assert len(replay(settings, vr.round_id).current_in_db) == 2


def test_an_idempotency_key_reused_for_another_ballot_is_refused(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A retry must be the same request: answering another ballot with the first one's receipt
    would tell the client its new choice was stored."""
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    voter = {**redeem(client, code), "Idempotency-Key": "poging-1"}
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    first = client.put(url, json={"projects": [vr.projects[0], vr.projects[2]]}, headers=voter)
    assert first.status_code == 200
    other = client.put(url, json={"projects": [vr.projects[1]]}, headers=voter)
    assert other.status_code == 422, other.text
    assert other.json()["detail"].startswith("Deze Idempotency-Key is al gebruikt")
    assert any("Idempotency-Key" in field for field in other.json()["errors"])
    # The same ballot in another order is the same ballot: the first answer again.
    again = client.put(url, json={"projects": [vr.projects[2], vr.projects[0]]}, headers=voter)
    assert again.status_code == 200
    assert again.json()["receipt"] == first.json()["receipt"]
    assert scalar(settings, "SELECT count(*) FROM ballots") == 1
    current = replay(settings, vr.round_id).current_in_db
    assert list(current.values()) == [first.json()["ballot"]]


def test_casting_clears_the_saved_choices_so_the_booth_shows_the_cast_ballot(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Choices saved as a draft, then another ballot cast (from another tab, or the API): the
    booth shows the ballot that counts, not the stale draft."""
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    token = run(
        settings,
        lambda session: voters.redeem_code(session, settings, code=code, client_ip="1.2.3.4"),
    )

    async def draft_then_cast(session: AsyncSession) -> booths.Booth:
        ctx = await context.voter_context(session, token, vr.round_id, lock=True)
        await booths.save_draft(session, ctx, {"projects": [vr.projects[0]]})
        await casting.cast(session, settings, ctx, {"projects": [vr.projects[1]]})
        await session.commit()
        fresh = await context.voter_context(session, token, vr.round_id)
        return await booths.booth(session, fresh)

    booth = run(settings, draft_then_cast)
    assert booth.current == {"projects": [vr.projects[1]]}
    assert booth.draft is None
    assert scalar(settings, "SELECT count(*) FROM voters WHERE draft IS NOT NULL") == 0
