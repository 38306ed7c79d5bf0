"""Voter sessions (voting/voters.py) through the API: codes redeemed and rate-limited, account voting."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.app import create_app
from burgerbegroting.errors import NotAuthenticated, RateLimited
from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import voters
from tests.accounts.factories import bearer, make_user
from tests.conftest import make_settings
from tests.proposals.factories import run
from tests.voting.factories import (
    close,
    issue_codes,
    open_round,
    scalar,
)


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
