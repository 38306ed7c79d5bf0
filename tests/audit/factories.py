"""A round voted through the real API and closed, for export and verification tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.voting.factories import (
    VotingRound,
    admin_headers,
    close,
    issue_codes,
    open_round,
    redeem,
)


@dataclass(frozen=True)
class VotedRound:
    vr: VotingRound
    auditor: dict[str, str]
    admin: dict[str, str]
    receipts: list[str]


def auditor_headers(settings: Settings, email: str = "controleur@example.nl") -> dict[str, str]:
    user_id = make_user(settings, email, roles=(Role.AUDITOR,), display_name="Controleur")
    return bearer(settings, user_id, staff=True)


def vote(
    client: TestClient[Litestar], round_id: int, voter: dict[str, str], ballot: dict[str, Any]
) -> str:
    response = client.put(f"/api/v1/rounds/{round_id}/ballot", json=ballot, headers=voter)
    assert response.status_code == 200, response.text
    return str(response.json()["receipt"])


def voted_round(
    client: TestClient[Litestar], settings: Settings, *, closed: bool = True, **round_options: Any
) -> VotedRound:
    """A knapsack round (unless told otherwise) with six voters: one recasts, one votes blank, one
    code is revoked and its ballot voided; closed and counted unless ``closed=False``."""
    vr = open_round(settings, **round_options)
    codes = issue_codes(settings, vr, 6)
    p = vr.projects
    voters = [redeem(client, code) for code in codes]
    receipts = [
        vote(client, vr.round_id, voters[0], {"projects": [p[0], p[1]]}),
        vote(client, vr.round_id, voters[1], {"projects": [p[1], p[2]]}),
        vote(client, vr.round_id, voters[2], {"projects": [p[0]]}),
        vote(client, vr.round_id, voters[3], {"blank": True}),
        vote(client, vr.round_id, voters[4], {"projects": [p[3]]}),
        vote(client, vr.round_id, voters[0], {"projects": [p[2], p[3]]}),  # recast
        vote(client, vr.round_id, voters[5], {"projects": [p[0], p[3]]}),
    ]
    admin = admin_headers(settings, vr)
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[5], "reason": "Brief gestolen", "void_ballot": True},
        headers=admin,
    )
    assert revoked.status_code == 200, revoked.text
    if closed:
        close(settings, vr)
    return VotedRound(vr=vr, auditor=auditor_headers(settings), admin=admin, receipts=receipts)


def two_district_round(
    client: TestClient[Litestar], settings: Settings, *, voters_per_district: int = 2
) -> VotingRound:
    """A round with two district budgets (6,000 and 4,000 euro of 10,000), two projects in each;
    every voter votes for the second project of their district. Closed and counted."""
    vr = open_round(
        settings,
        scope="districts",
        district_budgets=(6_000_000, 4_000_000),
        project_districts=(0, 0, 1, 1),
        budget=10_000_000,
    )
    for district_id, project in (
        (vr.districts[0], vr.projects[1]),
        (vr.districts[1], vr.projects[3]),
    ):
        for code in issue_codes(settings, vr, voters_per_district, district_id=district_id):
            vote(client, vr.round_id, redeem(client, code), {"projects": [project]})
    close(settings, vr)
    return vr


def export_json(
    client: TestClient[Litestar], round_id: int, headers: dict[str, str]
) -> tuple[bytes, dict[str, Any]]:
    response = client.get(f"/api/v1/rounds/{round_id}/export?format=json", headers=headers)
    assert response.status_code == 200, response.text
    return response.content, json.loads(response.content)
