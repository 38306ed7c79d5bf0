"""The public checks (voting/public_checks.py) through the API: the log head and receipt lookups."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.voting.factories import (
    admin_headers,
    issue_codes,
    open_round,
    redeem,
)


def test_the_log_head_exists_only_once_voting_opened(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings, phase=Phase.REVIEW)
    assert client.get(f"/api/v1/rounds/{vr.round_id}/log/head").status_code == 404
    other = open_round(settings, admin_email="b2@example.nl")
    head = client.get(f"/api/v1/rounds/{other.round_id}/log/head").json()
    assert head["height"] == 0
    assert len(head["head"]) == 64


def test_receipt_lookup_says_nothing_for_garbage(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    for receipt in ("AAAA-AAAA-AAAA-AAAA", "x", "A" * 60):
        response = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{receipt}")
        assert response.status_code == 200
        assert response.json() == {"status": "unknown"}
    # A NUL byte in a path is refused before any handler runs.
    assert client.get(f"/api/v1/rounds/{vr.round_id}/receipts/%00").status_code == 400


def test_every_receipt_of_a_voided_voter_says_voided_and_the_schema_lists_the_four_statuses(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A voter votes twice, then their code is revoked and its ballot voided: no ballot of theirs
    counts. The first receipt said "superseded" (the page: "only that later vote counts"); it says
    "voided" now. The API's schema names the four statuses (it said only "string")."""
    vr = open_round(settings)
    code, other = issue_codes(settings, vr, 2)
    voter = redeem(client, code)
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    receipts = [
        client.put(url, json={"projects": [p]}, headers=voter).json()["receipt"]
        for p in vr.projects[:2]
    ]
    third = client.put(url, json={"projects": [vr.projects[2]]}, headers=redeem(client, other))

    def statuses() -> list[str]:
        return [
            client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{r}").json()["status"]
            for r in [*receipts, third.json()["receipt"]]
        ]

    assert statuses() == ["superseded", "counted", "counted"]
    voided = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": code, "reason": "stem onder dwang", "void_ballot": True},
        headers=admin_headers(settings, vr),
    )
    assert voided.json() == {"revoked": True, "ballot_voided": True}
    assert statuses() == ["voided", "voided", "counted"]

    doc = client.get("/schema/openapi.json").json()
    answer = doc["paths"]["/api/v1/rounds/{round_id}/receipts/{receipt}"]["get"]["responses"]
    ref = answer["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert sorted(schema["properties"]["status"]["enum"]) == [
        "counted",
        "superseded",
        "unknown",
        "voided",
    ]
