"""The booth pages through the test client, on both databases: the code, the booth for every
ballot type, review, confirm, the receipt, stopping, the receipt lookup and the error states.

Pages are driven the way a browser without JavaScript drives them: plain form posts with the
CSRF token, following the 303s by hand so every step's status is checked.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.db import utcnow
from burgerbegroting.i18n import format_date
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.canonical import receipt_from_hash
from tests.accounts.factories import bearer, csrf_token, make_user
from tests.audit.factories import auditor_headers, export_json
from tests.conftest import make_settings
from tests.proposals.factories import run
from tests.voting.factories import (
    VotingRound,
    admin_headers,
    close,
    issue_codes,
    open_round,
    scalar,
)

Client = TestClient[Litestar]
RECEIPT = re.compile(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")


def form_post(
    client: Client, url: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> Response:
    return client.post(
        url,
        data={**data, "_csrf_token": csrf_token(client)},
        headers=headers,
        follow_redirects=False,
    )


def enter_code(client: Client, code: str) -> str:
    """Redeem ``code`` on the page; the booth's address."""
    response = form_post(client, "/stemmen", {"code": code})
    assert response.status_code == 303, response.text
    assert voter_tokens.VOTER_COOKIE in response.headers.get("set-cookie", "")
    return str(response.headers["location"])


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


def review_and_confirm(
    client: Client, vr: VotingRound, headers: dict[str, str] | None = None
) -> tuple[str, Response]:
    """From the review page: confirm. Returns the receipt page's text and the confirm answer."""
    review = client.get(f"/stemmen/{vr.round_id}/controleren", headers=headers)
    assert review.status_code == 200, review.text
    confirm = form_post(
        client,
        f"/stemmen/{vr.round_id}/bevestigen",
        {"inhoud": hidden(review.text, "inhoud"), "sleutel": hidden(review.text, "sleutel")},
        headers,
    )
    assert confirm.status_code == 303, confirm.text
    assert confirm.headers["location"].startswith(f"/stemmen/{vr.round_id}/ontvangstbewijs")
    receipt_page = client.get(confirm.headers["location"], headers=headers)
    assert receipt_page.status_code == 200, receipt_page.text
    return receipt_page.text, confirm


def current_ballot(settings: Settings) -> dict[str, Any]:
    content = scalar(
        settings,
        "SELECT b.content FROM ballots b JOIN voters v ON v.current_ballot_id = b.id",
    )
    loaded: dict[str, Any] = json.loads(content)
    return loaded


# --- the whole way, knapsack ----------------------------------------------------------------------


def test_knapsack_code_booth_update_review_confirm_receipt(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    code = issue_codes(settings, vr, 1)[0]
    code_page = client.get("/stemmen")
    assert code_page.status_code == 200
    assert 'name="code"' in code_page.text
    booth_url = enter_code(client, code.lower())
    assert booth_url == f"/stemmen/{vr.round_id}"

    booth = client.get(booth_url)
    assert booth.status_code == 200, booth.text
    assert booth.headers["cache-control"] == "no-store"
    for title in ("Project 1", "Project 2", "Project 3", "Project 4"):
        assert title in booth.text
    assert "Nog te verdelen: €\xa0100.000,00" in booth.text
    assert 'role="status" aria-live="polite"' in booth.text

    # Bijwerken: saved server-side, the meter recomputed, the choice still checked.
    first, second = vr.projects[0], vr.projects[1]
    update = form_post(
        client, booth_url, {f"p-{first}": "1", f"p-{second}": "1", "actie": "bijwerken"}
    )
    assert update.status_code == 303
    assert update.headers["location"] == f"{booth_url}#stand"
    again = client.get(booth_url)
    assert "Gekozen: €\xa090.000,00 van €\xa0100.000,00" in again.text
    assert re.search(rf'id="p-{first}" name="p-{first}" value="1"\s+checked', again.text)
    assert not re.search(
        rf'id="p-{vr.projects[2]}" name="p-{vr.projects[2]}" value="1"\s+checked', again.text
    )
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0

    review_step = form_post(
        client, booth_url, {f"p-{first}": "1", f"p-{second}": "1", "actie": "controleren"}
    )
    assert review_step.status_code == 303
    assert review_step.headers["location"] == f"/stemmen/{vr.round_id}/controleren"
    review = client.get(review_step.headers["location"])
    assert "Project 1" in review.text
    assert "Project 2" in review.text
    assert "Project 3" not in review.text
    assert "Samen €\xa090.000,00 van het budget van €\xa0100.000,00." in review.text
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0

    receipt_text, _confirm = review_and_confirm(client, vr)
    receipt = RECEIPT.search(receipt_text)
    assert receipt is not None
    assert "/ontvangstbewijs" in receipt_text
    assert "laatste stem telt" in receipt_text
    assert current_ballot(settings) == {"projects": sorted([first, second])}
    api = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{receipt.group(0)}")
    assert api.json()["status"] == "counted"
    # The booth now says the voter has voted, with the receipt.
    assert receipt.group(0) in client.get(booth_url).text


def test_the_receipt_page_does_not_promise_what_the_audit_export_undoes(
    client: Client, settings: Settings
) -> None:
    """The receipt is the first 80 bits of the ballot event's hash, and the audit export lists the
    events with their ballots: receipt plus export show the ballot. The page must not tell the
    voter that no one can see their choice with it (docs/security.md, "Receipts and vote
    selling"); it tells them to keep it to themselves."""
    vr = open_round(settings)
    booth_url = enter_code(client, issue_codes(settings, vr, 1)[0])
    chosen = vr.projects[2]
    step = form_post(client, booth_url, {f"p-{chosen}": "1", "actie": "controleren"})
    assert step.status_code == 303, step.text
    receipt_text, _confirm = review_and_confirm(client, vr)
    found = RECEIPT.search(receipt_text)
    assert found is not None
    # What an auditor (or, after publication with export_public, anyone) can do with the receipt.
    _raw, export = export_json(client, vr.round_id, auditor_headers(settings))
    [event] = [e for e in export["log"] if receipt_from_hash(e["hash"]) == found.group(0)]
    assert event["payload"]["ballot"] == {"projects": [chosen]}
    # So the page may not say the opposite, and says what the voter should do instead.
    assert "Niemand kan daarmee zien" not in receipt_text
    assert "Laat het daarom aan niemand anders zien." in receipt_text


def test_confirming_twice_casts_once(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    form_post(
        client, f"/stemmen/{vr.round_id}", {f"p-{vr.projects[1]}": "1", "actie": "controleren"}
    )
    review = client.get(f"/stemmen/{vr.round_id}/controleren")
    data = {"inhoud": hidden(review.text, "inhoud"), "sleutel": hidden(review.text, "sleutel")}
    one = form_post(client, f"/stemmen/{vr.round_id}/bevestigen", data)
    two = form_post(client, f"/stemmen/{vr.round_id}/bevestigen", data)
    assert (one.status_code, two.status_code) == (303, 303)
    assert scalar(settings, "SELECT count(*) FROM ballots") == 1


def test_voting_again_replaces_the_ballot_and_says_so(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    booth_url = f"/stemmen/{vr.round_id}"
    form_post(client, booth_url, {f"p-{vr.projects[0]}": "1", "actie": "controleren"})
    first_text, _ = review_and_confirm(client, vr)
    first = RECEIPT.search(first_text)
    assert first is not None
    form_post(client, booth_url, {f"p-{vr.projects[3]}": "1", "actie": "controleren"})
    second_text, confirm = review_and_confirm(client, vr)
    assert confirm.headers["location"].endswith("?vervangen=1")
    assert "vervangt uw eerdere stem" in second_text
    assert current_ballot(settings) == {"projects": [vr.projects[3]]}
    lookup = form_post(
        client, "/ontvangstbewijs", {"ronde": str(vr.round_id), "ontvangstbewijs": first.group(0)}
    )
    assert lookup.status_code == 200
    assert "Vervangen door een latere stem" in lookup.text


# --- refusals ---------------------------------------------------------------------------------------


def test_over_budget_is_refused_on_the_form_and_nothing_is_cast(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    everything = {f"p-{pid}": "1" for pid in vr.projects}
    refused = form_post(client, f"/stemmen/{vr.round_id}", {**everything, "actie": "controleren"})
    assert refused.status_code == 422
    assert 'id="foutoverzicht"' in refused.text
    assert "meer dan het budget van €\xa0100.000,00" in refused.text
    assert 'href="#projecten"' in refused.text
    assert re.search(
        r'id="projecten" tabindex="-1"\s+aria-describedby="meter-tekst projecten-fout" aria-invalid="true"',
        refused.text,
    )
    assert "Dat is €\xa040.000,00 te veel." in refused.text
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    # The choices were kept (the draft): the booth shows them again.
    again = client.get(f"/stemmen/{vr.round_id}")
    checked = re.findall(r'id="p-(\d+)" name="p-\d+" value="1"\s+checked', again.text)
    assert sorted(int(pid) for pid in checked) == sorted(vr.projects)
    assert "Dat is €\xa040.000,00 te veel." in again.text
    # The review page of a refused draft does not offer to confirm it.
    review = client.get(f"/stemmen/{vr.round_id}/controleren")
    assert review.status_code == 422
    assert 'name="inhoud"' not in review.text


def test_a_tampered_review_form_is_refused_by_the_same_rules(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    refused = form_post(
        client,
        f"/stemmen/{vr.round_id}/bevestigen",
        {"inhoud": json.dumps({"projects": vr.projects}), "sleutel": "x1"},
    )
    assert refused.status_code == 422
    assert "meer dan het budget" in refused.text
    broken = form_post(
        client, f"/stemmen/{vr.round_id}/bevestigen", {"inhoud": "[1,", "sleutel": "x2"}
    )
    assert broken.status_code == 400
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_unknown_fields_and_actions_are_refused_without_a_500(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    url = f"/stemmen/{vr.round_id}"
    assert form_post(client, url, {"p-999999": "1", "actie": "bijwerken"}).status_code == 400
    assert form_post(client, url, {"actie": "tellen"}).status_code == 400
    bad_value = form_post(client, url, {f"p-{vr.projects[0]}": "ja", "actie": "controleren"})
    assert bad_value.status_code == 422
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


# --- the other ballot types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fields", "expected"),
    [
        (
            {"ballot_type": "approval", "approval_max_k": 2},
            lambda p: {f"p-{p[0]}": "1", f"p-{p[2]}": "1"},
            lambda p: {"projects": sorted([p[0], p[2]])},
        ),
        (
            {"ballot_type": "choose-1"},
            lambda p: {"keuze": str(p[1])},
            lambda p: {"projects": [p[1]]},
        ),
        (
            {"ballot_type": "cumulative", "cumulative_points": 10},
            lambda p: {f"punten-{p[0]}": "7", f"punten-{p[3]}": "3", f"punten-{p[1]}": "0"},
            lambda p: {"points": {str(p[0]): 7, str(p[3]): 3}},
        ),
        (
            {"ballot_type": "ranked"},
            lambda p: {f"rang-{p[2]}": "1", f"rang-{p[0]}": "2", f"rang-{p[3]}": ""},
            lambda p: {"ranking": [p[2], p[0]]},
        ),
    ],
    ids=["approval", "choose-1", "cumulative", "ranked"],
)
def test_every_ballot_type_is_cast_through_the_pages(
    client: Client, settings: Settings, options: dict[str, Any], fields: Any, expected: Any
) -> None:
    vr = open_round(settings, **options)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    booth = client.get(f"/stemmen/{vr.round_id}")
    assert booth.status_code == 200
    step = form_post(
        client, f"/stemmen/{vr.round_id}", {**fields(vr.projects), "actie": "controleren"}
    )
    assert step.status_code == 303, step.text
    review_and_confirm(client, vr)
    assert current_ballot(settings) == expected(vr.projects)


def test_booth_controls_and_meter_per_ballot_type(client: Client, settings: Settings) -> None:
    vr = open_round(settings, ballot_type="cumulative", cumulative_points=10)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    url = f"/stemmen/{vr.round_id}"
    booth = client.get(url).text
    assert (
        f'type="number" inputmode="numeric"\n               id="punten-{vr.projects[0]}"' in booth
    )
    assert "0 van 10 punten verdeeld. Nog te verdelen: 10 punten." in booth
    over = form_post(client, url, {f"punten-{vr.projects[0]}": "11", "actie": "controleren"})
    assert over.status_code == 422
    assert "U verdeelt 11 punten; u heeft er 10 te verdelen." in over.text
    assert "11 van 10 punten verdeeld: 1 punten te veel." in over.text
    letters = form_post(client, url, {f"punten-{vr.projects[0]}": "veel", "actie": "bijwerken"})
    assert letters.status_code == 422
    assert f'href="#punten-{vr.projects[0]}"' in letters.text
    assert f'id="punten-{vr.projects[0]}-fout"' in letters.text
    assert 'value="veel"' in letters.text  # shown as typed
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_ranked_refuses_one_place_for_two_projects(client: Client, settings: Settings) -> None:
    vr = open_round(settings, ballot_type="ranked")
    enter_code(client, issue_codes(settings, vr, 1)[0])
    url = f"/stemmen/{vr.round_id}"
    booth = client.get(url).text
    assert (
        f'<select class="utrecht-select utrecht-select--html-select bb-rank" id="rang-{vr.projects[0]}"'
        in booth
    )
    twice = form_post(
        client,
        url,
        {f"rang-{vr.projects[0]}": "1", f"rang-{vr.projects[1]}": "1", "actie": "controleren"},
    )
    assert twice.status_code == 422
    assert "Plaats 1 heeft u al aan een ander project gegeven." in twice.text
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_approval_meter_counts_against_k(client: Client, settings: Settings) -> None:
    vr = open_round(settings, ballot_type="approval", approval_max_k=2)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    url = f"/stemmen/{vr.round_id}"
    assert "0 van 2 projecten gekozen." in client.get(url).text
    three = {f"p-{pid}": "1" for pid in vr.projects[:3]}
    refused = form_post(client, url, {**three, "actie": "controleren"})
    assert refused.status_code == 422
    assert "3 van 2 projecten gekozen." in refused.text
    assert "Kies hoogstens 2 projecten; u koos er 3." in refused.text


def test_blank_ballot_where_allowed_and_refused_where_not(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    assert 'value="blanco"' in client.get(f"/stemmen/{vr.round_id}").text
    step = form_post(client, f"/stemmen/{vr.round_id}", {"actie": "blanco"})
    assert step.status_code == 303
    review = client.get(f"/stemmen/{vr.round_id}/controleren")
    assert "U stemt blanco" in review.text
    review_and_confirm(client, vr)
    assert current_ballot(settings) == {"blank": True}

    strict = open_round(settings, blank_allowed=False, admin_email="beheer2@example.nl")
    enter_code(client, issue_codes(settings, strict, 1)[0])
    assert 'value="blanco"' not in client.get(f"/stemmen/{strict.round_id}").text
    chosen = f"p-{strict.projects[1]}"
    form_post(client, f"/stemmen/{strict.round_id}", {chosen: "1", "actie": "bijwerken"})
    refused = form_post(client, f"/stemmen/{strict.round_id}", {"actie": "blanco"})
    assert refused.status_code == 422
    assert "In deze ronde kunt u geen blanco stem uitbrengen." in refused.text
    # The refused blank ballot did not wipe the choices saved before it.
    assert re.search(rf'id="{chosen}" name="{chosen}" value="1"\s+checked', refused.text)


def test_filters_hide_projects_but_keep_their_choices(client: Client, settings: Settings) -> None:
    vr = open_round(settings, project_districts=[0, 1, None, 0])
    enter_code(client, issue_codes(settings, vr, 1)[0])
    url = f"/stemmen/{vr.round_id}"
    form_post(client, url, {f"p-{vr.projects[1]}": "1", "actie": "bijwerken"})
    filtered = client.get(f"{url}?wijk={vr.districts[0]}&thema=")
    assert filtered.status_code == 200
    shown = re.findall(
        r'<li class="bb-project[^"]*"[^>]*data-title="([^"]+)"(\s+hidden)?>', filtered.text
    )
    visible = {title for title, is_hidden in shown if not is_hidden}
    assert visible == {"Project 1", "Project 4"}
    # The hidden project's checkbox is still in the form, still checked: submitting keeps it.
    assert re.search(
        rf'id="p-{vr.projects[1]}" name="p-{vr.projects[1]}" value="1"\s+checked', filtered.text
    )
    city = client.get(f"{url}?wijk=stad")
    shown = re.findall(r'data-title="([^"]+)"(\s+hidden)?>', city.text)
    assert {t for t, h in shown if not h} == {"Project 3"}
    # The filter button of the no-JavaScript form saves and keeps the filter.
    moved = form_post(
        client,
        url,
        {f"p-{vr.projects[1]}": "1", "wijk": str(vr.districts[1]), "actie": "bijwerken"},
    )
    assert moved.headers["location"] == f"{url}?wijk={vr.districts[1]}#stand"


# --- choices saved as they are made (booth.js) ----------------------------------------------------


def save_choices(
    client: Client, vr: VotingRound, data: dict[str, str], *, csrf: bool = True
) -> Response:
    """What ``booth.js`` sends: the booth form's own fields, asking for problem details."""
    body = {**data, "_csrf_token": csrf_token(client)} if csrf else data
    return client.post(
        f"/stemmen/{vr.round_id}/concept",
        data=body,
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )


def checked_projects(page: str) -> list[int]:
    return sorted(
        int(p) for p in re.findall(r'id="p-(\d+)" name="p-\d+" value="1"\s+checked', page)
    )


def stored_draft(settings: Settings) -> Any:
    text = scalar(settings, "SELECT draft FROM voters")
    return None if text is None else json.loads(text)


def test_choices_saved_as_they_are_made_come_back_on_reload_and_cast_nothing(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    events = scalar(settings, "SELECT count(*) FROM log_events")
    first, second = vr.projects[0], vr.projects[1]
    saved = save_choices(client, vr, {f"p-{first}": "1", f"p-{second}": "1", "thema": ""})
    assert saved.status_code == 204, saved.text
    assert saved.content == b""
    assert stored_draft(settings) == {"projects": [first, second]}
    again = client.get(f"/stemmen/{vr.round_id}")
    assert checked_projects(again.text) == sorted([first, second])
    assert "Gekozen: €\xa090.000,00 van €\xa0100.000,00" in again.text
    # Over the budget is still a draft (the meter shows it), never a ballot.
    everything = {f"p-{pid}": "1" for pid in vr.projects}
    assert save_choices(client, vr, everything).status_code == 204
    over = client.get(f"/stemmen/{vr.round_id}")
    assert checked_projects(over.text) == sorted(vr.projects)
    assert "Dat is €\xa040.000,00 te veel." in over.text
    # Unticking everything is a choice too.
    assert save_choices(client, vr, {}).status_code == 204
    assert stored_draft(settings) == {"projects": []}
    assert checked_projects(client.get(f"/stemmen/{vr.round_id}").text) == []
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    assert scalar(settings, "SELECT count(*) FROM log_events") == events
    # The page tells booth.js where to save and gives it the live region for the status.
    assert f'data-draft-url="/stemmen/{vr.round_id}/concept"' in over.text
    assert 'id="bewaar-status" role="status" aria-live="polite"' in over.text


def test_saving_choices_refuses_input_the_form_cannot_produce_and_keeps_the_last_draft(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings, ballot_type="ranked")
    enter_code(client, issue_codes(settings, vr, 1)[0])
    a, b = vr.projects[0], vr.projects[1]
    assert save_choices(client, vr, {f"rang-{a}": "1"}).status_code == 204
    twice = save_choices(client, vr, {f"rang-{a}": "1", f"rang-{b}": "1"})
    assert twice.status_code == 422
    assert twice.headers["content-type"].startswith("application/problem+json")
    assert "Plaats 1 heeft u al aan een ander project gegeven." in twice.json()["detail"]
    for junk in (
        {"onbekend": "1"},  # a field the booth has not
        {f"rang-{a}": "1", "actie": "controleren"},  # only "Bijwerken" saves here
        {f"rang-{a}": "9" * 100},  # longer than any field
    ):
        refused = save_choices(client, vr, junk)
        assert refused.status_code == 422, (junk, refused.text)
        assert refused.json()["detail"]
    huge = client.post(
        f"/stemmen/{vr.round_id}/concept",
        content=b"_csrf_token=" + csrf_token(client).encode() + b"&x=" + b"1" * 600_000,
        headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413  # the page forms' body limit, before anything is parsed
    assert stored_draft(settings) == {"ranking": [a]}
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_a_resident_voting_with_an_account_has_choices_saved_once_the_district_is_known(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings, vote_by_account=True)
    headers = {
        **bearer(settings, make_user(settings, "concept@example.nl", roles=(Role.RESIDENT,))),
        "Accept": "application/json",
    }
    url = f"/stemmen/{vr.round_id}/concept"
    choice = {f"p-{vr.projects[1]}": "1", "_csrf_token": csrf_token(client)}
    # The district question comes first (the booth asks it): no voter row, no draft yet.
    ask = client.post(url, data=choice, headers=headers)
    assert ask.status_code == 422
    assert "wijk" in ask.json()["detail"]
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    chosen = form_post(
        client, f"/stemmen/{vr.round_id}/wijk", {"district_id": str(vr.districts[0])}, headers
    )
    assert chosen.status_code == 303
    assert client.post(url, data=choice, headers=headers).status_code == 204
    assert stored_draft(settings) == {"projects": [vr.projects[1]]}
    booth = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    assert checked_projects(booth.text) == [vr.projects[1]]
    # A staff account is no voter here either.
    staff = {**bearer(settings, vr.admin_id, staff=True), "Accept": "application/json"}
    assert client.post(url, data=choice, headers=staff).status_code == 403


def test_saving_choices_is_refused_where_the_booth_refuses_and_stores_nothing(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 3)
    choice = {f"p-{vr.projects[0]}": "1"}

    # No voter session at all.
    anonymous = save_choices(client, vr, choice)
    assert anonymous.status_code == 401
    assert "stemcode" in anonymous.json()["detail"]

    # Without the CSRF token (a cross-site form cannot read it).
    enter_code(client, codes[0])
    forged = save_choices(client, vr, choice, csrf=False)
    assert forged.status_code == 403
    assert stored_draft(settings) is None

    # A revoked code.
    revoke = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[0], "reason": "brief kwijt"},
        headers=bearer(settings, vr.admin_id, staff=True),
    )
    assert revoke.status_code == 200, revoke.text
    revoked = save_choices(client, vr, choice)
    assert revoked.status_code == 401
    assert "ingetrokken" in revoked.json()["detail"]

    # An ended session ("Stoppen"), its token sent again.
    client.cookies.clear()
    enter_code(client, codes[1])
    old = client.cookies[voter_tokens.VOTER_COOKIE]
    assert form_post(client, "/stemmen/stoppen", {}).status_code == 303
    client.cookies.set(voter_tokens.VOTER_COOKIE, old)
    ended = save_choices(client, vr, choice)
    assert ended.status_code == 401
    assert "beëindigd" in ended.json()["detail"]

    # Another round's session.
    other = open_round(settings, admin_email="beheer2@example.nl")
    assert save_choices(client, other, {f"p-{other.projects[0]}": "1"}).status_code == 401

    # A closed round.
    client.cookies.clear()
    enter_code(client, codes[2])
    close(settings, vr)
    closed = save_choices(client, vr, choice)
    assert closed.status_code == 409
    assert closed.json()["detail"] == "Het stemmen in deze ronde is gesloten."

    assert scalar(settings, "SELECT count(*) FROM voters WHERE draft IS NOT NULL") == 0
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


# --- the code -------------------------------------------------------------------------------------


def test_a_wrong_and_a_revoked_code_get_the_same_message(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    codes = issue_codes(settings, vr, 2)
    wrong = form_post(client, "/stemmen", {"code": "AAAA-BBBB-CCCC-DDDD"})
    revoke = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": codes[1], "reason": "brief kwijt"},
        headers=bearer(settings, vr.admin_id, staff=True),
    )
    assert revoke.status_code == 200, revoke.text
    revoked = form_post(client, "/stemmen", {"code": codes[1]})
    assert wrong.status_code == revoked.status_code == 401
    message = "Deze stemcode is niet geldig. Controleer de code op uw brief en probeer het opnieuw."
    assert message in wrong.text
    assert message in revoked.text
    assert 'aria-describedby="code-fout code-beschrijving"' in wrong.text
    assert voter_tokens.VOTER_COOKIE not in wrong.headers.get("set-cookie", "")
    empty = form_post(client, "/stemmen", {"code": "  "})
    assert empty.status_code == 422
    assert "Vul de stemcode uit uw brief in." in empty.text


def test_too_many_codes_shows_the_wait(database_url: str, tmp_path: Any) -> None:
    settings = make_settings(database_url, tmp_path / "var", code_attempts_per_window=2)
    vr = open_round(settings)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        statuses = [
            form_post(client, "/stemmen", {"code": "AAAA-BBBB-CCCC-DDDD"}) for _ in range(3)
        ]
        assert [r.status_code for r in statuses] == [401, 401, 429]
        last = statuses[-1]
        assert int(last.headers["retry-after"]) > 0
        assert re.search(r"Probeer het over \d+ minuten? opnieuw\.", last.text)
        del vr


def test_code_in_the_query_leaves_the_address_at_once(client: Client, settings: Settings) -> None:
    open_round(settings)
    response = client.get("/stemmen?code=ABCD-EFGH-JKLM-NPQR", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/stemmen#code=ABCD-EFGH-JKLM-NPQR"
    assert response.headers["cache-control"] == "no-store"
    junk = client.get('/stemmen?code=<script>"', follow_redirects=False)
    assert junk.headers["location"] == "/stemmen"


def test_without_a_session_the_booth_asks_for_the_code(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    response = client.get(f"/stemmen/{vr.round_id}", follow_redirects=False)
    assert response.status_code == 401
    assert "Vul eerst de stemcode uit uw brief in om te stemmen." in response.text
    assert 'name="code"' in response.text
    cast = form_post(client, f"/stemmen/{vr.round_id}/bevestigen", {"inhoud": "{}", "sleutel": "k"})
    assert cast.status_code == 401
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_stopping_ends_the_voter_session(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    old = client.cookies[voter_tokens.VOTER_COOKIE]
    stopped = form_post(client, "/stemmen/stoppen", {})
    assert stopped.status_code == 303
    assert stopped.headers["location"] == "/stemmen?melding=gestopt"
    assert (
        'bb_voter=""' in stopped.headers["set-cookie"]
        or "Max-Age=0" in stopped.headers["set-cookie"]
    )
    assert "U heeft het stemhokje verlaten." in client.get("/stemmen?melding=gestopt").text
    # The old token is revoked, not merely forgotten by the browser.
    client.cookies.set(voter_tokens.VOTER_COOKIE, old)
    again = client.get(f"/stemmen/{vr.round_id}")
    assert again.status_code == 401
    assert "Uw stemsessie is beëindigd." in again.text


def menu_of(page: str) -> str:
    return page.split('aria-label="Hoofdmenu"')[1].split("</nav>", maxsplit=1)[0]


# --- not open, closed ------------------------------------------------------------------------------


def test_not_yet_open_and_closed_rounds_get_a_clear_page(
    client: Client, settings: Settings
) -> None:
    early = open_round(settings, phase=Phase.REVIEW)
    page = client.get(f"/stemmen/{early.round_id}")
    assert page.status_code == 200
    assert "Het stemmen in deze ronde is nog niet begonnen." in page.text
    assert 'href="/stemmen"' not in menu_of(client.get("/").text)

    vr = open_round(settings, admin_email="beheer2@example.nl")
    enter_code(client, issue_codes(settings, vr, 1)[0])
    form_post(
        client, f"/stemmen/{vr.round_id}", {f"p-{vr.projects[0]}": "1", "actie": "controleren"}
    )
    review = client.get(f"/stemmen/{vr.round_id}/controleren")
    assert 'href="/stemmen"' in menu_of(client.get("/").text)
    close(settings, vr)
    late = form_post(
        client,
        f"/stemmen/{vr.round_id}/bevestigen",
        {"inhoud": hidden(review.text, "inhoud"), "sleutel": hidden(review.text, "sleutel")},
    )
    assert late.status_code == 409
    assert "Het stemmen in deze ronde is gesloten." in late.text
    assert client.get(f"/stemmen/{vr.round_id}").status_code == 200
    assert form_post(client, "/stemmen", {"code": "AAAA-BBBB-CCCC-DDDD"}).status_code == 401
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    unknown = client.get("/stemmen/987654")
    assert unknown.status_code == 404


def test_a_round_closed_before_its_schedule_says_when_it_really_closed(
    client: Client, settings: Settings
) -> None:
    """Closing early (the admin's button) must not leave "Stemmen kon tot 23 december" on the
    booth when it closed today."""
    vr = open_round(settings)
    planned = utcnow() + timedelta(days=21)

    async def schedule(session: AsyncSession) -> None:
        await session.execute(
            update(Round).where(Round.id == vr.round_id).values(closed_starts_at=planned)
        )
        await session.commit()

    run(settings, schedule)
    close(settings, vr)
    page = client.get(f"/stemmen/{vr.round_id}")
    assert "Het stemmen in deze ronde is gesloten." in page.text
    assert format_date(planned) not in page.text
    assert format_date(utcnow()) in page.text


# --- account voting --------------------------------------------------------------------------------


def test_account_vote_asks_the_district_once(client: Client, settings: Settings) -> None:
    vr = open_round(
        settings,
        scope="districts",
        vote_by_account=True,
        project_districts=[0, 0, 1, 2],
        districts=("Noord", "Zuid", "Haven"),
        district_budgets=[9_000_000, 5_000_000, None],
        budget=14_000_000,
    )
    resident = make_user(settings, "stemmer@example.nl", roles=(Role.RESIDENT,))
    headers = bearer(settings, resident)
    # The round takes codes and accounts: a visitor without either gets the code form and the
    # way to log in.
    anonymous = client.get(f"/stemmen/{vr.round_id}", follow_redirects=False)
    assert anonymous.status_code == 401
    assert 'name="code"' in anonymous.text
    assert f'href="/inloggen?next=/stemmen/{vr.round_id}"' in anonymous.text
    ask = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    assert ask.status_code == 200
    assert "In welke wijk woont u?" in ask.text
    assert "over de projecten in uw eigen wijk" in ask.text
    assert f'value="{vr.districts[1]}"' in ask.text
    assert f'value="{vr.districts[2]}"' not in ask.text  # no budget of its own: no ballot there
    wrong = form_post(client, f"/stemmen/{vr.round_id}/wijk", {"district_id": "987654"}, headers)
    assert wrong.status_code == 422
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    chosen = form_post(
        client, f"/stemmen/{vr.round_id}/wijk", {"district_id": str(vr.districts[1])}, headers
    )
    assert chosen.status_code == 303
    booth = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    assert "Project 3" in booth.text
    assert "Project 1" not in booth.text
    assert "Stoppen zonder te stemmen" not in booth.text  # an account has no voter session
    step = form_post(
        client,
        f"/stemmen/{vr.round_id}",
        {f"p-{vr.projects[2]}": "1", "actie": "controleren"},
        headers,
    )
    assert step.status_code == 303, step.text
    review_and_confirm(client, vr, headers)
    assert current_ballot(settings) == {"projects": [vr.projects[2]]}


def test_account_vote_in_a_round_with_a_minimum_age_asks_the_age_band_once(
    client: Client, settings: Settings
) -> None:
    # An account holds no age: where the round has a minimum age, the first vote asks the
    # resident's age band (with the district), refuses a band wholly under it, and stores it.
    vr = open_round(settings, vote_by_account=True, min_age=18)
    headers = bearer(settings, make_user(settings, "leeftijd@example.nl", roles=(Role.RESIDENT,)))
    ask = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    assert ask.status_code == 200
    assert "In welke wijk woont u?" in ask.text
    assert "vanaf 18 jaar" in ask.text
    assert 'name="age_band"' in ask.text
    assert 'value="18-26"' in ask.text
    district = str(vr.districts[0])
    missing = form_post(client, f"/stemmen/{vr.round_id}/wijk", {"district_id": district}, headers)
    assert missing.status_code == 422
    assert "Kies uw leeftijdsgroep." in missing.text
    too_young = form_post(
        client,
        f"/stemmen/{vr.round_id}/wijk",
        {"district_id": district, "age_band": "12-17"},
        headers,
    )
    assert too_young.status_code == 422
    assert "vanaf 18 jaar; in uw leeftijdsgroep is niemand zo oud" in too_young.text
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    chosen = form_post(
        client,
        f"/stemmen/{vr.round_id}/wijk",
        {"district_id": district, "age_band": "27-44"},
        headers,
    )
    assert chosen.status_code == 303, chosen.text
    assert scalar(settings, "SELECT age_band FROM voters") == "27-44"
    booth = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    assert booth.status_code == 200
    assert "Project 1" in booth.text


def test_the_district_question_of_a_city_wide_round_does_not_promise_district_projects(
    client: Client, settings: Settings
) -> None:
    """In a round with one city-wide budget a resident voting with an account is still asked the
    district (turnout per district, eligibility), but votes on every project of the round: the
    page must not say they vote on their own district's projects."""
    vr = open_round(settings, vote_by_account=True, project_districts=[0, 1, None, 0])
    headers = bearer(settings, make_user(settings, "stad@example.nl", roles=(Role.RESIDENT,)))
    ask = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    assert ask.status_code == 200
    assert "In welke wijk woont u?" in ask.text
    assert "over de projecten in uw eigen wijk" not in ask.text
    assert "alle projecten" in ask.text
    chosen = form_post(
        client, f"/stemmen/{vr.round_id}/wijk", {"district_id": str(vr.districts[0])}, headers
    )
    assert chosen.status_code == 303
    booth = client.get(f"/stemmen/{vr.round_id}", headers=headers)
    for title in ("Project 1", "Project 2", "Project 3", "Project 4"):
        assert title in booth.text  # the other district's project too


def test_staff_cannot_vote_with_their_account(client: Client, settings: Settings) -> None:
    vr = open_round(settings, vote_by_account=True)
    response = client.get(
        f"/stemmen/{vr.round_id}", headers=bearer(settings, vr.admin_id, staff=True)
    )
    assert response.status_code == 403
    assert "medewerkersaccount" in response.text


# --- receipt lookup --------------------------------------------------------------------------------


def test_receipt_lookup_in_plain_dutch(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    form_post(
        client, f"/stemmen/{vr.round_id}", {f"p-{vr.projects[0]}": "1", "actie": "controleren"}
    )
    text, _ = review_and_confirm(client, vr)
    receipt = RECEIPT.search(text)
    assert receipt is not None
    page = client.get("/ontvangstbewijs")
    assert page.status_code == 200
    assert f'<option value="{vr.round_id}"' in page.text
    counted = form_post(
        client,
        "/ontvangstbewijs",
        {"ronde": str(vr.round_id), "ontvangstbewijs": receipt.group(0).lower().replace("-", " ")},
    )
    assert counted.status_code == 200
    assert "Geteld" in counted.text
    unknown = form_post(
        client,
        "/ontvangstbewijs",
        {"ronde": str(vr.round_id), "ontvangstbewijs": "AAAA-AAAA-AAAA-AAAA"},
    )
    assert "Onbekend" in unknown.text
    empty = form_post(client, "/ontvangstbewijs", {"ronde": "2147483648", "ontvangstbewijs": ""})
    assert empty.status_code == 422
    assert "Kies de ronde waarin u heeft gestemd." in empty.text
    assert "Vul uw ontvangstbewijs in." in empty.text


def test_booth_in_english(client: Client, settings: Settings) -> None:
    vr = open_round(settings, ballot_type="cumulative", cumulative_points=10)
    enter_code(client, issue_codes(settings, vr, 1)[0])
    client.cookies.set("taal", "en")
    booth = client.get(f"/stemmen/{vr.round_id}")
    assert "Your ballot" in booth.text
    assert "0 of 10 points given. Still to give: 10 points." in booth.text
    # The live meter's sentence templates come in the page's language too.
    assert (
        'data-meter-ok="{used} of {max} points given. Still to give: {left} points."' in booth.text
    )
    refused = form_post(
        client,
        f"/stemmen/{vr.round_id}",
        {f"punten-{vr.projects[0]}": "11", "actie": "controleren"},
    )
    assert "11 points; you have 10 to give." in refused.text


def test_the_receipt_lookup_says_a_voided_ballot_was_declared_invalid_in_dutch_and_english(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    code = issue_codes(settings, vr, 1)[0]
    enter_code(client, code)
    form_post(
        client, f"/stemmen/{vr.round_id}", {f"p-{vr.projects[0]}": "1", "actie": "controleren"}
    )
    receipt_text, _ = review_and_confirm(client, vr)
    receipt = RECEIPT.search(receipt_text)
    assert receipt is not None
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": code, "reason": "brief gestolen", "void_ballot": True},
        headers=admin_headers(settings, vr),
    )
    assert revoked.json() == {"revoked": True, "ballot_voided": True}
    form = {"ronde": str(vr.round_id), "ontvangstbewijs": receipt.group(0)}
    dutch = html.unescape(form_post(client, "/ontvangstbewijs", form).text)
    assert "Ongeldig verklaard" in dutch
    assert "De gemeente heeft deze stem ongeldig verklaard" in dutch
    assert "Dit is uw laatste stem" not in dutch
    client.cookies.set("taal", "en")
    english = html.unescape(form_post(client, "/ontvangstbewijs", form).text)
    assert "Declared invalid" in english
    assert "The municipality has declared this vote invalid" in english
