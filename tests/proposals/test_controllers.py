"""The proposals API, for every path and role, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import csrf_token, mails
from tests.proposals.factories import (
    BUDGET_CENTS,
    People,
    RoundIds,
    create_proposal,
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


# --- submitting ---------------------------------------------------------------------------------


def test_resident_submits_and_everyone_reads_it(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    assert created["status"] == "submitted"
    assert created["credits"] == [
        {"user_id": people.resident, "display_name": "Anna de Vries", "role": "author"}
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


def test_coauthor_is_credited_told_and_may_edit(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, _h(settings, people, "resident"))
    url = f"/api/v1/proposals/{created['id']}"
    unknown = client.post(
        f"{url}/coauthors",
        json={"email": "niemand@example.nl"},
        headers=_h(settings, people, "resident"),
    )
    assert unknown.status_code == 422
    assert "email" in unknown.json()["errors"]
    by_stranger = client.post(
        f"{url}/coauthors", json={"email": "bram@example.nl"}, headers=_h(settings, people, "other")
    )
    assert by_stranger.status_code == 403
    response = client.post(
        f"{url}/coauthors",
        json={"email": " Bram@Example.nl "},
        headers=_h(settings, people, "resident"),
    )
    assert response.status_code == 201
    credits = {(c["display_name"], c["role"]) for c in response.json()["credits"]}
    assert credits == {("Anna de Vries", "author"), ("Bram Jansen", "coauthor")}
    assert any(m["To"] == "bram@example.nl" for m in mails(settings))
    twice = client.post(
        f"{url}/coauthors",
        json={"email": "bram@example.nl"},
        headers=_h(settings, people, "resident"),
    )
    assert twice.status_code == 409
    edit = client.patch(
        url, json={"summary": "Door Bram aangevuld."}, headers=_h(settings, people, "other")
    )
    assert edit.status_code == 200
    # The co-author can step back; then editing is over for them.
    leave = client.delete(f"{url}/coauthors/{people.other}", headers=_h(settings, people, "other"))
    assert leave.status_code == 200
    assert (
        client.patch(
            url, json={"summary": "Nog eens."}, headers=_h(settings, people, "other")
        ).status_code
        == 403
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
    client.put(url, headers=_h(settings, people, "resident"))
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
    for who in (resident, other):
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
    client.put(f"/api/v1/proposals/{a['id']}/supports", headers=_h(settings, people, "resident"))
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
    assert target["support_count"] == 2  # Bram once (not twice), Anna moved over
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
