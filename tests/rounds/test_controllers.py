"""The rounds and audit-log API for every role: reading, set-up, phases, 409 after freezing,
4xx on bad input with nothing written."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.rounds.factories import api_round_data, db_counts, ready_for_voting

Client = TestClient[Litestar]
TABLES = ("rounds", "districts", "themes", "audit_log")


def _headers(settings: Settings, role: Role) -> dict[str, str]:
    user_id = make_user(settings, f"{role.value}@example.nl", roles=(role,))
    return bearer(settings, user_id, staff=role != Role.RESIDENT)


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return _headers(settings, Role.ADMIN)


def _create(client: Client, admin: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/rounds", json=api_round_data(**overrides), headers=admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _move(client: Client, admin: dict[str, str], round_id: int, phase: str) -> Any:
    return client.post(
        f"/api/v1/rounds/{round_id}/phase",
        json={"phase": phase, "reason": f"naar {phase}"},
        headers=admin,
    )


def _open_voting(
    client: Client, admin: dict[str, str], round_id: int, settings: Settings
) -> dict[str, Any]:
    for phase in ("submission", "review", "voting"):
        if phase == "voting":
            ready_for_voting(settings.database_url, round_id)
        response = _move(client, admin, round_id, phase)
        assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_admin_creates_a_round_and_everyone_reads_it_once_public(
    client: Client, admin: dict[str, str]
) -> None:
    created = _create(client, admin)
    assert created["phase"] == "draft"
    assert created["total_budget_cents"] == 45_000_000
    assert [d["name"] for d in created["districts"]] == ["Centrum", "Noord", "Zuid"]
    assert created["voting_starts_at"] == "2027-03-11T09:00:00Z"
    round_id = created["id"]

    # A draft is invisible to everyone but admins.
    assert client.get(f"/api/v1/rounds/{round_id}").status_code == 404
    assert client.get("/api/v1/rounds").json() == []
    assert client.get(f"/api/v1/rounds/{round_id}", headers=admin).status_code == 200
    assert [r["id"] for r in client.get("/api/v1/rounds", headers=admin).json()] == [round_id]

    assert _move(client, admin, round_id, "submission").status_code == 200
    public = client.get(f"/api/v1/rounds/{round_id}")
    assert public.status_code == 200
    assert public.json()["phase"] == "submission"
    assert public.json()["phase_ends_at"] == "2027-02-09T09:00:00Z"
    assert [r["id"] for r in client.get("/api/v1/rounds").json()] == [round_id]


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.MODERATOR, Role.COUNCIL, Role.AUDITOR])
def test_only_admins_write(client: Client, settings: Settings, role: Role) -> None:
    headers = _headers(settings, role)
    assert client.post("/api/v1/rounds", json=api_round_data(), headers=headers).status_code == 403
    assert client.post("/api/v1/rounds", json=api_round_data()).status_code == 401
    assert client.patch("/api/v1/rounds/1", json={"title": "x"}, headers=headers).status_code == 403
    assert (
        client.post(
            "/api/v1/rounds/1/phase", json={"phase": "submission", "reason": "x"}, headers=headers
        ).status_code
        == 403
    )
    assert db_counts(settings, *TABLES) == dict.fromkeys(TABLES, 0)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"total_budget_cents": -100}, 422, "total_budget_cents"),
        ({"total_budget_cents": 10**14}, 422, "total_budget_cents"),
        ({"total_budget_cents": "veel"}, 400, None),
        ({"title": "x" * 500}, 422, "title"),
        ({"voting_starts_at": "2027-01-01T09:00:00+01:00"}, 422, "voting_starts_at"),
        ({"voting_starts_at": "2027-03-11T09:00:00"}, 422, "voting_starts_at"),
        ({"voting_starts_at": "morgen"}, 400, None),
        ({"ballot_type": "approval", "approval_max_k": 0}, 422, "approval_max_k"),
        ({"min_projects": 4, "max_projects": 3}, 422, "max_projects"),
        ({"districts": [{"name": "Centrum", "budget_cents": 5}]}, 422, "districts"),
        (
            {"districts": [{"name": "Centrum", "budget_cents": 45_000_000, "kleur": "rood"}]},
            400,
            None,
        ),
        ({"themes": [{"name": ""}]}, 422, "themes.0.name"),
        ({"counting_rule": "loting"}, 422, "counting_rule"),
        ({"onbekend": 1}, 400, None),
        ({"total_budget_cents": 2**70}, 422, "total_budget_cents"),  # beyond int64
        ({"total_budget_cents": 45_000_000.5}, 400, None),  # half a cent
        ({"min_age": 2**64}, 422, "min_age"),
        ({"min_age": "\u0661\u0662"}, 400, None),  # Arabic-Indic digits
        ({"description": "x" * 20_001}, 422, "description"),
        ({"districts": [{"name": "x" * 101, "budget_cents": 45_000_000}]}, 422, "districts.0.name"),
        ({"themes": [{"name": "Armoede", "id": 12345}]}, 422, "themes.0.name"),
        ({"ballot_type": "choose-1", "max_projects": 10}, 422, "max_projects"),
        ({"approval_max_k": 3}, 422, "approval_max_k"),
        ({"vote_by_code": False, "vote_by_account": False}, 422, "vote_by_code"),
        ({"published_starts_at": "2027-03-01T09:00:00Z"}, 422, "published_starts_at"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_nothing_is_written(
    client: Client,
    settings: Settings,
    admin: dict[str, str],
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    response = client.post("/api/v1/rounds", json=api_round_data(**body), headers=admin)
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["detail"]
    if field is not None:
        assert field in problem["errors"], problem
    assert db_counts(settings, *TABLES) == dict.fromkeys(TABLES, 0)


@pytest.mark.parametrize("round_id", ["99999999999999999999", str(2**63), str(2**31), "0"])
def test_ids_beyond_the_database_range_are_not_found(
    client: Client, settings: Settings, admin: dict[str, str], round_id: str
) -> None:
    """An id no id column can hold used to reach the driver and come back as a 500."""
    for method, url, body in (
        ("GET", f"/api/v1/rounds/{round_id}", None),
        ("GET", f"/api/v1/rounds/{round_id}/definition", None),
        ("PATCH", f"/api/v1/rounds/{round_id}", {"title": "Nieuw"}),
        ("POST", f"/api/v1/rounds/{round_id}/phase", {"phase": "submission", "reason": "x"}),
        ("GET", f"/rondes/{round_id}", None),
        ("GET", f"/beheer/rondes/{round_id}/bewerken", None),
        ("GET", f"/beheer/rondes/{round_id}/fase", None),
    ):
        response = client.request(method, url, json=body, headers=admin)
        assert response.status_code == 404, (method, url, response.text)
    assert db_counts(settings, *TABLES) == dict.fromkeys(TABLES, 0)


def test_unknown_district_or_theme_ids_in_a_patch_change_nothing(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    created = _create(client, admin)
    other = _create(client, admin, title="Andere ronde")
    before = db_counts(settings, *TABLES)
    foreign = other["districts"][0]["id"]
    for body, field in (
        (
            {"districts": [{"id": foreign, "name": "Centrum", "budget_cents": 45_000_000}]},
            "districts.0.name",
        ),
        ({"themes": [{"id": other["themes"][0]["id"], "name": "Eenzaamheid"}]}, "themes.0.name"),
        ({"themes": [{"id": 2**70, "name": "Eenzaamheid"}]}, "themes.0.name"),
        ({"themes": [{"id": 2**31, "name": "Eenzaamheid"}]}, "themes.0.name"),
    ):
        response = client.patch(f"/api/v1/rounds/{created['id']}", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert field in response.json()["errors"]
        assert response.json()["detail"]
    assert db_counts(settings, *TABLES) == before
    assert client.get(f"/api/v1/rounds/{other['id']}", headers=admin).json() == other


def test_writes_must_be_json(client: Client, settings: Settings, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/rounds",
        content=b'{"title": "x", "total_budget_cents": 100}',
        headers={**admin, "content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert db_counts(settings, "rounds")["rounds"] == 0


def test_patch_changes_given_fields_and_logs_the_reason(
    client: Client, admin: dict[str, str]
) -> None:
    created = _create(client, admin)
    response = client.patch(
        f"/api/v1/rounds/{created['id']}",
        json={"description": "Aangepast", "min_age": None, "reason": "leeftijd vervalt"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["description"], body["min_age"], body["title"]) == (
        "Aangepast",
        None,
        created["title"],
    )
    log = client.get("/api/v1/audit-log", headers=admin).json()
    assert [e["action"] for e in log["items"]] == ["round.update", "round.create"]
    assert log["items"][0]["reason"] == "leeftijd vervalt"
    assert log["items"][0]["actor_name"] == "Inwoner Test"  # make_user's default display name


def test_patch_with_bad_input_changes_nothing(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    created = _create(client, admin)
    before = db_counts(settings, *TABLES)
    response = client.patch(
        f"/api/v1/rounds/{created['id']}",
        json={"description": "Nieuw", "review_starts_at": "2026-01-01T00:00:00Z"},
        headers=admin,
    )
    assert response.status_code == 422
    assert "review_starts_at" in response.json()["errors"]
    assert (
        client.get(f"/api/v1/rounds/{created['id']}", headers=admin).json()["description"]
        == (created["description"])
    )
    assert db_counts(settings, *TABLES) == before
    assert (
        client.patch("/api/v1/rounds/999999", json={"title": "x"}, headers=admin).status_code == 404
    )


def test_phase_moves_need_the_next_phase_and_a_reason(
    client: Client, admin: dict[str, str]
) -> None:
    round_id = _create(client, admin)["id"]
    assert _move(client, admin, round_id, "voting").status_code == 409
    assert _move(client, admin, round_id, "gesloten").status_code == 422
    no_reason = client.post(
        f"/api/v1/rounds/{round_id}/phase",
        json={"phase": "submission", "reason": " "},
        headers=admin,
    )
    assert no_reason.status_code == 422
    assert "reason" in no_reason.json()["errors"]
    assert (
        client.post(
            f"/api/v1/rounds/{round_id}/phase", json={"phase": "submission"}, headers=admin
        ).status_code
        == 400
    )
    assert client.get(f"/api/v1/rounds/{round_id}", headers=admin).json()["phase"] == "draft"
    assert _move(client, admin, round_id, "submission").status_code == 200
    assert _move(client, admin, round_id, "submission").status_code == 409


def test_after_voting_opens_count_edits_are_409_and_the_fingerprint_is_public(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    round_id = _create(client, admin)["id"]
    assert client.get(f"/api/v1/rounds/{round_id}/definition", headers=admin).status_code == 409
    opened = _open_voting(client, admin, round_id, settings)
    assert opened["frozen"] is True
    fingerprint = opened["fingerprint"]
    assert len(fingerprint) == 64

    definition = client.get(f"/api/v1/rounds/{round_id}/definition")
    assert definition.status_code == 200
    assert hashlib.sha256(definition.content).hexdigest() == fingerprint
    assert definition.headers["x-round-fingerprint"] == fingerprint

    before = db_counts(settings, *TABLES)
    for change in (
        {"total_budget_cents": 1},
        {"counting_rule": "mes"},
        {"themes": [{"name": "Dementie"}]},
        {"ballot_type": "approval", "approval_max_k": 3},
    ):
        response = client.patch(f"/api/v1/rounds/{round_id}", json=change, headers=admin)
        assert response.status_code == 409, (change, response.text)
        assert "stemmen is geopend" in response.json()["detail"]
    assert db_counts(settings, *TABLES) == before

    ok = client.patch(
        f"/api/v1/rounds/{round_id}",
        json={"description": "Ook stemmen in de bibliotheek."},
        headers=admin,
    )
    assert ok.status_code == 200
    assert ok.json()["fingerprint"] == fingerprint
    assert client.get(f"/api/v1/rounds/{round_id}").json()["fingerprint"] == fingerprint


@pytest.mark.parametrize("role", [None, Role.RESIDENT, Role.MODERATOR, Role.COUNCIL])
def test_audit_log_is_for_admins_and_auditors_only(
    client: Client, settings: Settings, role: Role | None
) -> None:
    headers = _headers(settings, role) if role else {}
    expected = 401 if role is None else 403
    assert client.get("/api/v1/audit-log", headers=headers).status_code == expected


def test_auditor_reads_the_log_in_pages(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    round_id = _create(client, admin)["id"]
    _move(client, admin, round_id, "submission")
    auditor = _headers(settings, Role.AUDITOR)
    first = client.get("/api/v1/audit-log?per_page=1", headers=auditor).json()
    assert (first["total"], first["pages"], first["page"]) == (2, 2, 1)
    assert first["items"][0]["action"] == "round.phase"
    assert first["items"][0]["details"] == {"from": "draft", "to": "submission"}
    second = client.get("/api/v1/audit-log?per_page=1&page=2", headers=auditor).json()
    assert second["items"][0]["action"] == "round.create"
    assert client.get("/api/v1/audit-log?page=0", headers=auditor).status_code == 400
    assert client.get("/api/v1/audit-log?per_page=100000", headers=auditor).status_code == 400


def test_the_counting_settings_go_through_the_api_and_bad_ones_are_field_errors(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    created = _create(
        client,
        admin,
        ballot_type="ranked",
        max_projects=3,
        ranked_scores=[3, 2, 1],
        greedy_threshold=2,
        tie_break_seed="trekking",
        export_public=True,
    )
    assert created["ranked_scores"] == [3, 2, 1]
    assert created["tie_break_order"] is None
    assert (created["greedy_threshold"], created["greedy_no_skip"]) == (2, False)
    assert (created["leftover"], created["tie_break_seed"], created["export_public"]) == (
        "keep",
        "trekking",
        True,
    )
    url = f"/api/v1/rounds/{created['id']}"
    before = db_counts(settings, *TABLES)
    for body, field in (
        ({"counting_rule": "mes"}, "counting_rule"),
        ({"ranked_scores": [1, 2, 3]}, "ranked_scores"),
        (
            {"tie_break": "explicit", "tie_break_seed": None, "tie_break_order": [1]},
            "tie_break_order",
        ),
        ({"leftover": "fund-by-score", "themes": []}, "leftover"),
    ):
        response = client.patch(url, json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["errors"], response.text
    assert client.patch(url, json={"ranked_scores": "3,2,1"}, headers=admin).status_code == 400
    assert db_counts(settings, *TABLES) == before
    cleared = client.patch(url, json={"ranked_scores": None, "tie_break_seed": None}, headers=admin)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["ranked_scores"], cleared.json()["tie_break_seed"]) == (None, None)


DOUBLE_VOTE = (
    "In deze ronde kan iemand met een stemcode én een account twee keer stemmen. "
    "De twee stemmen zijn niet aan elkaar te koppelen. Kies één manier van stemmen als de "
    "uitslag bindend moet zijn."
)


def test_code_and_account_voting_together_is_a_warning_not_a_refusal(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    both = _create(client, admin, vote_by_code=True, vote_by_account=True, min_age=None)
    assert both["warnings"] == [DOUBLE_VOTE]
    # Voting still opens, and the opened round still says it.
    opened = _open_voting(client, admin, both["id"], settings)
    assert opened["phase"] == "voting"
    assert opened["warnings"] == [DOUBLE_VOTE]
    assert client.get(f"/api/v1/rounds/{both['id']}").json()["warnings"] == [DOUBLE_VOTE]
    client.cookies.set("taal", "en")
    assert client.get(f"/api/v1/rounds/{both['id']}").json()["warnings"] == [
        "In this round someone with a voting code and an account can vote twice. The two ballots "
        "cannot be linked to each other. Choose one way of voting if the result must be binding."
    ]
    client.cookies.delete("taal")
    one_way = _create(client, admin, title="Alleen stemcodes", vote_by_account=False, min_age=None)
    assert one_way["warnings"] == []
    switched = client.patch(
        f"/api/v1/rounds/{one_way['id']}",
        json={"vote_by_account": True, "reason": "ook met account"},
        headers=admin,
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["warnings"] == [DOUBLE_VOTE]
    # A minimum age with account voting: the age is checked for code voters only.
    aged = _create(client, admin, title="Met leeftijd", vote_by_code=False, vote_by_account=True)
    assert aged["min_age"] == 12
    assert aged["warnings"] == [
        "Deze ronde heeft een minimumleeftijd van 12 jaar, maar bij stemmen met een account wordt "
        "de leeftijd niet gecontroleerd: de inwoner geeft zelf een leeftijdsgroep op. Alleen "
        "stemcodes worden per leeftijdsgroep uit de basisregistratie uitgegeven."
    ]
