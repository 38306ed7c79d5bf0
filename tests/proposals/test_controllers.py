"""The proposals API, for every path and role, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, csrf_token, mail_text, mails, make_user
from tests.proposals.factories import (
    BUDGET_CENTS,
    People,
    RoundIds,
    create_proposal,
    expire,
    make_people,
    make_round,
    move_round,
    scalar,
    table_counts,
    valid_body,
)

Client = TestClient[Litestar]


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


@pytest.fixture
def ids(settings: Settings) -> RoundIds:
    return make_round(settings)


def _h(settings: Settings, people: People, who: str) -> dict[str, str]:
    return people.headers(settings, who)


def invitation_token(settings: Settings, to: str) -> str:
    """The token from the newest invitation mail to ``to``."""
    for message in reversed(mails(settings)):
        if message["To"] == to:
            match = re.search(r"/uitnodiging\?token=(\S+)", mail_text(message))
            assert match
            return match.group(1)
    raise AssertionError(f"no invitation mail to {to}")


# --- submitting ---------------------------------------------------------------------------------


def test_resident_submits_and_everyone_reads_it(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    assert created["status"] == "submitted"
    assert created["credits"] == [
        {
            "user_id": people.resident,
            "display_name": "Anna de Vries",
            "role": "author",
            "organisation_name": None,
        }
    ]
    assert created["estimated_cost_cents"] == 1_250_000
    anonymous = client.get(f"/api/v1/proposals/{created['id']}")
    assert anonymous.status_code == 200
    assert anonymous.json()["title"] == "Koffieochtend voor ouderen"
    assert anonymous.json()["description_html"].startswith("<p>We organiseren <em>elke week</em>")
    listing = client.get(f"/api/v1/rounds/{ids.round_id}/proposals").json()
    assert [item["id"] for item in listing["items"]] == [created["id"]]


def test_draft_is_visible_only_to_its_authors(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    draft = create_proposal(
        client,
        settings,
        ids,
        _h(settings, people, "resident"),
        submit=False,
        estimated_cost_cents=None,
    )
    assert draft["status"] == "draft"
    url = f"/api/v1/proposals/{draft['id']}"
    assert client.get(url).status_code == 404
    assert client.get(url, headers=_h(settings, people, "other")).status_code == 404
    assert client.get(url, headers=_h(settings, people, "moderator")).status_code == 404
    assert client.get(url, headers=_h(settings, people, "resident")).status_code == 200
    listing = client.get(f"/api/v1/rounds/{ids.round_id}/proposals").json()
    assert listing["total"] == 0
    mine = client.get("/api/v1/me/proposals", headers=_h(settings, people, "resident")).json()
    assert [p["id"] for p in mine] == [draft["id"]]


def test_incomplete_draft_cannot_be_submitted(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    headers = _h(settings, people, "resident")
    draft = create_proposal(
        client, settings, ids, headers, submit=False, estimated_cost_cents=None, summary=""
    )
    response = client.post(f"/api/v1/proposals/{draft['id']}/submit", headers=headers)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"estimated_cost_cents", "summary"}
    client.patch(
        f"/api/v1/proposals/{draft['id']}",
        json={"estimated_cost_cents": 500_000, "summary": "Nu wel compleet."},
        headers=headers,
    )
    response = client.post(f"/api/v1/proposals/{draft['id']}/submit", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "submitted"


def test_organisation_submits_under_right_to_challenge(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(
        client,
        settings,
        ids,
        _h(settings, people, "resident"),
        organisation_name="Stichting Buurtkracht",
    )
    assert created["right_to_challenge"] is True
    assert created["organisation_name"] == "Stichting Buurtkracht"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"estimated_cost_cents": -100}, "estimated_cost_cents"),
        ({"estimated_cost_cents": 0}, "estimated_cost_cents"),
        ({"estimated_cost_cents": BUDGET_CENTS + 1}, "estimated_cost_cents"),
        ({"estimated_cost_cents": 10**15}, "estimated_cost_cents"),
        ({"theme_id": 987654}, "theme_id"),
        ({"district_id": 987654}, "district_id"),
        ({"title": "x" * 201}, "title"),
        ({"title": "abc"}, "title"),
        ({"description": "y" * 10_001}, "description"),
        ({"summary": "nul\x00byte"}, "summary"),
    ],
)
def test_bad_input_is_422_with_a_field_message_and_writes_nothing(
    client: Client,
    settings: Settings,
    people: People,
    ids: RoundIds,
    override: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(settings)
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids, submit=True, **override),
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["errors"]
    assert body["detail"]  # a Dutch sentence
    assert table_counts(settings) == before


def test_theme_of_another_round_is_refused(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    other = make_round(settings, title="Andere ronde")
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids, theme_id=other.themes[0], district_id=other.districts[0]),
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"theme_id", "district_id"}


@pytest.mark.parametrize(
    "body_change",
    [
        {"unknown_field": "x"},
        {"estimated_cost_cents": "veel"},
        {"estimated_cost_cents": 12.5},
        {"title": ["a", "b"]},
    ],
)
def test_malformed_body_is_400_and_writes_nothing(
    client: Client, settings: Settings, people: People, ids: RoundIds, body_change: dict[str, Any]
) -> None:
    before = table_counts(settings)
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids, **body_change),
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert table_counts(settings) == before


def test_ids_beyond_the_database_range_are_4xx_and_write_nothing(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    # 2**31 is a valid JSON integer but no INTEGER id on PostgreSQL: handed to asyncpg it raised.
    big = 2**31
    resident = _h(settings, people, "resident")
    created = create_proposal(client, settings, ids, resident)
    before = table_counts(settings)
    attempts = [
        (
            "POST",
            f"/api/v1/rounds/{ids.round_id}/proposals",
            valid_body(ids, theme_id=big),
            resident,
        ),
        (
            "POST",
            f"/api/v1/rounds/{ids.round_id}/proposals",
            valid_body(ids, district_id=big),
            resident,
        ),
        ("PATCH", f"/api/v1/proposals/{created['id']}", {"theme_id": big}, resident),
        ("POST", "/api/v1/invitations/accept", {"invitation_id": big}, resident),
        ("POST", "/api/v1/invitations/decline", {"invitation_id": big}, resident),
        (
            "POST",
            f"/api/v1/proposals/{created['id']}/merge",
            {"into_id": big, "reason": "Dubbel"},
            _h(settings, people, "moderator"),
        ),
    ]
    for method, url, body, headers in attempts:
        response = client.request(method, url, json=body, headers=headers)
        assert response.status_code == 400, (method, url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    for url in (f"/api/v1/proposals/{big}", f"/voorstellen/{big}"):
        assert client.get(url, headers=resident).status_code == 404
    assert table_counts(settings) == before


def test_submitting_outside_the_submission_phase_is_409(
    client: Client, settings: Settings, people: People
) -> None:
    review_round = make_round(settings, phase=Phase.REVIEW)
    before = table_counts(settings)
    response = client.post(
        f"/api/v1/rounds/{review_round.round_id}/proposals",
        json=valid_body(review_round),
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 409
    assert "fase" in response.json()["detail"]
    assert table_counts(settings) == before


def test_unknown_round_is_404(client: Client, settings: Settings, people: People) -> None:
    assert client.get("/api/v1/rounds/987654/proposals").status_code == 404
    response = client.post(
        "/api/v1/rounds/987654/proposals",
        json={"title": "Iets nieuws"},
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 404


@pytest.mark.parametrize(("who", "status"), [("moderator", 403), ("admin", 403)])
def test_staff_without_resident_role_cannot_submit(
    client: Client, settings: Settings, people: People, ids: RoundIds, who: str, status: int
) -> None:
    response = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals",
        json=valid_body(ids),
        headers=_h(settings, people, who),
    )
    assert response.status_code == status


# --- editing, withdrawing ----------------------------------------------------------------------


def test_only_authors_edit(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    url = f"/api/v1/proposals/{created['id']}"
    assert client.patch(url, json={"title": "Overgenomen!"}).status_code == 401
    assert (
        client.patch(
            url, json={"title": "Overgenomen!"}, headers=_h(settings, people, "other")
        ).status_code
        == 403
    )
    assert (
        client.patch(
            url, json={"title": "Overgenomen!"}, headers=_h(settings, people, "moderator")
        ).status_code
        == 403
    )
    response = client.patch(
        url,
        json={"title": "Koffie en taart", "district_id": None},
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Koffie en taart"
    assert response.json()["city_wide"] is True
    assert client.get(url).json()["title"] == "Koffie en taart"


def test_patch_with_unknown_field_is_400(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    response = client.patch(
        f"/api/v1/proposals/{created['id']}",
        json={"status": "accepted"},
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 400
    assert client.get(f"/api/v1/proposals/{created['id']}").json()["status"] == "submitted"


def test_edits_after_voting_opens_are_409(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    headers = _h(settings, people, "resident")
    created = create_proposal(client, settings, ids, headers)
    other = create_proposal(client, settings, ids, headers, title="Tweede voorstel hier")
    mod = _h(settings, people, "moderator")
    client.post(
        f"/api/v1/proposals/{created['id']}/review",
        json={
            "decision": "accepted",
            "municipal_cost_cents": 1_000_000,
            "public_reasoning": "Goed plan.",
        },
        headers=mod,
    )
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    move_round(settings, ids.round_id, Phase.VOTING, people.admin)
    url = f"/api/v1/proposals/{created['id']}"
    before = client.get(url).json()
    assert (
        client.patch(url, json={"title": "Te laat gewijzigd"}, headers=headers).status_code == 409
    )
    assert client.post(f"{url}/withdraw", headers=headers).status_code == 409
    review = client.post(
        f"{url}/review",
        json={"decision": "accepted", "municipal_cost_cents": 1, "public_reasoning": "Goedkoper."},
        headers=mod,
    )
    assert review.status_code == 409
    merge = client.post(
        f"/api/v1/proposals/{other['id']}/merge",
        json={"into_id": created["id"], "reason": "Dubbel"},
        headers=mod,
    )
    assert merge.status_code == 409
    assert client.put(f"{url}/supports", headers=_h(settings, people, "other")).status_code == 409
    after = client.get(url).json()
    assert after["municipal_cost_cents"] == before["municipal_cost_cents"] == 1_000_000
    assert after["title"] == before["title"]
    new = client.post(
        f"/api/v1/rounds/{ids.round_id}/proposals", json=valid_body(ids), headers=headers
    )
    assert new.status_code == 409


def test_withdrawn_proposal_is_hidden_from_others(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    headers = _h(settings, people, "resident")
    created = create_proposal(client, settings, ids, headers)
    assert (
        client.post(
            f"/api/v1/proposals/{created['id']}/withdraw", headers=_h(settings, people, "other")
        ).status_code
        == 403
    )
    response = client.post(f"/api/v1/proposals/{created['id']}/withdraw", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert client.get(f"/api/v1/proposals/{created['id']}").status_code == 404
    assert client.get(f"/api/v1/proposals/{created['id']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/rounds/{ids.round_id}/proposals").json()["total"] == 0
    again = client.post(f"/api/v1/proposals/{created['id']}/withdraw", headers=headers)
    assert again.status_code == 409


# --- co-authors ---------------------------------------------------------------------------------


def _invite(
    client: Client, settings: Settings, people: People, proposal_id: int, email: str, **extra: Any
) -> Any:
    return client.post(
        f"/api/v1/proposals/{proposal_id}/coauthors",
        json={"email": email, **extra},
        headers=_h(settings, people, "resident"),
    )


def _accept(client: Client, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/invitations/accept", json=body, headers=headers)


def test_inviting_answers_the_same_for_addresses_with_and_without_an_account(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    known = _invite(client, settings, people, created["id"], "bram@example.nl")
    unknown = _invite(client, settings, people, created["id"], "niemand@example.nl")
    assert known.status_code == unknown.status_code == 201
    volatile = {"id", "email", "created_at", "expires_at"}
    strip = lambda body: {k: v for k, v in body.items() if k not in volatile}  # noqa: E731
    assert strip(known.json()) == strip(unknown.json())
    assert known.json()["status"] == "pending"
    assert {m["To"] for m in mails(settings)} == {"bram@example.nl", "niemand@example.nl"}
    # Nobody is credited before accepting; the token is nowhere in the answer.
    credits = client.get(f"/api/v1/proposals/{created['id']}").json()["credits"]
    assert [c["role"] for c in credits] == ["author"]
    token = invitation_token(settings, "bram@example.nl")
    assert token not in known.text


def test_invitee_accepts_once_as_organisation_and_may_edit(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    url = f"/api/v1/proposals/{created['id']}"
    assert _invite(client, settings, people, created["id"], "bram@example.nl").status_code == 201
    token = invitation_token(settings, "bram@example.nl")
    bram = _h(settings, people, "other")
    assert client.patch(url, json={"summary": "Nog niet."}, headers=bram).status_code == 403
    accepted = _accept(client, bram, token=token, organisation_name=" Stichting  Buurtzorg ")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    credits = client.get(url).json()["credits"]
    assert {(c["display_name"], c["role"], c["organisation_name"]) for c in credits} == {
        ("Anna de Vries", "author", None),
        ("Bram Jansen", "coauthor", "Stichting Buurtzorg"),
    }
    edit = client.patch(url, json={"summary": "Door Bram aangevuld."}, headers=bram)
    assert edit.status_code == 200
    again = _accept(client, bram, token=token)
    assert again.status_code == 409
    assert "al aangenomen" in again.json()["detail"]
    decline = client.post("/api/v1/invitations/decline", json={"token": token}, headers=bram)
    assert decline.status_code == 409
    # The co-author can step back; then editing is over for them.
    leave = client.delete(f"{url}/coauthors/{people.other}", headers=bram)
    assert leave.status_code == 200
    assert client.patch(url, json={"summary": "Nog eens."}, headers=bram).status_code == 403


def test_an_accepted_coauthor_can_invite_too_and_the_author_can_remove(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    url = f"/api/v1/proposals/{created['id']}"
    _invite(client, settings, people, created["id"], "bram@example.nl")
    bram = _h(settings, people, "other")
    assert (
        _accept(client, bram, token=invitation_token(settings, "bram@example.nl")).status_code
        == 200
    )
    by_coauthor = client.post(f"{url}/coauthors", json={"email": "carla@example.nl"}, headers=bram)
    assert by_coauthor.status_code == 201
    pending = client.get(f"{url}/invitations", headers=_h(settings, people, "resident"))
    assert [i["email"] for i in pending.json()] == ["carla@example.nl"]
    assert pending.json()[0]["invited_by"] == "Bram Jansen"
    removed = client.delete(
        f"{url}/coauthors/{people.other}", headers=_h(settings, people, "resident")
    )
    assert removed.status_code == 200
    assert [c["role"] for c in removed.json()["credits"]] == ["author"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"email": "geen-adres"}, 422, "email"),
        ({"email": ""}, 422, "email"),
        ({"email": "a" * 250 + "@example.nl"}, 422, "email"),
        ({"email": "carla@example.nl", "message": "x" * 501}, 422, "message"),
        ({"email": "carla@example.nl", "message": "bel\x00mij"}, 422, "message"),
        ({"email": "carla@example.nl", "role": "author"}, 400, None),
        ({"email": ["carla@example.nl"]}, 400, None),
        ({}, 400, None),
    ],
)
def test_bad_invitations_are_refused_without_a_row_or_mail(
    client: Client,
    settings: Settings,
    people: People,
    ids: RoundIds,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    response = client.post(
        f"/api/v1/proposals/{created['id']}/coauthors",
        json=body,
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == status, response.text
    if field is not None:
        assert field in response.json()["errors"]
    assert scalar(settings, "SELECT count(*) FROM proposal_invitations") == 0
    assert mails(settings) == []


def test_invitation_limits_and_who_may_invite(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    pid = created["id"]
    url = f"/api/v1/proposals/{pid}/coauthors"
    body = {"email": "carla@example.nl"}
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=_h(settings, people, "moderator")).status_code == 403
    assert client.post(url, json=body, headers=_h(settings, people, "other")).status_code == 403
    credited = _invite(client, settings, people, pid, "Anna@Example.nl")
    assert credited.status_code == 409
    assert "staat al als indiener" in credited.json()["detail"]
    assert _invite(client, settings, people, pid, "carla@example.nl").status_code == 201
    duplicate = _invite(client, settings, people, pid, " CARLA@example.nl ")
    assert duplicate.status_code == 409
    assert "uitnodiging open" in duplicate.json()["detail"]
    for n in range(2, 11):
        assert _invite(client, settings, people, pid, f"p{n}@example.nl").status_code == 201
    over = _invite(client, settings, people, pid, "p11@example.nl")
    assert over.status_code == 409
    assert "10 uitnodigingen" in over.json()["detail"]
    assert scalar(settings, "SELECT count(*) FROM proposal_invitations") == 10
    # An expired invitation no longer counts and no longer blocks its address.
    expire(settings, "carla@example.nl")
    assert _invite(client, settings, people, pid, "carla@example.nl").status_code == 201
    assert (
        scalar(
            settings,
            "SELECT count(*) FROM proposal_invitations WHERE email = 'carla@example.nl'",
        )
        == 2
    )


def test_bad_expired_revoked_and_closed_tokens_get_clear_4xx(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    pid = created["id"]
    bram = _h(settings, people, "other")
    for email in ("bram@example.nl", "oud@example.nl", "weg@example.nl"):
        assert _invite(client, settings, people, pid, email).status_code == 201
    token = invitation_token(settings, "bram@example.nl")
    wrong = _accept(client, bram, token=token[:-2] + "xx")
    assert wrong.status_code == 404
    assert "bestaat niet" in wrong.json()["detail"]
    assert _accept(client, bram, token="x" * 5000).status_code == 404
    assert _accept(client, bram).status_code == 422
    assert _accept(client, bram, token=token, invitation_id=1).status_code == 422
    assert _accept(client, bram, token=token, extra=1).status_code == 400
    assert _accept(client, bram, token=123).status_code == 400
    assert _accept(client, bram, token=token, organisation_name="x" * 201).status_code == 422
    expire(settings, "oud@example.nl")
    expired = _accept(client, bram, token=invitation_token(settings, "oud@example.nl"))
    assert expired.status_code == 409
    assert "verlopen" in expired.json()["detail"]
    invitation_id = scalar(
        settings, "SELECT id FROM proposal_invitations WHERE email = 'weg@example.nl'"
    )
    revoke_url = f"/api/v1/proposals/{pid}/invitations/{invitation_id}"
    assert client.delete(revoke_url, headers=bram).status_code == 403
    assert client.delete(revoke_url, headers=_h(settings, people, "resident")).status_code == 204
    assert client.delete(revoke_url, headers=_h(settings, people, "resident")).status_code == 409
    revoked = _accept(client, bram, token=invitation_token(settings, "weg@example.nl"))
    assert revoked.status_code == 409
    assert "ingetrokken" in revoked.json()["detail"]
    missing = client.delete(
        f"/api/v1/proposals/{pid}/invitations/987654", headers=_h(settings, people, "resident")
    )
    assert missing.status_code == 404
    # Withdrawing the proposal makes the remaining invitation useless.
    withdrawn = client.post(
        f"/api/v1/proposals/{pid}/withdraw", headers=_h(settings, people, "resident")
    )
    assert withdrawn.status_code == 200
    closed = _accept(client, bram, token=token)
    assert closed.status_code == 409
    assert scalar(settings, "SELECT count(*) FROM proposal_authors") == 1


def test_only_residents_accept_and_anyone_logged_in_may_decline(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    _invite(client, settings, people, created["id"], "toetser@gemeente.nl")
    token = invitation_token(settings, "toetser@gemeente.nl")
    moderator = _h(settings, people, "moderator")
    assert _accept(client, moderator, token=token).status_code == 403
    assert client.post("/api/v1/invitations/accept", json={"token": token}).status_code == 401
    declined = client.post("/api/v1/invitations/decline", json={"token": token}, headers=moderator)
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    assert _accept(client, _h(settings, people, "other"), token=token).status_code == 409


def test_invitee_sees_own_invitations_and_answers_by_id(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    _invite(client, settings, people, created["id"], "bram@example.nl", message="Doe je mee?")
    _invite(client, settings, people, created["id"], "iemand@example.nl")
    bram = _h(settings, people, "other")
    mine = client.get("/api/v1/me/invitations", headers=bram)
    assert mine.status_code == 200
    assert [(i["email"], i["message"]) for i in mine.json()] == [("bram@example.nl", "Doe je mee?")]
    assert client.get("/api/v1/me/invitations").status_code == 401
    others = scalar(
        settings, "SELECT id FROM proposal_invitations WHERE email = 'iemand@example.nl'"
    )
    # By id only for an invitation sent to one's own address: other ids look unknown.
    assert _accept(client, bram, invitation_id=others).status_code == 404
    accepted = _accept(client, bram, invitation_id=mine.json()[0]["id"])
    assert accepted.status_code == 200
    assert client.get("/api/v1/me/invitations", headers=bram).json() == []
    listing = client.get(
        f"/api/v1/proposals/{created['id']}/invitations", headers=_h(settings, people, "resident")
    )
    assert [i["email"] for i in listing.json()] == ["iemand@example.nl"]
    assert (
        client.get(f"/api/v1/proposals/{created['id']}/invitations", headers=bram).status_code
        == 200
    )


# --- supports -----------------------------------------------------------------------------------


def test_support_once_per_resident_and_withdrawable(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    url = f"/api/v1/proposals/{created['id']}/supports"
    assert client.put(url).status_code == 401
    assert client.put(url, headers=_h(settings, people, "moderator")).status_code == 403
    first = client.put(url, headers=_h(settings, people, "other"))
    second = client.put(url, headers=_h(settings, people, "other"))
    assert first.status_code == second.status_code == 200
    assert second.json() == {"proposal_id": created["id"], "supported": True, "support_count": 1}
    carla = bearer(settings, make_user(settings, "carla@example.nl", display_name="Carla"))
    client.put(url, headers=carla)
    assert client.get(f"/api/v1/proposals/{created['id']}").json()["support_count"] == 2
    taken = client.delete(url, headers=_h(settings, people, "other"))
    assert taken.json() == {"proposal_id": created["id"], "supported": False, "support_count": 1}
    assert scalar(settings, "SELECT count(*) FROM proposal_supports") == 1


def test_supports_refused_when_round_does_not_collect_them(
    client: Client, settings: Settings, people: People
) -> None:
    quiet = make_round(settings, supports=False)
    created = create_proposal(client, settings, quiet, _h(settings, people, "resident"))
    response = client.put(
        f"/api/v1/proposals/{created['id']}/supports", headers=_h(settings, people, "other")
    )
    assert response.status_code == 409
    assert scalar(settings, "SELECT count(*) FROM proposal_supports") == 0


def test_cannot_support_a_draft(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    draft = create_proposal(client, settings, ids, _h(settings, people, "resident"), submit=False)
    response = client.put(
        f"/api/v1/proposals/{draft['id']}/supports", headers=_h(settings, people, "other")
    )
    assert response.status_code == 404


# --- review and merge ---------------------------------------------------------------------------


def test_moderator_reviews_authors_are_mailed_and_audit_logged(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    url = f"/api/v1/proposals/{created['id']}/review"
    body = {
        "decision": "accepted",
        "public_reasoning": "Past goed.",
        "feasibility_notes": "Team X kan dit.",
    }
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=_h(settings, people, "resident")).status_code == 403
    assert client.post(url, json=body, headers=_h(settings, people, "admin")).status_code == 403
    missing_cost = client.post(url, json=body, headers=_h(settings, people, "moderator"))
    assert missing_cost.status_code == 422
    assert "municipal_cost_cents" in missing_cost.json()["errors"]
    negative = client.post(
        url, json={**body, "municipal_cost_cents": -5}, headers=_h(settings, people, "moderator")
    )
    assert negative.status_code == 422
    bad_decision = client.post(
        url, json={**body, "decision": "maybe"}, headers=_h(settings, people, "moderator")
    )
    assert bad_decision.status_code == 400
    assert table_counts(settings)["audit_log"] == 0
    response = client.post(
        url,
        json={**body, "municipal_cost_cents": 1_100_000},
        headers=_h(settings, people, "moderator"),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["feasibility_notes"] == "Team X kan dit."
    public = client.get(f"/api/v1/proposals/{created['id']}").json()
    assert public["municipal_cost_cents"] == 1_100_000
    assert public["public_reasoning"] == "Past goed."
    assert public["feasibility_notes"] is None
    as_author = client.get(
        f"/api/v1/proposals/{created['id']}", headers=_h(settings, people, "resident")
    )
    assert as_author.json()["feasibility_notes"] is None
    sent = [m for m in mails(settings) if m["To"] == "anna@example.nl"]
    assert sent
    assert "goedgekeurd" in str(sent[-1]["Subject"])
    assert (
        scalar(
            settings,
            "SELECT count(*) FROM audit_log WHERE action = 'proposal.review' AND actor_id = :a "
            "AND subject_id = :s AND reason = 'Past goed.'",
            a=people.moderator,
            s=str(created["id"]),
        )
        == 1
    )


def test_review_queue_lists_waiting_proposals_for_moderators_only(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    waiting = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    create_proposal(client, settings, ids, _h(settings, people, "resident"), submit=False)
    assert client.get("/api/v1/review/proposals").status_code == 401
    assert (
        client.get("/api/v1/review/proposals", headers=_h(settings, people, "resident")).status_code
        == 403
    )
    queue = client.get("/api/v1/review/proposals", headers=_h(settings, people, "moderator"))
    assert [p["id"] for p in queue.json()] == [waiting["id"]]


def test_support_threshold_decides_what_reaches_review(
    client: Client, settings: Settings, people: People
) -> None:
    """With a threshold of 2 supports, a proposal with one support is not in the moderators'
    queue and cannot be accepted onto the ballot (409); it can still be rejected."""
    ids = make_round(settings, support_threshold=2)
    resident, other = _h(settings, people, "resident"), _h(settings, people, "other")
    popular = create_proposal(client, settings, ids, resident)
    lonely = create_proposal(client, settings, ids, resident, title="Bankje bij de bushalte")
    carla = bearer(settings, make_user(settings, "carla@example.nl", display_name="Carla"))
    for who in (other, carla):  # not the author: her own support is refused
        assert client.put(f"/api/v1/proposals/{popular['id']}/supports", headers=who).is_success
    assert client.put(f"/api/v1/proposals/{lonely['id']}/supports", headers=other).is_success

    mod = _h(settings, people, "moderator")
    queue = client.get("/api/v1/review/proposals", headers=mod)
    assert [p["id"] for p in queue.json()] == [popular["id"]]
    page = client.get("/toetsing", headers=mod)
    assert page.status_code == 200
    waiting, _, collecting = page.text.partition('id="te-weinig-steun"')
    assert "Koffieochtend voor ouderen" in waiting
    assert "Bankje bij de bushalte" in collecting
    assert "Bankje bij de bushalte" not in waiting

    before = table_counts(settings)
    accept = {"decision": "accepted", "municipal_cost_cents": 1_000_000, "public_reasoning": "Ok."}
    refused = client.post(f"/api/v1/proposals/{lonely['id']}/review", json=accept, headers=mod)
    assert refused.status_code == 409, refused.text
    assert "1 van de 2 steunbetuigingen" in refused.json()["detail"]
    assert table_counts(settings) == before
    # The moderator's form says the same, in Dutch on the page.
    form = {
        "_csrf_token": csrf_token(client),
        "decision": "accepted",
        "municipal_cost": "10.000",
        "feasibility_notes": "",
        "public_reasoning": "Ok.",
    }
    page = client.post(f"/voorstellen/{lonely['id']}/toetsing", data=form, headers=mod)
    assert page.status_code == 409, page.text
    assert "1 van de 2 steunbetuigingen" in page.text
    assert table_counts(settings) == before
    accepted = client.post(f"/api/v1/proposals/{popular['id']}/review", json=accept, headers=mod)
    assert accepted.status_code == 200, accepted.text
    reject = {"decision": "rejected", "public_reasoning": "Te weinig draagvlak."}
    rejected = client.post(f"/api/v1/proposals/{lonely['id']}/review", json=reject, headers=mod)
    assert rejected.status_code == 200, rejected.text


def test_merge_keeps_every_author_credited(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    a = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    b = create_proposal(
        client, settings, ids, _h(settings, people, "other"), title="Koffie in Noord"
    )
    client.put(f"/api/v1/proposals/{a['id']}/supports", headers=_h(settings, people, "other"))
    client.put(f"/api/v1/proposals/{b['id']}/supports", headers=_h(settings, people, "other"))
    carla = bearer(settings, make_user(settings, "carla@example.nl", display_name="Carla"))
    client.put(f"/api/v1/proposals/{a['id']}/supports", headers=carla)
    mod = _h(settings, people, "moderator")
    url = f"/api/v1/proposals/{a['id']}/merge"
    assert (
        client.post(
            url,
            json={"into_id": b["id"], "reason": "Dubbel"},
            headers=_h(settings, people, "resident"),
        ).status_code
        == 403
    )
    assert (
        client.post(url, json={"into_id": a["id"], "reason": "Zelf"}, headers=mod).status_code
        == 422
    )
    assert (
        client.post(url, json={"into_id": 987654, "reason": "Weg"}, headers=mod).status_code == 422
    )
    assert (
        client.post(url, json={"into_id": b["id"], "reason": " "}, headers=mod).status_code == 422
    )
    response = client.post(url, json={"into_id": b["id"], "reason": "Zelfde idee."}, headers=mod)
    assert response.status_code == 200
    target = response.json()
    assert target["id"] == b["id"]
    assert {c["user_id"] for c in target["credits"]} == {people.resident, people.other}
    assert target["support_count"] == 2  # Bram once (not twice), Carla moved over
    source = client.get(f"/api/v1/proposals/{a['id']}").json()
    assert source["status"] == "merged"
    assert source["merged_into_id"] == b["id"]
    assert scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'proposal.merge'") == 1
    again = client.post(url, json={"into_id": b["id"], "reason": "Nog eens"}, headers=mod)
    assert again.status_code == 409


# --- gallery ------------------------------------------------------------------------------------


def test_gallery_filters_search_sort_and_page(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = _h(settings, people, "resident")
    p1 = create_proposal(
        client, settings, ids, h, title="Moestuin voor iedereen", estimated_cost_cents=900_000
    )
    p2 = create_proposal(
        client,
        settings,
        ids,
        h,
        title="Schuldhulp op school",
        theme_id=ids.themes[2],
        district_id=None,
        estimated_cost_cents=300_000,
        description="Voorlichting 100% gratis",
    )
    p3 = create_proposal(
        client,
        settings,
        ids,
        h,
        title="Zuid beweegt samen",
        district_id=ids.districts[1],
        estimated_cost_cents=600_000,
    )
    client.put(f"/api/v1/proposals/{p3['id']}/supports", headers=_h(settings, people, "other"))
    base = f"/api/v1/rounds/{ids.round_id}/proposals"

    def got(query: str) -> list[int]:
        response = client.get(f"{base}?{query}")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert got(f"theme={ids.themes[2]}") == [p2["id"]]
    assert got(f"district={ids.districts[1]}") == [p3["id"]]
    assert got("district=stad") == [p2["id"]]
    assert got("q=MOESTUIN") == [p1["id"]]
    assert got("q=100%25") == [p2["id"]]  # LIKE wildcards are literal
    assert got("q=_") == []
    assert got("sort=cost") == [p2["id"], p3["id"], p1["id"]]
    assert got("sort=title") == [p1["id"], p2["id"], p3["id"]]
    assert got("sort=supports")[0] == p3["id"]
    assert got("status=accepted") == []
    assert got("status=submitted&page=1") == [p3["id"], p2["id"], p1["id"]]
    assert got("page=2") == []


@pytest.mark.parametrize(
    "query",
    [
        "theme=abc",
        "district=x1",
        "status=bogus",
        "sort=random",
        "page=0",
        "page=-1",
        "page=zz",
        "q=" + "a" * 201,
    ],
)
def test_gallery_rejects_bad_filters(client: Client, ids: RoundIds, query: str) -> None:
    response = client.get(f"/api/v1/rounds/{ids.round_id}/proposals?{query}")
    assert response.status_code == 422
    assert response.json()["detail"] == "Ongeldige filter."


def test_gallery_of_a_round_in_preparation_is_not_found(
    client: Client, settings: Settings, people: People
) -> None:
    draft_round = make_round(settings, phase=Phase.DRAFT)
    url = f"/api/v1/rounds/{draft_round.round_id}/proposals"
    assert client.get(url).status_code == 404
    assert client.get(url, headers=_h(settings, people, "resident")).status_code == 404
    assert client.get(url, headers=_h(settings, people, "admin")).status_code == 200
    assert client.get(f"/rondes/{draft_round.round_id}/voorstellen").status_code == 404
