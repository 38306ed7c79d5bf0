"""Issuing, revoking and voiding codes and batches (voting/roll.py), through the API."""

from __future__ import annotations

import hashlib
import json

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.settings import Settings
from burgerbegroting.voting import tokens as voter_tokens
from tests.proposals.factories import run
from tests.voting.factories import (
    admin_headers,
    codes_then_accounts_only,
    issue_codes,
    open_round,
    redeem,
    scalar,
)
from tests.voting.replay import replay


def test_revoking_a_code_with_void_removes_its_ballot_from_the_count(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 2)
    receipts = []
    for code in codes:
        voter = redeem(client, code)
        response = client.put(
            f"/api/v1/rounds/{vr.round_id}/ballot",
            json={"projects": [vr.projects[3]]},
            headers=voter,
        )
        receipts.append(response.json()["receipt"])
    kept = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[0], "reason": "brief kwijt"},
        headers=admin_headers(settings, vr),
    )
    voided = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[1], "reason": "stem onder dwang", "void_ballot": True},
        headers=admin_headers(settings, vr),
    )
    assert kept.json() == {"revoked": True, "ballot_voided": False}
    assert voided.json() == {"revoked": True, "ballot_voided": True}
    statuses = [
        client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{r}").json()["status"] for r in receipts
    ]
    assert statuses == ["counted", "voided"]
    assert len(replay(settings, vr.round_id).current_in_db) == 1
    # The reason is in the audit log, not in the public ballot log.
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE payload LIKE '%dwang%'") == 0
    assert scalar(settings, "SELECT count(*) FROM audit_log WHERE reason = 'stem onder dwang'") == 1


def test_a_round_without_voting_codes_issues_and_accepts_none(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # Codes issued while the round still allowed them, then the round set to accounts only
    # before voting opened: those codes open no booth, and no new codes can be issued.
    vr, [code] = codes_then_accounts_only(settings)
    before = scalar(settings, "SELECT count(*) FROM voting_codes")
    answer = client.post("/api/v1/auth/code", json={"code": code})
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == (
        "In deze ronde stemt u met uw account, niet met een stemcode. Log in om te stemmen."
    )
    assert voter_tokens.VOTER_COOKIE not in answer.headers.get("set-cookie", "")
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    issued = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes",
        json={"district_id": None, "count": 1},
        headers=admin_headers(settings, vr),
    )
    assert issued.status_code == 409, issued.text
    assert issued.json()["detail"] == (
        "In deze ronde wordt niet met stemcodes gestemd: er kunnen geen stemcodes worden uitgegeven."
    )
    assert scalar(settings, "SELECT count(*) FROM voting_codes") == before


def test_revoking_a_batch_stops_its_sessions_and_keeps_earlier_ballots_counted(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    voted, idle = issue_codes(settings, vr, 2)
    [other] = issue_codes(settings, vr, 1)  # a second batch, not revoked
    voter, idle_voter, other_voter = (
        redeem(client, voted),
        redeem(client, idle),
        redeem(client, other),
    )
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    cast = client.put(url, json={"projects": [vr.projects[1]]}, headers=voter)
    assert cast.status_code == 200, cast.text
    receipt = cast.json()["receipt"]
    batch_id = scalar(settings, "SELECT min(id) FROM code_batches")
    rolls = scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'roll'")
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/{batch_id}/revoke",
        json={"reason": "Brieven naar verkeerde adressen"},
        headers=admin,
    )
    assert revoked.status_code == 200, revoked.text
    # Neither open session of the batch can cast any more, nor can its codes be redeemed again.
    for session_headers in (voter, idle_voter):
        refused = client.put(url, json={"projects": [vr.projects[2]]}, headers=session_headers)
        assert refused.status_code == 401, refused.text
    assert client.post("/api/v1/auth/code", json={"code": voted}).status_code == 401
    # The ballot cast before the revocation stays counted; the other batch still votes.
    status = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{receipt}").json()["status"]
    assert status == "counted"
    assert (
        client.put(url, json={"projects": [vr.projects[3]]}, headers=other_voter).status_code == 200
    )
    assert scalar(settings, "SELECT count(*) FROM voters WHERE current_ballot_id IS NOT NULL") == 2
    batches = {
        b["id"]: b for b in client.get(f"/api/v1/rounds/{vr.round_id}/codes", headers=admin).json()
    }
    assert batches[batch_id]["revoke_reason"] == "Brieven naar verkeerde adressen"
    assert batches[batch_id]["redeemed"] == 2
    assert (
        scalar(settings, "SELECT reason FROM audit_log WHERE action = 'codes.revoke_batch'")
        == "Brieven naar verkeerde adressen"
    )
    # The roll changed: one more ``roll`` event (the new roll fingerprint) in the public log.
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'roll'") == rolls + 1


def test_codes_for_an_age_band_below_the_minimum_age_are_refused(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings, min_age=18)
    admin = admin_headers(settings, vr)
    url = f"/api/v1/rounds/{vr.round_id}/codes"
    refused = client.post(url, json={"count": 3, "age_band": "12-17"}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == {
        "age_band": "In deze leeftijdsgroep mag niemand stemmen: de minimumleeftijd is 18 jaar."
    }
    assert scalar(settings, "SELECT count(*) FROM code_batches") == 0
    assert scalar(settings, "SELECT count(*) FROM voting_codes") == 0
    for band in ("18-26", "67+"):
        issued = client.post(url, json={"count": 1, "age_band": band}, headers=admin)
        assert issued.status_code == 201, (band, issued.text)
    # A band that straddles the minimum is the municipality's selection from the register.
    straddling = open_round(settings, min_age=16, admin_email="b16@example.nl")
    issued = client.post(
        f"/api/v1/rounds/{straddling.round_id}/codes",
        json={"count": 1, "age_band": "12-17"},
        headers=admin_headers(settings, straddling),
    )
    assert issued.status_code == 201, issued.text


def test_another_rounds_code_and_a_revoked_code_are_refused_on_paper_and_for_revocation(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A paper ballot and a revocation name the code of their own round only; a revoked code
    takes no paper ballot. Each is a 422 on the code field (not the writer's later 401 to a staff
    member), nothing is stored, and the other round's code still votes in its own round."""
    vr = open_round(settings)
    other = open_round(settings, admin_email="ander@example.nl")
    admin = admin_headers(settings, vr)
    [foreign] = issue_codes(settings, other, 1)
    [lost] = issue_codes(settings, vr, 1)
    revoke_url = f"/api/v1/rounds/{vr.round_id}/codes/revoke"
    revoked = client.post(
        revoke_url,
        json={"code": lost, "reason": "brief kwijt", "void_ballot": False},
        headers=admin,
    )
    assert revoked.status_code == 200, revoked.text
    stored = "SELECT (SELECT count(*) FROM ballots) + (SELECT count(*) FROM voters)"
    assert scalar(settings, stored) == 0
    for code in (foreign, lost):
        paper = client.post(
            f"/api/v1/rounds/{vr.round_id}/paper-ballots",
            json={"code": code, "ballot": {"projects": [vr.projects[1]]}},
            headers=admin,
        )
        assert paper.status_code == 422, (code, paper.status_code, paper.text)
        assert "code" in paper.json()["errors"], paper.text
    refused = client.post(
        revoke_url,
        json={"code": foreign, "reason": "brief kwijt", "void_ballot": False},
        headers=admin,
    )
    assert refused.status_code == 422, refused.text
    assert scalar(settings, "SELECT count(*) FROM voting_codes WHERE revoked_at IS NOT NULL") == 1
    assert scalar(settings, stored) == 0
    assert client.post("/api/v1/auth/code", json={"code": foreign}).status_code == 200


def test_the_voter_roll_in_the_log_counts_only_live_codes(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Each ``roll`` event commits to the codes that can still vote: after a code and then a
    batch are revoked, its count and digest (SHA-256 of the sorted keyed hashes, one a line)
    cover the live codes only."""
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    lost, *_kept = issue_codes(settings, vr, 3)
    issue_codes(settings, vr, 2)  # a second batch, revoked below
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": lost, "reason": "brief kwijt", "void_ballot": False},
        headers=admin,
    )
    assert revoked.status_code == 200, revoked.text
    second_batch = scalar(settings, "SELECT max(id) FROM code_batches")
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/{second_batch}/revoke",
        json={"reason": "Brieven naar verkeerde adressen"},
        headers=admin,
    )
    assert revoked.status_code == 200, revoked.text
    last_roll = json.loads(
        scalar(
            settings,
            "SELECT payload FROM log_events WHERE kind = 'roll' ORDER BY height DESC LIMIT 1",
        )
    )
    live = sorted(
        run(
            settings,
            lambda session: _live_code_hashes(session, vr.round_id),
        )
    )
    assert len(live) == 2
    digest = hashlib.sha256("\n".join(live).encode("ascii")).hexdigest()
    assert last_roll["roll"] == {"districts": [{"district_id": None, "codes": 2, "digest": digest}]}


async def _live_code_hashes(session: AsyncSession, round_id: int) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT v.code_hash FROM voting_codes v JOIN code_batches b ON b.id = v.batch_id "
            "WHERE v.round_id = :r AND v.revoked_at IS NULL AND b.revoked_at IS NULL"
        ),
        {"r": round_id},
    )
    return [row[0] for row in rows]
