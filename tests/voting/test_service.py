"""Voting rules through the API: account voting, paper ballots, idempotency, voids, the log."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.errors import NotAuthenticated, RateLimited
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from burgerbegroting.voting import booths, casting, context, voters
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import tokens as voter_tokens
from tests.accounts.factories import bearer, make_user
from tests.conftest import make_settings
from tests.proposals.factories import run
from tests.voting.factories import (
    admin_headers,
    close,
    codes_then_accounts_only,
    issue_codes,
    open_round,
    redeem,
    scalar,
)
from tests.voting.replay import replay


def test_the_log_head_exists_only_once_voting_opened(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings, phase=Phase.REVIEW)
    assert client.get(f"/api/v1/rounds/{vr.round_id}/log/head").status_code == 404
    other = open_round(settings, admin_email="b2@example.nl")
    head = client.get(f"/api/v1/rounds/{other.round_id}/log/head").json()
    assert head["height"] == 0
    assert len(head["head"]) == 64


def test_paper_ballot_and_online_ballot_of_one_code_count_once_the_later_wins(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    moderator = make_user(settings, "toetser@example.nl", roles=(Role.MODERATOR,))
    [code] = issue_codes(settings, vr, 1)
    voter = redeem(client, code)
    online = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[0]]}, headers=voter
    )
    assert online.status_code == 200
    paper = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": code.lower(), "ballot": {"projects": [vr.projects[1]]}},
        headers=bearer(settings, moderator, staff=True),
    )
    assert paper.status_code == 201, paper.text
    # The staff member learns the paper ballot's own receipt (to hand to the voter), never the
    # receipt of the code's online ballot: with it and the audit export they could read how that
    # voter voted online (docs/security.md, "Paper and assisted voting").
    assert paper.json()["supersedes"] is None
    assert online.json()["receipt"] not in paper.text
    result = replay(settings, vr.round_id)
    assert list(result.current_in_db.values()) == [{"projects": [vr.projects[1]]}]
    assert scalar(settings, "SELECT channel FROM ballots ORDER BY id DESC LIMIT 1") == "paper"
    # The paper entry is accountable, its content is not in the audit log.
    details = scalar(settings, "SELECT details FROM audit_log WHERE action = 'voting.paper_ballot'")
    assert str(vr.projects[1]) not in str(details)
    # A resident cannot enter paper ballots.
    resident = make_user(settings, "inwoner2@example.nl")
    refused = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": code, "ballot": {"projects": [vr.projects[2]]}},
        headers=bearer(settings, resident),
    )
    assert refused.status_code == 403


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


def test_account_voting_one_ballot_per_account_in_the_declared_district(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings, vote_by_account=True)
    resident = make_user(settings, "stemmer@example.nl")
    headers = bearer(settings, resident)
    missing = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[0]]}, headers=headers
    )
    assert missing.status_code == 422  # the round has districts: which one is yours?
    first = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [vr.projects[0]], "district_id": vr.districts[1]},
        headers=headers,
    )
    assert first.status_code == 200, first.text
    second = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[1]]}, headers=headers
    )
    assert second.json()["supersedes"] == first.json()["receipt"]
    # The same district again is fine; another one is refused (it used to be ignored: 200).
    same = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [vr.projects[1]], "district_id": vr.districts[1]},
        headers=headers,
    )
    assert same.status_code == 200, same.text
    other = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [vr.projects[0]], "district_id": vr.districts[0]},
        headers=headers,
    )
    assert other.status_code == 422, other.text
    assert "district_id" in json.dumps(other.json()["errors"])
    assert "al gekozen" in other.json()["detail"]
    assert scalar(settings, "SELECT count(*) FROM ballots") == 3
    assert scalar(settings, "SELECT count(*) FROM voters") == 1
    assert scalar(settings, "SELECT district_id FROM voters") == vr.districts[1]
    # No user id, e-mail or name is stored with the voter: the key is an HMAC that needs the
    # instance secret (a bare "account-{round}-{user}" passed the two checks this had before).
    row = scalar(settings, "SELECT voter_key FROM voters")
    assert str(resident) != row
    assert "stemmer" not in row
    assert re.fullmatch(r"[0-9a-f]{64}", row), row
    assert row == codes_mod.voter_key_for_account(settings, vr.round_id, resident)
    other_secret = dataclasses.replace(settings, secret_key=settings.secret_key[::-1] + "-x")
    assert row != codes_mod.voter_key_for_account(other_secret, vr.round_id, resident)


def test_account_voting_with_a_minimum_age_stores_a_declared_age_band(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings, vote_by_account=True, vote_by_code=False, min_age=16, districts=())
    headers = bearer(settings, make_user(settings, "jong@example.nl"))
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    ballot = {"projects": [vr.projects[0]]}
    missing = client.put(url, json=ballot, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["detail"] == "Kies uw leeftijdsgroep."
    unknown = client.put(url, json={**ballot, "age_band": "0-11"}, headers=headers)
    assert unknown.status_code == 422
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    too_young = client.put(url, json={**ballot, "age_band": "12-17"}, headers=headers)
    assert too_young.status_code == 200, too_young.text  # 12-17 holds 16- and 17-year-olds
    assert scalar(settings, "SELECT age_band FROM voters") == "12-17"
    other = client.put(url, json={**ballot, "age_band": "18-26"}, headers=headers)
    assert other.status_code == 422
    assert "al gekozen" in other.json()["detail"]
    assert scalar(settings, "SELECT count(*) FROM ballots") == 1
    # A band wholly under the minimum age is refused, and nothing is stored.
    older = open_round(
        settings, vote_by_account=True, min_age=18, districts=(), admin_email="b@example.nl"
    )
    refused = client.put(
        f"/api/v1/rounds/{older.round_id}/ballot",
        json={"projects": [older.projects[0]], "age_band": "12-17"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert "vanaf 18 jaar" in json.dumps(refused.json(), ensure_ascii=False)
    assert scalar(settings, "SELECT count(*) FROM voters") == 1


def test_a_first_account_visit_after_the_close_is_told_it_is_closed_and_stores_nothing(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings, vote_by_account=True, min_age=16)
    close(settings, vr)
    headers = bearer(settings, make_user(settings, "laat@example.nl"))
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [vr.projects[0]], "district_id": vr.districts[0], "age_band": "27-44"},
        headers=headers,
    )
    assert response.status_code == 409, response.text
    assert "gesloten" in response.json()["detail"]
    asked = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[0]]}, headers=headers
    )
    assert asked.status_code == 409  # not "choose your district" for a round that is over
    assert scalar(settings, "SELECT count(*) FROM voters") == 0


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


def _redeem_as(settings: Settings, code: str, client_ip: str) -> str:
    """Redeem ``code`` from ``client_ip`` through the service: "ok", or the error's class name."""

    async def work(session: AsyncSession) -> str:
        try:
            await voters.redeem_code(session, settings, code=code, client_ip=client_ip)
        except (NotAuthenticated, RateLimited) as error:
            await session.rollback()
            return type(error).__name__
        await session.commit()
        return "ok"

    return run(settings, work)


def test_one_address_cannot_use_up_the_global_code_limit(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Per address 2 attempts, globally 2 × 3 = 6 per window. One address hammering gets refused
    # by its own limit; its refused attempts must not count against everyone else.
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=2)
    monkeypatch.setattr(voters, "GLOBAL_CODE_ATTEMPTS_FACTOR", 3)
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    answers = [_redeem_as(settings, "AAAA-BBBB-CCCC-DDDD", "192.0.2.1") for _ in range(10)]
    assert answers == ["NotAuthenticated"] * 2 + ["RateLimited"] * 8
    assert _redeem_as(settings, code, "192.0.2.2") == "ok"


def test_code_attempts_are_limited_per_ipv6_64_and_ipv4_mapped_counts_as_ipv4(
    database_url: str, tmp_path: Path
) -> None:
    # A phone or home connection gets a whole /64: changing the last 64 bits is not a new client.
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=2)
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    wrong = "AAAA-BBBB-CCCC-DDDD"
    answers = [
        _redeem_as(settings, wrong, address)
        for address in ("2001:db8:7:1::1", "2001:db8:7:1::2", "2001:db8:7:1:ffff::9")
    ]
    assert answers == ["NotAuthenticated", "NotAuthenticated", "RateLimited"]
    assert _redeem_as(settings, code, "2001:db8:7:2::1") == "ok"  # another /64
    # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d: the same client.
    answers = [_redeem_as(settings, wrong, a) for a in ("192.0.2.5", "::ffff:192.0.2.5")]
    assert answers == ["NotAuthenticated", "NotAuthenticated"]
    assert _redeem_as(settings, wrong, "192.0.2.5") == "RateLimited"


def test_the_global_code_limit_stops_many_addresses(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=2)
    monkeypatch.setattr(voters, "GLOBAL_CODE_ATTEMPTS_FACTOR", 3)
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    answers = [_redeem_as(settings, "AAAA-BBBB-CCCC-DDDD", f"192.0.2.{i}") for i in range(1, 7)]
    assert answers == ["NotAuthenticated"] * 6
    # Six attempts from six addresses used the global limit: a seventh address is refused too.
    assert _redeem_as(settings, code, "192.0.2.99") == "RateLimited"


def test_a_throttled_code_attempt_costs_no_hashing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=1)
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    hashed: list[str] = []
    real = codes_mod.hash_code

    def counting(key: bytes, normalised: str) -> str:
        hashed.append(normalised)
        return real(key, normalised)

    monkeypatch.setattr(codes_mod, "hash_code", counting)
    unknown = codes_mod.new_code()  # well-formed, never issued: looked up, so hashed once
    assert _redeem_as(settings, unknown, "192.0.2.1") == "NotAuthenticated"
    assert _redeem_as(settings, code, "192.0.2.1") == "RateLimited"
    assert hashed == [unknown.replace("-", "")]  # the throttled attempt was never hashed


def test_too_many_code_attempts_get_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=2)
    open_round(settings)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        answers = [
            client.post("/api/v1/auth/code", json={"code": "AAAA-BBBB-CCCC-DDDD"}) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert answers[2].json()["detail"] == (
        "Te veel pogingen met stemcodes. Wacht even en probeer het daarna opnieuw."
    )


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


def test_valid_codes_from_one_address_do_not_use_up_its_limit(
    database_url: str, tmp_path: Path
) -> None:
    # A community centre, a library or a mobile network (CGNAT) puts many residents behind one
    # address. The limit is there against guessing: a code that opens a session costs nothing.
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=3)
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 8)
    answers = [_redeem_as(settings, code, "192.0.2.7") for code in codes]
    assert answers == ["ok"] * 8
    # Wrong codes still count: three are answered, the fourth is throttled.
    wrong = [_redeem_as(settings, codes_mod.new_code(), "192.0.2.7") for _ in range(4)]
    assert wrong == ["NotAuthenticated"] * 3 + ["RateLimited"]


def test_a_paper_ballot_on_a_code_is_refused_in_an_accounts_only_round(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # The code was printed before the round was set to accounts only: online it opens no booth
    # (test above), so on paper it must not cast a counting ballot either.
    vr, [code] = codes_then_accounts_only(settings)
    refused = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": code, "ballot": {"projects": [vr.projects[1]]}},
        headers=admin_headers(settings, vr),
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        "In deze ronde wordt niet met stemcodes gestemd: "
        "een papieren stem op een stemcode kan niet worden ingevoerd."
    )
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'ballot'") == 0
    assert (
        scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'voting.paper_ballot'") == 0
    )


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


def test_an_account_voter_of_a_district_that_does_not_take_part_cannot_vote(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A resident declaring a district whose residents may not vote in this round is refused
    (409), with no voter row and no ballot; a resident of a taking-part district votes."""
    vr = open_round(settings, vote_by_account=True, ineligible_districts=(1,))
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    outside = bearer(settings, make_user(settings, "buiten@example.nl"))
    refused = client.put(
        url, json={"projects": [vr.projects[0]], "district_id": vr.districts[1]}, headers=outside
    )
    assert refused.status_code == 409, refused.text
    assert "doet niet mee" in refused.json()["detail"]
    assert (
        scalar(settings, "SELECT (SELECT count(*) FROM ballots) + (SELECT count(*) FROM voters)")
        == 0
    )
    inside = bearer(settings, make_user(settings, "binnen@example.nl"))
    allowed = client.put(
        url, json={"projects": [vr.projects[0]], "district_id": vr.districts[0]}, headers=inside
    )
    assert allowed.status_code == 200, allowed.text


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
