"""Casts checked without reading the database.

Once a worker holds a round's frozen definition, a voter session's cast is checked against it
without a database read (``casting.prepare_session_cast``); the round's writer then checks what
that read would have: the voter belongs to the round and the session's district, the session was
not ended, the code was not revoked, voting is open. Each test first proves that the fast path is
the one taken (the context read is made to fail), then that the writer refuses what it must, with
nothing stored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service as accounts_service
from burgerbegroting.rounds.models import Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting import context
from burgerbegroting.voting import tokens as voter_tokens
from tests.proposals.factories import run
from tests.voting.factories import (
    VotingRound,
    admin_headers,
    close,
    issue_codes,
    open_round,
    redeem,
    scalar,
)


def _stored(settings: Settings) -> tuple[int, int]:
    return (
        scalar(settings, "SELECT count(*) FROM ballots"),
        scalar(settings, "SELECT count(*) FROM log_events"),
    )


@pytest.fixture
def fast(
    client: TestClient[Litestar], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> tuple[VotingRound, list[str], dict[str, str]]:
    """A round this worker knows (one cast read the context), then no context read allowed."""
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 3)
    first = redeem(client, codes[0])
    warm = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[1]]}, headers=first
    )
    assert warm.status_code == 200, warm.text

    async def no_read(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the context was read: the fast path was not taken")

    monkeypatch.setattr(context, "voter_context", no_read)
    return vr, codes, first


def _cast(client: TestClient[Litestar], vr: VotingRound, voter: dict[str, str], i: int = 2) -> int:
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[i]]}, headers=voter
    )
    return response.status_code


def _refused(
    client: TestClient[Litestar],
    settings: Settings,
    vr: VotingRound,
    voter: dict[str, str],
    status: int,
    saying: str = "",
) -> None:
    """A valid ballot from ``voter`` is refused with ``status`` (and a detail ``saying`` so), and
    nothing is stored."""
    before = _stored(settings)
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[2]]}, headers=voter
    )
    assert response.status_code == status, response.text
    assert saying in response.json()["detail"]
    assert _stored(settings) == before


def test_a_known_round_casts_without_reading_the_context(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    vr, codes, first = fast
    before = _stored(settings)
    assert _cast(client, vr, first) == 200  # a recast
    assert _cast(client, vr, redeem(client, codes[1])) == 200  # a new voter
    assert _stored(settings) == (before[0] + 2, before[1] + 2)
    # A ballot breaking a rule is refused before the writer, as on the read path.
    over = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": vr.projects}, headers=first
    )
    assert over.status_code == 422
    assert _stored(settings) == (before[0] + 2, before[1] + 2)


def test_an_ended_session_is_refused_by_the_writer(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    vr, codes, _first = fast
    voter = redeem(client, codes[1])
    token = voter_tokens.read(settings, voter["Authorization"].split()[1])

    async def end(session: AsyncSession) -> None:
        await accounts_service.revoke_tokens(session, [token.jti], token.expires_at)
        await session.commit()

    run(settings, end)
    _refused(client, settings, vr, voter, 401, "beëindigd")


def test_a_code_revoked_after_redemption_is_refused_by_the_writer(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    vr, codes, _first = fast
    voter = redeem(client, codes[1])
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[1], "reason": "brief kwijt"},
        headers=admin_headers(settings, vr),
    )
    assert revoked.status_code == 200
    _refused(client, settings, vr, voter, 401, "ingetrokken")


def test_a_closed_round_is_refused_by_the_writer(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    vr, _codes, first = fast
    close(settings, vr)
    _refused(client, settings, vr, first, 409, "gesloten")


def _set_end(settings: Settings, vr: VotingRound, ends_at: datetime) -> None:
    """Move the round's scheduled end of voting (allowed while voting is open)."""

    async def move(session: AsyncSession) -> None:
        round_ = await session.get(Round, vr.round_id)
        assert round_ is not None
        round_.closed_starts_at = ends_at
        await session.commit()

    run(settings, move)


def test_voting_ends_at_its_scheduled_time_before_the_scheduler_moves_the_phase(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    # The scheduler closes a round on its next tick (up to a minute after the end); until this
    # check, a cast in that minute was stored and counted.
    vr, codes, first = fast
    second = redeem(client, codes[1])
    _set_end(settings, vr, datetime.now(UTC) - timedelta(seconds=1))
    assert scalar(settings, "SELECT phase FROM rounds WHERE id = :r", r=vr.round_id) == "voting"
    _refused(client, settings, vr, first, 409, "gesloten")  # the writer (read-free path)
    _refused(client, settings, vr, second, 409, "gesloten")
    # Moving the end later (allowed while voting is open) opens the writer again.
    _set_end(settings, vr, datetime.now(UTC) + timedelta(hours=1))
    assert _cast(client, vr, first) == 200


def test_the_booth_read_path_refuses_after_the_scheduled_end(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 2)
    voter = redeem(client, codes[0])
    _set_end(settings, vr, datetime.now(UTC) - timedelta(seconds=1))
    # No new session either (reading one's own booth stays allowed, as after a close).
    late = client.post("/api/v1/auth/code", json={"code": codes[1]})
    assert late.status_code == 409, late.text
    assert "gesloten" in late.json()["detail"]
    _refused(client, settings, vr, voter, 409, "gesloten")  # this worker's first cast: read path
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [vr.projects[2]]},
        headers={**voter, "Idempotency-Key": "na-het-einde"},
    )
    assert response.status_code == 409
    assert _stored(settings)[0] == 0


def test_a_session_whose_voter_or_district_does_not_match_is_refused(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    """Signed sessions the server never issued (only a leaked key could make them): a voter of
    another round, and a district the voter does not have. The writer refuses both."""
    vr, _codes, first = fast
    other = open_round(settings, admin_email="ander@example.nl")
    [other_code] = issue_codes(settings, other, 1)
    outsider = voter_tokens.read(settings, redeem(client, other_code)["Authorization"].split()[1])
    mine = voter_tokens.read(settings, first["Authorization"].split()[1])
    forged = [
        # another round's voter, presented for this round
        voter_tokens.issue(
            settings,
            voter_id=outsider.voter_id,
            round_id=vr.round_id,
            district_id=None,
            fingerprint=mine.fingerprint,
        ),
        # this round's voter, with a district it does not have
        voter_tokens.issue(
            settings,
            voter_id=mine.voter_id,
            round_id=vr.round_id,
            district_id=vr.districts[0],
            fingerprint=mine.fingerprint,
        ),
    ]
    for token in forged:
        _refused(client, settings, vr, {"Authorization": f"Bearer {token.encoded}"}, 401, "geldig")


def test_a_worker_keeps_only_a_definition_its_fingerprint_commits_to() -> None:
    text = '{"budget":{"total_cents":100}}'
    honest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    wrong = hashlib.sha256(b"something else").hexdigest()
    assert context._frozen(987_654, wrong, text)[0] == {"budget": {"total_cents": 100}}
    assert (987_654, wrong) not in context._FROZEN  # used once, never kept
    context._frozen(987_654, honest, text)
    assert (987_654, honest) in context._FROZEN


def test_a_session_of_another_round_is_refused_before_the_writer(
    client: TestClient[Litestar],
    settings: Settings,
    fast: tuple[VotingRound, list[str], dict[str, str]],
) -> None:
    vr, _codes, first = fast
    other = open_round(settings, admin_email="ander@example.nl")
    [other_code] = issue_codes(settings, other, 1)
    outsider = redeem(client, other_code)
    _refused(client, settings, vr, outsider, 401, "andere ronde")
    # The other way round as well: this round's session in the other round's booth.
    _refused(client, settings, other, first, 401, "andere ronde")
