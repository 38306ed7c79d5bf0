"""A failed commit is never answered with success (``web/transactions.py``).

advanced-alchemy's own autocommit handler logs a failed commit at debug level and sends the 2xx
anyway; with it, the first test below gets a 201 for a proposal that is not in the database.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.errors import Conflict
from burgerbegroting.proposals import service
from burgerbegroting.settings import Settings
from tests.proposals.factories import make_people, make_round, table_counts, valid_body

Client = TestClient[Litestar]


def _failing_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    async def commit(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(AsyncSession, "commit", commit)


def test_a_failed_commit_is_a_503_and_nothing_is_stored(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    resident = people.headers(settings, "resident")
    url = f"/api/v1/rounds/{ids.round_id}/proposals"
    with monkeypatch.context() as patched:
        _failing_commit(patched)
        response = client.post(url, json=valid_body(ids, submit=True), headers=resident)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == 503
    assert "niets bewaard" in body["detail"]
    assert "id" not in body  # none of the success answer leaks through
    assert table_counts(settings)["proposals"] == 0
    # The session was rolled back and closed: the next request works as usual.
    assert client.post(url, json=valid_body(ids, submit=True), headers=resident).status_code == 201
    assert table_counts(settings)["proposals"] == 1


def test_a_page_whose_commit_fails_says_so_in_dutch(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        _failing_commit(patched)
        response = client.get("/privacy")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="nl">' in response.text
    assert "niets bewaard" in response.text
    assert "Privacyverklaring" not in response.text
    assert int(response.headers["content-length"]) == len(response.content)


def test_error_answers_roll_back(client: Client, settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    before = table_counts(settings)
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids, submit=True, estimated_cost_cents=-5),
        headers=people.headers(settings, "resident"),
    )
    assert response.status_code == 422
    assert table_counts(settings) == before


def test_a_refusal_after_a_write_rolls_the_write_back(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above refuses before anything is written, so it holds whatever the commit rule;
    here the proposal is flushed first and a refusal (409) follows: nothing may be stored."""
    people = make_people(settings)
    ids = make_round(settings)
    original = service.create_proposal

    async def create_then_refuse(*args: Any, **kwargs: Any) -> Any:
        await original(*args, **kwargs)  # INSERT and flush, in the request's transaction
        raise Conflict("geweigerd na het schrijven")

    monkeypatch.setattr(service, "create_proposal", create_then_refuse)
    before = table_counts(settings)
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids, submit=True),
        headers=people.headers(settings, "resident"),
    )
    assert response.status_code == 409
    assert table_counts(settings) == before


def test_no_export_leaves_without_its_audit_line(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    moderator = people.headers(settings, "moderator")
    url = f"/api/v1/rounds/{ids.round_id}/proposals/export?format=csv"
    with monkeypatch.context() as patched:
        _failing_commit(patched)
        refused = client.get(url, headers=moderator)
    assert refused.status_code == 503
    assert "attachment" not in refused.headers.get("content-disposition", "")
    assert b"Titel" not in refused.content
    assert table_counts(settings)["audit_log"] == 0
    assert client.get(url, headers=moderator).status_code == 200
    assert table_counts(settings)["audit_log"] == 1
