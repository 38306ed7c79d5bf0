"""The whole chain once, end to end through the API: codes, redeem, cast, recast, receipt, close."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.settings import Settings
from tests.voting.factories import admin_headers, close, open_round, redeem, scalar


def test_codes_booth_receipt_close(client: TestClient[Litestar], settings: Settings) -> None:
    vr = open_round(settings)
    response = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes",
        json={"count": 3, "district_id": None},
        headers=admin_headers(settings, vr),
    )
    assert response.status_code == 201, response.text
    codes = response.json()["codes"]
    assert len(codes) == 3
    voter = redeem(client, codes[0].lower().replace("-", " "))
    booth = client.get(f"/api/v1/rounds/{vr.round_id}/ballot", headers=voter)
    assert booth.status_code == 200, booth.text
    assert [p["id"] for p in booth.json()["projects"]] == vr.projects
    first = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [vr.projects[0], vr.projects[1]]},
        headers=voter,
    )
    assert first.status_code == 200, first.text
    receipt1 = first.json()["receipt"]
    over = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": vr.projects},
        headers=voter,
    )
    assert over.status_code == 422, over.text
    second = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[2]]}, headers=voter
    )
    assert second.status_code == 200
    assert second.json()["supersedes"] == receipt1
    status1 = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{receipt1}").json()
    status2 = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{second.json()['receipt']}").json()
    assert (status1["status"], status2["status"]) == ("superseded", "counted")
    head = client.get(f"/api/v1/rounds/{vr.round_id}/log/head").json()
    assert head["height"] == 3  # genesis 0, roll 1 (codes issued during voting), two casts
    close(settings, vr)
    assert scalar(settings, "SELECT count(*) FROM round_results") == 1
    late = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[2]]}, headers=voter
    )
    assert late.status_code == 409
