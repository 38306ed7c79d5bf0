"""The round pages: public overview and round page, admin list, round form, phase form, log."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, csrf_token, make_user
from tests.rounds.factories import api_round_data, db_counts, ready_for_voting

Client = TestClient[Litestar]
TABLES = ("rounds", "districts", "themes", "audit_log")


def _headers(settings: Settings, role: Role) -> dict[str, str]:
    user_id = make_user(settings, f"{role.value}@example.nl", roles=(role,))
    return bearer(settings, user_id, staff=role != Role.RESIDENT)


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return _headers(settings, Role.ADMIN)


def _api_round(
    client: Client, admin: dict[str, str], phase: str = "draft", settings: Settings | None = None
) -> dict[str, Any]:
    created: dict[str, Any] = client.post(
        "/api/v1/rounds", json=api_round_data(), headers=admin
    ).json()
    for step in ("submission", "review", "voting", "closed", "published"):
        if created["phase"] == phase:
            break
        if step == "voting":
            assert settings is not None, "opening voting needs accepted projects in the database"
            ready_for_voting(settings.database_url, created["id"])
        created = client.post(
            f"/api/v1/rounds/{created['id']}/phase",
            json={"phase": step, "reason": "test"},
            headers=admin,
        ).json()
    return created


def _form(client: Client, **fields: str) -> dict[str, str]:
    return {"_csrf_token": csrf_token(client), **fields}


NEW_ROUND = {
    "title": "Wijkbudget Zorg 2028",
    "description": "Proef met wijkbudgetten.",
    "total_budget": "120.000",
    "budget_scope": "districts",
    "district_id_0": "",
    "district_name_0": "Noord",
    "district_budget_0": "70.000",
    "district_eligible_0": "1",
    "district_id_1": "",
    "district_name_1": "Zuid",
    "district_budget_1": "50.000,00",
    "district_eligible_1": "1",
    "district_id_2": "",
    "district_name_2": "",
    "district_budget_2": "",
    "theme_id_0": "",
    "theme_name_0": "Mantelzorg",
    "theme_cap_0": "40.000",
    "theme_id_1": "",
    "theme_name_1": "Schuldhulp",
    "theme_cap_1": "",
    "submission_starts_at": "2028-02-01T09:00",
    "review_starts_at": "2028-03-01T09:00",
    "voting_starts_at": "2028-04-01T09:00",
    "closed_starts_at": "2028-04-15T17:00",
    "published_starts_at": "",
    "ballot_type": "approval",
    "approval_max_k": "3",
    "cumulative_points": "",
    "min_projects": "1",
    "max_projects": "",
    "min_budget_share": "12,5",
    "blank_ballot_allowed": "1",
    "counting_rule": "greedy",
    "tie_break": "lowest-cost",
    "min_age": "16",
    "vote_by_code": "1",
    "support_threshold": "",
}


def test_public_pages_show_rounds_but_not_drafts(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    draft = _api_round(client, admin)
    assert client.get(f"/rondes/{draft['id']}").status_code == 404
    assert draft["title"] not in client.get("/rondes").text

    voting = _api_round(client, admin, "voting", settings)
    overview = client.get("/rondes")
    assert overview.status_code == 200
    assert f'href="/rondes/{voting["id"]}"' in overview.text
    page = client.get(f"/rondes/{voting['id']}")
    assert page.status_code == 200
    assert '<html lang="nl"' in page.text
    assert voting["fingerprint"] in page.text.replace("<wbr>", "")
    assert "€ 450.000,00" in page.text or "€\xa0450.000,00" in page.text
    assert "Mantelzorg" in page.text
    # Closing is planned for 26 March 2027 09:00 UTC, 10:00 in Amsterdam (winter time). Voting
    # opened today, before its planned 11 March: the timeline's current step says today.
    assert "26 maart 2027 om 10:00" in page.text
    assert "11 maart 2027 om 10:00" not in page.text


def test_the_page_of_a_round_in_voting_leads_to_the_booth(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    """A resident who opens the round while voting runs finds the way to vote on the page itself,
    not only in the menu."""
    review = _api_round(client, admin, "review", settings)
    voting = _api_round(client, admin, "voting", settings)
    main = client.get(f"/rondes/{voting['id']}").text.split("<main", 1)[1]
    assert '<a class="utrecht-link" href="/stemmen">Naar het stembiljet</a>' in main
    assert 'href="/stemmen"' not in client.get(f"/rondes/{review['id']}").text.split("<main", 1)[1]


def test_admin_creates_a_round_with_the_form(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    assert client.get("/beheer/rondes/nieuw", headers=admin).status_code == 200
    response = client.post(
        "/beheer/rondes/nieuw",
        data=_form(client, **NEW_ROUND),
        headers=admin,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    api = client.get("/api/v1/rounds", headers=admin).json()
    (created,) = api
    assert created["total_budget_cents"] == 12_000_000
    assert [(d["name"], d["budget_cents"]) for d in created["districts"]] == [
        ("Noord", 7_000_000),
        ("Zuid", 5_000_000),
    ]
    assert [(t["name"], t["max_spend_cents"]) for t in created["themes"]] == [
        ("Mantelzorg", 4_000_000),
        ("Schuldhulp", None),
    ]
    assert created["submission_starts_at"] == "2028-02-01T08:00:00Z"  # CET → UTC
    assert created["min_budget_share_permille"] == 125
    assert (created["ballot_type"], created["approval_max_k"], created["min_age"]) == (
        "approval",
        3,
        16,
    )
    assert created["vote_by_account"] is False
    assert db_counts(settings, "audit_log")["audit_log"] == 1
    listing = client.get(response.headers["location"], headers=admin)
    assert "Wijkbudget Zorg 2028" in listing.text
    assert "opgeslagen" in listing.text


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"total_budget": "veel geld"}, "total_budget", "bedrag in euro"),
        ({"district_budget_1": "10.000"}, "districts", "tellen op tot"),
        ({"voting_starts_at": "2028-01-01T09:00"}, "voting_starts_at", "moet na"),
        ({"approval_max_k": "0"}, "approval_max_k", "minstens 1"),
        ({"title": ""}, "title", "Vul dit veld in"),
        ({"min_budget_share": "150"}, "min_budget_share", "promillage"),
    ],
)
def test_bad_form_input_is_shown_per_field_and_nothing_is_written(
    client: Client,
    settings: Settings,
    admin: dict[str, str],
    change: dict[str, str],
    field_id: str,
    message: str,
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw",
        data=_form(client, **{**NEW_ROUND, **change}),
        headers=admin,
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert 'id="foutoverzicht"' in response.text
    assert f'href="#{field_id}"' in response.text
    assert message in response.text
    # What was typed is kept.
    assert 'value="Noord"' in response.text
    assert db_counts(settings, *TABLES) == dict.fromkeys(TABLES, 0)


def test_unknown_form_fields_are_refused(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw",
        data=_form(client, **NEW_ROUND, is_admin="1"),
        headers=admin,
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert db_counts(settings, "rounds")["rounds"] == 0


def test_frozen_round_form_offers_only_editable_fields(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    voting = _api_round(client, admin, "voting", settings)
    url = f"/beheer/rondes/{voting['id']}/bewerken"
    page = client.get(url, headers=admin)
    assert page.status_code == 200
    assert 'name="total_budget"' not in page.text
    assert 'name="closed_starts_at"' in page.text
    assert voting["fingerprint"] in page.text.replace("<wbr>", "")
    response = client.post(
        url,
        data=_form(
            client,
            title=voting["title"],
            description="Stemmen kan ook in de bibliotheek.",
            closed_starts_at="2027-03-27T18:00",
            published_starts_at="",
            reason="extra stemlocatie",
        ),
        headers=admin,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    after = client.get(f"/api/v1/rounds/{voting['id']}").json()
    assert after["description"] == "Stemmen kan ook in de bibliotheek."
    assert after["closed_starts_at"] == "2027-03-27T17:00:00Z"
    assert after["fingerprint"] == voting["fingerprint"]
    # A count-affecting field smuggled into the frozen form is refused, not applied.
    smuggled = client.post(
        url,
        data=_form(client, title=voting["title"], total_budget="1"),
        headers=admin,
        follow_redirects=False,
    )
    assert smuggled.status_code == 409, smuggled.text
    assert "stemmen is geopend" in smuggled.text
    assert client.get(f"/api/v1/rounds/{voting['id']}").json()["total_budget_cents"] == 45_000_000


def test_a_form_opened_before_voting_cannot_change_the_count_after(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    """The admin opened the full form, voting opened meanwhile, then they saved: a changed
    budget is a 409 with the Dutch reason on the page, an unchanged form still saves its texts."""
    draft = _api_round(client, admin, "review")
    url = f"/beheer/rondes/{draft['id']}/bewerken"
    stale = _form_values(client.get(url, headers=admin).text)
    assert stale["total_budget"] == "450.000"
    ready_for_voting(settings.database_url, draft["id"])
    opened = client.post(
        f"/api/v1/rounds/{draft['id']}/phase",
        json={"phase": "voting", "reason": "test"},
        headers=admin,
    )
    assert opened.status_code == 200, opened.text
    before = db_counts(settings, *TABLES)
    changed = client.post(
        url,
        data=_form(client, **{**stale, "total_budget": "500.000", "reason": "meer geld"}),
        headers=admin,
        follow_redirects=False,
    )
    assert changed.status_code == 409, changed.text
    assert "stemmen is geopend" in changed.text
    assert db_counts(settings, *TABLES) == before
    unchanged = client.post(
        url,
        data=_form(client, **{**stale, "description": "Ook stemmen in de bibliotheek."}),
        headers=admin,
        follow_redirects=False,
    )
    assert unchanged.status_code == 303, unchanged.text
    after = client.get(f"/api/v1/rounds/{draft['id']}").json()
    assert after["description"] == "Ook stemmen in de bibliotheek."
    assert after["total_budget_cents"] == 45_000_000


def _form_values(html: str) -> dict[str, str]:
    """The values a browser would post from the round form (text inputs, checked boxes and
    radios, textareas, selected options), not from the header's and footer's small forms."""
    from html.parser import HTMLParser

    values: dict[str, str] = {}

    class Reader(HTMLParser):
        textarea: str | None = None
        select: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = {k: v or "" for k, v in attrs}
            name = a.get("name", "")
            if tag == "input" and name and name != "_csrf_token":
                if a.get("type") in {"checkbox", "radio"}:
                    if "checked" in a:
                        values[name] = a.get("value", "")
                else:
                    values[name] = a.get("value", "")
            elif tag == "textarea":
                self.textarea = name
                values[name] = ""
            elif tag == "select":
                self.select = name
            elif tag == "option" and self.select and "selected" in a:
                values[self.select] = a.get("value", "")

        def handle_endtag(self, tag: str) -> None:
            if tag == "textarea":
                self.textarea = None
            elif tag == "select":
                self.select = None

        def handle_data(self, data: str) -> None:
            if self.textarea:
                values[self.textarea] += data

    Reader().feed(html)
    for shell_field in ("next",):
        values.pop(shell_field, None)
    return values


@pytest.mark.parametrize("digits", ["\u00b2", "\u0661", "12a"])
def test_non_ascii_digits_in_the_form_are_field_errors(
    client: Client, settings: Settings, admin: dict[str, str], digits: str
) -> None:
    fields = {**NEW_ROUND, "theme_id_0": digits}
    response = client.post(
        "/beheer/rondes/nieuw", data=_form(client, **fields), headers=admin, follow_redirects=False
    )
    assert response.status_code == 422, response.text
    assert 'href="#theme_name_0"' in response.text
    for field in ("min_age", "total_budget", "min_budget_share", "voting_starts_at"):
        response = client.post(
            "/beheer/rondes/nieuw",
            data=_form(client, **{**NEW_ROUND, field: "\u0661\u0662"}),
            headers=admin,
            follow_redirects=False,
        )
        assert response.status_code == 422, (field, response.text)
        assert f'href="#{field}"' in response.text
    assert db_counts(settings, *TABLES) == dict.fromkeys(TABLES, 0)


def test_edit_form_round_trips_existing_values(client: Client, admin: dict[str, str]) -> None:
    draft = _api_round(client, admin)
    url = f"/beheer/rondes/{draft['id']}/bewerken"
    page = client.get(url, headers=admin)
    assert 'value="450.000"' in page.text
    assert 'value="Centrum"' in page.text
    values = {
        **{k: v for k, v in NEW_ROUND.items() if not k.startswith(("district_", "theme_"))},
        "title": draft["title"],
        "total_budget": "450.000",
        "budget_scope": "city",
        "district_id_0": str(draft["districts"][0]["id"]),
        "district_name_0": "Centrum-Oost",
        "district_budget_0": "",
        "district_eligible_0": "1",
        "theme_id_0": str(draft["themes"][0]["id"]),
        "theme_name_0": draft["themes"][0]["name"],
        "theme_cap_0": "",
        "reason": "wijken samengevoegd",
    }
    response = client.post(url, data=_form(client, **values), headers=admin, follow_redirects=False)
    assert response.status_code == 303, response.text
    after = client.get(f"/api/v1/rounds/{draft['id']}", headers=admin).json()
    assert [(d["id"], d["name"]) for d in after["districts"]] == [
        (draft["districts"][0]["id"], "Centrum-Oost")
    ]
    assert len(after["themes"]) == 1
    log = client.get("/api/v1/audit-log", headers=admin).json()
    assert log["items"][0]["reason"] == "wijken samengevoegd"


def test_phase_form_needs_a_reason_and_moves_one_step(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    draft = _api_round(client, admin)
    url = f"/beheer/rondes/{draft['id']}/fase"
    page = client.get(url, headers=admin)
    assert page.status_code == 200
    assert 'value="submission"' in page.text
    missing = client.post(
        url,
        data=_form(client, phase="submission", reason=""),
        headers=admin,
        follow_redirects=False,
    )
    assert missing.status_code == 422
    assert 'href="#reason"' in missing.text
    skip = client.post(
        url,
        data=_form(client, phase="voting", reason="snel"),
        headers=admin,
        follow_redirects=False,
    )
    assert skip.status_code == 409
    ok = client.post(
        url,
        data=_form(client, phase="submission", reason="start"),
        headers=admin,
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert client.get(f"/api/v1/rounds/{draft['id']}").json()["phase"] == "submission"
    # The phase shows on every page (the banner) once the round is public.
    assert "Voorstellen indienen" in client.get("/rondes").text
    # Error pages too, also those no handler ran for (unknown address, refused by a guard).
    resident = _headers(settings, Role.RESIDENT)
    for path, status in (("/bestaat-niet", 404), ("/beheer", 403), ("/rondes/999", 404)):
        error_page = client.get(path, headers=resident, follow_redirects=False)
        assert error_page.status_code == status
        assert 'class="bb-phase-banner"' in error_page.text, path
        assert draft["title"] in error_page.text


DOUBLE_VOTE = "In deze ronde kan iemand met een stemcode én een account twee keer stemmen."


def test_admin_pages_of_a_round_warn_when_code_and_account_voting_are_both_on(
    client: Client, admin: dict[str, str]
) -> None:
    codes_only = _api_round(client, admin)
    both = client.post(
        "/api/v1/rounds", json=api_round_data(vote_by_account=True), headers=admin
    ).json()
    for page in ("bewerken", "fase"):
        warned = client.get(f"/beheer/rondes/{both['id']}/{page}", headers=admin)
        assert warned.status_code == 200
        assert DOUBLE_VOTE in warned.text, page
        assert 'class="utrecht-alert utrecht-alert--warning bb-round-warning"' in warned.text
        quiet = client.get(f"/beheer/rondes/{codes_only['id']}/{page}", headers=admin)
        assert DOUBLE_VOTE not in quiet.text, page
    # A warning, not a refusal: the phase still moves.
    moved = client.post(
        f"/beheer/rondes/{both['id']}/fase",
        data=_form(client, phase="submission", reason="start"),
        headers=admin,
        follow_redirects=False,
    )
    assert moved.status_code == 303


def test_admin_pages_are_for_admins_only(client: Client, settings: Settings) -> None:
    assert client.get("/beheer/rondes", follow_redirects=False).status_code in {302, 303, 401}
    resident = _headers(settings, Role.RESIDENT)
    assert client.get("/beheer/rondes", headers=resident).status_code == 403
    assert client.get("/beheer/rondes/nieuw", headers=resident).status_code == 403


def test_audit_log_page_for_auditors(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    _api_round(client, admin, "submission")
    auditor = _headers(settings, Role.AUDITOR)
    page = client.get("/beheer/logboek", headers=auditor)
    assert page.status_code == 200
    assert "Fase van de ronde gewijzigd" in page.text  # Dutch labels, not machine names
    assert "Ronde aangemaakt" in page.text
    assert (
        client.get("/beheer/logboek", headers=_headers(settings, Role.COUNCIL)).status_code == 403
    )


def test_round_texts_are_escaped_on_every_page(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    body = api_round_data(title=evil, description=evil)
    body["themes"] = [{"name": evil}]
    created = client.post("/api/v1/rounds", json=body, headers=admin).json()
    client.post(
        f"/api/v1/rounds/{created['id']}/phase",
        json={"phase": "submission", "reason": evil},
        headers=admin,
    )
    auditor = _headers(settings, Role.AUDITOR)
    for path, headers in (
        ("/rondes", {}),
        (f"/rondes/{created['id']}", {}),
        ("/beheer/rondes", admin),
        (f"/beheer/rondes/{created['id']}/bewerken", admin),
        (f"/beheer/rondes/{created['id']}/fase", admin),
        ("/beheer/logboek", auditor),
    ):
        page = client.get(path, headers=headers)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert "<img src=x" not in page.text, path
        assert "&lt;script&gt;" in page.text, path


def test_round_page_in_english_names_the_ballot_and_rule_in_english(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    voting = _api_round(client, admin, "voting", settings)
    client.cookies.set("taal", "en")
    page = client.get(f"/rondes/{voting['id']}").text
    assert "Most votes first (greedy)" in page
    assert "Divide the budget: choose projects that fit within the budget together" in page
    assert "Meeste stemmen eerst" not in page


def test_the_form_sets_the_counting_settings_and_the_round_page_explains_them(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    ranked = {
        **NEW_ROUND,
        "ballot_type": "ranked",
        "approval_max_k": "",
        "max_projects": "3",
        "min_budget_share": "",
        "ranked_scores": "3, 2, 1",
        "greedy_threshold": "5",
        "greedy_no_skip": "1",
        "leftover": "fund-by-score",
        "tie_break_seed": "trekking 2028-03-01",
        "export_public": "1",
    }
    response = client.post(
        "/beheer/rondes/nieuw", data=_form(client, **ranked), headers=admin, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    (created,) = client.get("/api/v1/rounds", headers=admin).json()
    assert (created["ranked_scores"], created["greedy_threshold"], created["leftover"]) == (
        [3, 2, 1],
        5,
        "fund-by-score",
    )
    assert (created["greedy_no_skip"], created["export_public"]) == (True, True)
    assert created["tie_break_seed"] == "trekking 2028-03-01"
    edit = client.get(f"/beheer/rondes/{created['id']}/bewerken", headers=admin).text
    assert _form_values(edit)["ranked_scores"] == "3, 2, 1"
    page = client.get(f"/rondes/{created['id']}", headers=admin).text
    assert "Punten per plaats: 3, 2, 1." in page
    assert "minstens 5 stemmen of punten" in page
    assert "stopt bij het eerste project" in page
    assert "zaad &#39;trekking 2028-03-01&#39;" in page
    assert "Elke wijk heeft een eigen stemming" in page
    assert "controle-export downloaden" in page


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"counting_rule": "mes-add1"}, "counting_rule", "geen maximum per thema"),
        ({"ballot_type": "ranked", "counting_rule": "phragmen"}, "counting_rule", "niet tellen"),
        ({"ranked_scores": "3, twee, 1"}, "ranked_scores", "hele getallen"),
        ({"tie_break_order": "4, 5"}, "tie_break_order", "vaste volgorde"),
        ({"greedy_threshold": "0"}, "greedy_threshold", "Vul een getal in"),
    ],
)
def test_counting_settings_the_engine_cannot_use_are_field_errors_on_the_form(
    client: Client,
    settings: Settings,
    admin: dict[str, str],
    change: dict[str, str],
    field: str,
    text: str,
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw",
        data=_form(client, **{**NEW_ROUND, **change}),
        headers=admin,
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert f'id="{field}-fout"' in response.text
    assert text in response.text
    assert db_counts(settings, "rounds")["rounds"] == 0
