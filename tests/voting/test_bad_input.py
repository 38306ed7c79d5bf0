"""Bad input to the booth and the code endpoints: a 4xx with a clear message, nothing stored."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.tokens import ALGORITHM
from burgerbegroting.db import utcnow
from burgerbegroting.settings import Settings
from burgerbegroting.voting import tokens as voter_tokens
from tests.voting.factories import (
    VotingRound,
    admin_headers,
    close,
    issue_codes,
    open_round,
    redeem,
    scalar,
)


def _stored(settings: Settings) -> tuple[int, int, int]:
    return (
        scalar(settings, "SELECT count(*) FROM ballots"),
        scalar(settings, "SELECT count(*) FROM log_events"),
        scalar(settings, "SELECT count(*) FROM voters WHERE current_ballot_id IS NOT NULL"),
    )


@pytest.fixture
def voting(client: TestClient[Litestar], settings: Settings) -> tuple[VotingRound, dict[str, str]]:
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    return vr, redeem(client, code)


def _bodies(vr: VotingRound) -> list[Any]:
    p = vr.projects
    return [
        {"projects": [-1]},
        {"projects": [2**63]},
        {"projects": [2**31]},
        {"projects": ["NaN"]},
        {"projects": [1e309]},
        {"projects": [p[0], p[0]]},
        {"projects": [987654]},
        {"projects": p},  # over budget
        {"projects": [True]},
        {"projects": []},
        {"points": {str(p[0]): 5}},  # wrong shape for knapsack
        {"projects": [p[0]], "blank": True},
        {"blank": False},
        {},
        {"projects": p[0]},
        [p[0]],
        "NaN",
        None,
        {"projects": [p[0]], "extra": 1},
    ]


def test_bad_ballots_are_refused_with_a_message_and_nothing_is_stored(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    before = _stored(settings)
    for body in _bodies(vr):
        raw = json.dumps(body, allow_nan=True) if body != [1e309] else "[1e309]"
        response = client.put(
            f"/api/v1/rounds/{vr.round_id}/ballot",
            content=raw.replace("Infinity", "1e309"),
            headers={**voter, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        problem = response.json()
        assert problem.get("detail"), (body, problem)
    assert _stored(settings) == before


def test_another_rounds_projects_are_not_on_the_ballot(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    other = open_round(settings, admin_email="ander@example.nl")
    before = _stored(settings)
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"projects": [other.projects[3]]},
        headers=voter,
    )
    assert response.status_code == 422
    assert "/projects/0" in response.json()["errors"]
    # And this voter's session does not open the other round's booth.
    response = client.put(
        f"/api/v1/rounds/{other.round_id}/ballot",
        json={"projects": [other.projects[3]]},
        headers=voter,
    )
    assert response.status_code == 401
    assert _stored(settings) == before


def test_another_districts_projects_are_refused(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(
        settings,
        scope="districts",
        district_budgets=(5_000_000, 5_000_000),
        costs=(3_000_000, 2_000_000, 3_000_000, 2_000_000),
        project_districts=(0, 0, 1, 1),
    )
    [code] = issue_codes(settings, vr, 1, district_id=vr.districts[0])
    voter = redeem(client, code)
    booth = client.get(f"/api/v1/rounds/{vr.round_id}/ballot", headers=voter).json()
    assert [p["id"] for p in booth["projects"]] == vr.projects[:2]
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[2]]}, headers=voter
    )
    assert response.status_code == 422
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_huge_and_wrongly_typed_bodies_are_refused(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    before = _stored(settings)
    big = b'{"projects": [' + b"1," * (5 * 1024 * 1024) + b"1]}"
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        content=big,
        headers={**voter, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = client.put(
            f"/api/v1/rounds/{vr.round_id}/ballot",
            content=json.dumps({"projects": [vr.projects[0]]}),
            headers={**voter, "Content-Type": content_type},
        )
        # Refused before any parser sees it, with the Dutch reason.
        assert response.status_code == 415, (content_type, response.status_code)
        assert "application/json" in response.json()["detail"]
    assert _stored(settings) == before


def test_wrong_revoked_expired_and_forged_sessions_and_codes(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 3)
    wrong = [
        "",
        "AAAA-AAAA-AAAA-AAAA",
        codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1"),  # check character wrong
        "x" * 65,
        "\u0000" * 10,
    ]
    answers = {client.post("/api/v1/auth/code", json={"code": c}).status_code for c in wrong}
    assert answers <= {400, 401, 422}  # 422: a NUL byte in a string is refused by name
    # A revoked code gets the very same answer as a wrong one.
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[1], "reason": "brief kwijt"},
        headers=admin_headers(settings, vr),
    )
    assert revoked.status_code == 200
    wrong_answer = client.post("/api/v1/auth/code", json={"code": "AAAA-AAAA-AAAA-AAAA"})
    revoked_answer = client.post("/api/v1/auth/code", json={"code": codes[1]})
    assert revoked_answer.status_code == wrong_answer.status_code == 401
    assert revoked_answer.json()["detail"] == wrong_answer.json()["detail"]
    # Expired and forged voter sessions.
    voter = redeem(client, codes[2])
    token = voter["Authorization"].split()[1]
    read = voter_tokens.read(settings, token)
    forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    # The same session, correctly signed, but past its expiry.
    claims = jwt.decode(
        token,
        voter_tokens._key(settings),
        algorithms=[ALGORITHM],
        audience=voter_tokens.VOTER_AUDIENCE,
    )
    assert claims["exp"] - claims["iat"] == settings.voter_session_minutes * 60
    expired = jwt.encode(
        {**claims, "iat": claims["iat"] - 3600, "exp": claims["iat"] - 1},
        voter_tokens._key(settings),
        algorithm=ALGORITHM,
    )
    for header in (f"Bearer {forged}", "Bearer not.a.token", f"Bearer {expired}"):
        response = client.get(
            f"/api/v1/rounds/{vr.round_id}/ballot", headers={"Authorization": header}
        )
        assert response.status_code == 401, header
    response = client.get(
        f"/api/v1/rounds/{vr.round_id}/ballot", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.json()["detail"] == "Uw stemsessie is verlopen. Vul uw stemcode opnieuw in."
    # The unexpired original still works: the refusal above is the expiry, not the signature.
    assert client.get(f"/api/v1/rounds/{vr.round_id}/ballot", headers=voter).status_code == 200
    assert read.round_id == vr.round_id
    # A session of a code revoked after redemption stops working at once.
    client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[2], "reason": "verkeerd adres"},
        headers=admin_headers(settings, vr),
    )
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[1]]}, headers=voter
    )
    assert response.status_code == 401
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_a_voter_session_reaches_no_other_route(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    assert client.get("/api/v1/auth/me", headers=voter).status_code == 401
    assert client.get("/api/v1/audit-log", headers=voter).status_code == 401
    response = client.post(f"/api/v1/rounds/{vr.round_id}/codes", json={"count": 1}, headers=voter)
    assert response.status_code == 401


def test_casting_after_close_is_refused(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    close(settings, vr)
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[1]]}, headers=voter
    )
    assert response.status_code == 409
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_an_expired_voter_session_is_refused_and_stores_nothing(
    client: TestClient[Litestar], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A voter session older than ``voter_session_minutes``: 401 naming the expiry, on the API
    (bearer) and on the booth page (cookie), and no ballot, event or draft is written."""
    vr = open_round(settings)
    [code] = issue_codes(settings, vr, 1)
    fresh = redeem(client, code)
    voter_id = voter_tokens.read(settings, fresh["Authorization"].split()[1]).voter_id
    # The same voter's session, opened a minute longer ago than a session lasts.
    opened = utcnow() - timedelta(minutes=settings.voter_session_minutes + 1)
    monkeypatch.setattr(voter_tokens, "utcnow", lambda: opened)
    old = voter_tokens.issue(settings, voter_id=voter_id, round_id=vr.round_id, district_id=None)
    monkeypatch.undo()
    expired = {"Authorization": f"Bearer {old.encoded}"}
    before = _stored(settings)
    reading = client.get(f"/api/v1/rounds/{vr.round_id}/ballot", headers=expired)
    casting = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[1]]}, headers=expired
    )
    for response in (reading, casting):
        assert response.status_code == 401, response.text
        assert "verlopen" in response.json()["detail"]
    client.cookies.clear()
    client.cookies.set(voter_tokens.VOTER_COOKIE, old.encoded)
    page = client.get(f"/stemmen/{vr.round_id}")
    assert page.status_code == 401
    assert "verlopen" in page.text
    assert _stored(settings) == before
    assert scalar(settings, "SELECT count(*) FROM voters WHERE draft IS NOT NULL") == 0
    # The control: the fresh session of the same voter still reads the booth.
    assert client.get(f"/api/v1/rounds/{vr.round_id}/ballot", headers=fresh).status_code == 200


def test_bad_point_amounts_are_refused_with_a_message_and_nothing_is_stored(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """The amounts of a cumulative ballot (the points) get the same hostile values as ids."""
    vr = open_round(settings, ballot_type="cumulative", cumulative_points=10)
    voter = redeem(client, issue_codes(settings, vr, 1)[0])
    p = str(vr.projects[0])
    before = _stored(settings)
    bodies = [
        f'{{"points": {{"{p}": -1}}}}',
        # A negative amount beside a valid one: refused, not dropped (-1 alone is refused anyway,
        # as "nothing chosen").
        f'{{"points": {{"{p}": 5, "{vr.projects[1]}": -1}}}}',
        f'{{"points": {{"{p}": 1e309}}}}',
        f'{{"points": {{"{p}": NaN}}}}',
        f'{{"points": {{"{p}": "NaN"}}}}',
        f'{{"points": {{"{p}": {2**63}}}}}',
        f'{{"points": {{"{p}": 2.5}}}}',
        f'{{"points": {{"{p}": 11}}}}',  # more than the 10 points to divide
        f'{{"points": {{"{p}": 6, "{vr.projects[1]}": 5}}}}',  # 11 together
        '{"points": {"-1": 1}}',
        '{"points": {"987654": 1}}',
        '{"points": {"abc": 1}}',
        f'{{"points": {{"{p}": 0}}}}',  # nothing chosen
        f'{{"points": [{p}]}}',
        f'{{"projects": [{p}]}}',  # the wrong shape for this ballot type
    ]
    for body in bodies:
        response = client.put(
            f"/api/v1/rounds/{vr.round_id}/ballot",
            content=body,
            headers={**voter, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert response.json().get("detail"), body
    assert _stored(settings) == before
    # The control: a valid division of the points is stored.
    good = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot",
        json={"points": {p: 6, str(vr.projects[1]): 4}},
        headers=voter,
    )
    assert good.status_code == 200, good.text
    assert _stored(settings) != before


# msgspec's English wording; none of it may reach a response.
MSGSPEC_ENGLISH = ("Expected", "Object", "Invalid", "got `", "unknown field", "missing required")


def test_malformed_bodies_get_dutch_messages_under_their_pointers(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    ballot = f"/api/v1/rounds/{vr.round_id}/ballot"
    codes = f"/api/v1/rounds/{vr.round_id}/codes"
    admin = admin_headers(settings, vr)
    before = _stored(settings), scalar(settings, "SELECT count(*) FROM voting_codes")
    cases = [
        (
            ballot,
            voter,
            {"projects": "abc"},
            "projects",
            "Verkeerd soort waarde: hier hoort een lijst.",
        ),
        (ballot, voter, {"projects": [-1]}, "projects[0]", "Moet minstens 1 zijn."),
        (ballot, voter, {"projects": [2**63]}, "projects[0]", "Mag hoogstens 2147483647 zijn."),
        (ballot, voter, {"projects": [1], "extra": 1}, "data", "Dit veld kennen wij niet: extra."),
        (
            codes,
            admin,
            {"count": "x"},
            "count",
            "Verkeerd soort waarde: hier hoort een geheel getal.",
        ),
        (codes, admin, {"count": 0}, "count", "Moet minstens 1 zijn."),
        (codes, admin, {"district_id": None}, "data", "Dit veld ontbreekt: count."),
    ]
    for url, headers, body, key, message in cases:
        send = client.put if url == ballot else client.post
        response = send(url, json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        problem = response.json()
        assert problem["errors"] == [{"key": key, "source": "body", "message": message}], body
        assert problem["detail"].startswith("De invoer is ongeldig"), body
        assert not any(word in response.text for word in MSGSPEC_ENGLISH), response.text
    assert (_stored(settings), scalar(settings, "SELECT count(*) FROM voting_codes")) == before


def test_malformed_bodies_get_english_messages_in_the_english_ui(
    client: TestClient[Litestar], settings: Settings, voting: tuple[VotingRound, dict[str, str]]
) -> None:
    vr, voter = voting
    client.cookies.set("taal", "en")
    response = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [-1]}, headers=voter
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"key": "projects[0]", "source": "body", "message": "Must be at least 1."}
    ]
