"""Forms report every problem after one submit; the review form offers only what it accepts."""

from __future__ import annotations

import re
import time

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from burgerbegroting.web import drafts
from tests.accounts.factories import csrf_token
from tests.proposals.factories import (
    People,
    RoundIds,
    create_proposal,
    make_people,
    make_round,
    move_round,
    table_counts,
)

Client = TestClient[Litestar]
EMPTY = {
    "title": "",
    "summary": "",
    "description": "",
    "theme_id": "",
    "district_id": "stad",
    "estimated_cost": "",
    "societal_effect": "",
    "target_group": "",
    "location": "",
    "organisation_name": "",
}
REQUIRED = [
    "title",
    "summary",
    "description",
    "theme_id",
    "estimated_cost",
    "societal_effect",
    "target_group",
]


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


def _summary_links(html: str) -> list[str]:
    summary = html[html.index('id="foutoverzicht"') :]
    summary = summary[: summary.index("</div>")]
    return re.findall(r'<a class="utrecht-link" href="#([a-z_]+)">', summary)


def _marked_fields(html: str) -> set[str]:
    return set(re.findall(r'id="([a-z_]+)-fout"', html))


def _post(client: Client, url: str, data: dict[str, str], headers: dict[str, str]) -> str:
    response = client.post(url, data={**data, "_csrf_token": csrf_token(client)}, headers=headers)
    assert response.status_code == 422, response.text
    return response.text


def test_an_empty_submit_lists_every_required_field(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    before = table_counts(settings)
    html = _post(
        client,
        f"/rondes/{ids.round_id}/voorstellen",
        {**EMPTY, "action": "submit"},
        people.headers(settings, "resident"),
    )
    assert _summary_links(html) == REQUIRED  # in the order of the form
    assert _marked_fields(html) == set(REQUIRED)  # and every red field says why
    assert table_counts(settings) == before


def test_unreadable_and_missing_fields_are_reported_together(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    html = _post(
        client,
        f"/rondes/{ids.round_id}/voorstellen",
        {**EMPTY, "title": "Koffie", "estimated_cost": "veel", "theme_id": "x", "action": "submit"},
        people.headers(settings, "resident"),
    )
    links = _summary_links(html)
    assert links == [f for f in REQUIRED if f != "title"]
    assert "Geef een bedrag in euro" in html  # the amount's own message, not "missing"
    assert "Kies een thema van deze ronde." in html


def test_a_refused_submit_keeps_everything_that_was_typed(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    html = _post(
        client,
        f"/rondes/{ids.round_id}/voorstellen",
        {
            **EMPTY,
            "title": "Koffieochtend voor ouderen",
            "description": "Elke dinsdag in het buurthuis.",
            "estimated_cost": "veel",
            "target_group": "Ouderen in Noord",
            "location": "Buurthuis De Linde",
            "action": "submit",
        },
        people.headers(settings, "resident"),
    )
    assert _summary_links(html)  # refused ...
    assert 'value="Koffieochtend voor ouderen"' in html  # ... with the typed text kept
    assert "Elke dinsdag in het buurthuis.</textarea>" in html
    assert 'value="veel"' in html
    assert "Ouderen in Noord" in html
    assert 'value="Buurthuis De Linde"' in html


def test_a_draft_with_a_bad_amount_reports_only_that(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    html = _post(
        client,
        f"/rondes/{ids.round_id}/voorstellen",
        {**EMPTY, "title": "Koffieochtend", "estimated_cost": "-5", "action": "draft"},
        people.headers(settings, "resident"),
    )
    assert _summary_links(html) == ["estimated_cost"]


def test_submitting_an_incomplete_draft_from_the_edit_form_lists_everything(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    headers = people.headers(settings, "resident")
    draft = create_proposal(
        client,
        settings,
        ids,
        headers,
        submit=False,
        summary="",
        societal_effect="",
        estimated_cost_cents=None,
    )
    html = _post(
        client,
        f"/voorstellen/{draft['id']}/bewerken",
        {
            **EMPTY,
            "title": "Koffieochtend voor ouderen",
            "description": "Elke week.",
            "theme_id": str(ids.themes[0]),
            "target_group": "x" * 10_000,  # too long: a different kind of error, same answer
            "action": "submit",
        },
        headers,
    )
    assert _summary_links(html) == ["summary", "estimated_cost", "societal_effect", "target_group"]


def _review_page(client: Client, settings: Settings, people: People, proposal_id: int) -> str:
    response = client.get(
        f"/voorstellen/{proposal_id}/toetsing", headers=people.headers(settings, "moderator")
    )
    assert response.status_code == 200
    return response.text


def _submitted(client: Client, settings: Settings, people: People, ids: RoundIds) -> int:
    body = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    return int(body["id"])


def test_review_form_hides_accept_below_the_support_threshold(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings, support_threshold=2)
    proposal_id = _submitted(client, settings, people, ids)
    html = _review_page(client, settings, people, proposal_id)
    assert 'value="accepted"' not in html
    assert 'value="in_review"' not in html
    assert 'value="rejected"' in html
    assert "0 van de 2 steunbetuigingen" in html
    # ... and a crafted accept is refused with 409, nothing changes
    before = table_counts(settings)
    response = client.post(
        f"/voorstellen/{proposal_id}/toetsing",
        data={
            "decision": "accepted",
            "municipal_cost": "1000",
            "public_reasoning": "Goed plan.",
            "feasibility_notes": "",
            "_csrf_token": csrf_token(client),
        },
        headers=people.headers(settings, "moderator"),
    )
    assert response.status_code == 409
    assert table_counts(settings) == before


def test_review_form_offers_accept_once_the_threshold_is_reached(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings, support_threshold=1)
    proposal_id = _submitted(client, settings, people, ids)
    response = client.put(
        f"/api/v1/proposals/{proposal_id}/supports", headers=people.headers(settings, "other")
    )
    assert response.status_code in {200, 201, 204}
    html = _review_page(client, settings, people, proposal_id)
    assert 'value="accepted"' in html
    assert "onder-drempel" not in html


def test_review_form_first_load_has_no_error_state_and_says_what_is_required(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    html = _review_page(client, settings, people, _submitted(client, settings, people, ids))
    form = html[html.index('id="toetsformulier"') :]
    assert "invalid" not in form  # no aria-invalid, no --invalid classes, no error summary
    assert "foutoverzicht" not in form
    # Conditionally required fields do not also claim "(niet verplicht)"; the truly optional one
    # does.
    cost = form[form.index('for="municipal_cost"') : form.index('id="municipal_cost"')]
    reasoning = form[form.index('for="public_reasoning"') : form.index('id="public_reasoning"')]
    notes = form[form.index('for="feasibility_notes"') : form.index('id="feasibility_notes"')]
    assert "niet verplicht)" not in cost
    assert "Verplicht bij goedkeuren" in cost
    assert "niet verplicht)" not in reasoning
    assert "Verplicht bij goedkeuren" in reasoning
    assert "(niet verplicht)" in notes


def test_review_in_review_phase_after_move(
    client: Client, settings: Settings, people: People
) -> None:
    # The threshold rule holds in the review phase as well.
    ids = make_round(settings, support_threshold=3)
    proposal_id = _submitted(client, settings, people, ids)
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    assert 'value="accepted"' not in _review_page(client, settings, people, proposal_id)


def test_review_text_survives_an_expired_session(
    client: Client, settings: Settings, people: People
) -> None:
    """A moderator whose session ran out while writing is sent to log in, and the review form
    opens again with the text they had typed (kept in a signed cookie for that form only)."""
    ids = make_round(settings)
    proposal_id = _submitted(client, settings, people, ids)
    form = {
        "decision": "rejected",
        "municipal_cost": "",
        "public_reasoning": "Past niet binnen het sociaal domein; zie de toelichting.",
        "feasibility_notes": "Intern: overlap met bestaand beleid.",
    }
    before = table_counts(settings)
    expired = client.post(
        f"/voorstellen/{proposal_id}/toetsing",
        data={**form, "_csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert expired.status_code == 303
    assert expired.headers["location"] == (
        f"/inloggen?next=%2Fvoorstellen%2F{proposal_id}%2Ftoetsing"
    )
    assert table_counts(settings) == before  # nothing decided without a login
    page = client.get(
        f"/voorstellen/{proposal_id}/toetsing", headers=people.headers(settings, "moderator")
    )
    assert page.status_code == 200
    assert 'id="teruggezet"' in page.text
    assert "Past niet binnen het sociaal domein; zie de toelichting." in page.text
    assert "Intern: overlap met bestaand beleid." in page.text
    assert 'value="rejected" checked' in page.text
    # used once: the cookie is cleared, the next visit shows the stored state
    again = client.get(
        f"/voorstellen/{proposal_id}/toetsing", headers=people.headers(settings, "moderator")
    )
    assert 'id="teruggezet"' not in again.text


def test_a_tampered_or_foreign_draft_is_ignored(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    proposal_id = _submitted(client, settings, people, ids)
    client.cookies.set(
        "bb_concept", "0" * 32 + ".eJyrVipTslJQ", path=f"/voorstellen/{proposal_id}/toetsing"
    )
    page = client.get(
        f"/voorstellen/{proposal_id}/toetsing", headers=people.headers(settings, "moderator")
    )
    assert page.status_code == 200
    assert 'id="teruggezet"' not in page.text


def test_a_resident_cannot_post_a_review(
    client: Client, settings: Settings, people: People
) -> None:
    ids = make_round(settings)
    proposal_id = _submitted(client, settings, people, ids)
    response = client.post(
        f"/voorstellen/{proposal_id}/toetsing",
        data={"decision": "rejected", "_csrf_token": csrf_token(client)},
        headers=people.headers(settings, "other"),
    )
    assert response.status_code == 403
    # refused at the door (the guard), not by the service behind a rendered review form
    assert 'id="toetsformulier"' not in response.text


def _kept_review(
    client: Client,
    settings: Settings,
    people: People,
    *,
    made_for: int,
    opened: int,
    minutes_ago: int,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """The review form of ``opened`` with a draft cookie made for ``made_for``'s form."""
    made_at = time.time() - minutes_ago * 60
    with monkeypatch.context() as patched:
        patched.setattr(drafts.time, "time", lambda: made_at)
        cookie = drafts.draft_cookie(
            settings,
            f"/voorstellen/{made_for}/toetsing",
            {"decision": "rejected", "public_reasoning": "Bewaarde toelichting."},
        )
    assert cookie is not None
    client.cookies.set(drafts.DRAFT_COOKIE, cookie.value, path=f"/voorstellen/{opened}/toetsing")
    return _review_page(client, settings, people, opened)


def test_kept_review_text_lasts_thirty_minutes(
    client: Client, settings: Settings, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = make_round(settings)
    proposal_id = _submitted(client, settings, people, ids)
    fresh = _kept_review(
        client,
        settings,
        people,
        made_for=proposal_id,
        opened=proposal_id,
        minutes_ago=28,
        monkeypatch=monkeypatch,
    )
    assert 'id="teruggezet"' in fresh
    assert "Bewaarde toelichting." in fresh
    client.cookies.clear()
    stale = _kept_review(
        client,
        settings,
        people,
        made_for=proposal_id,
        opened=proposal_id,
        minutes_ago=31,
        monkeypatch=monkeypatch,
    )
    assert 'id="teruggezet"' not in stale
    assert "Bewaarde toelichting." not in stale


def test_kept_review_text_fills_only_the_form_it_was_typed_in(
    client: Client, settings: Settings, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = make_round(settings)
    first = _submitted(client, settings, people, ids)
    second = _submitted(client, settings, people, ids)
    page = _kept_review(
        client,
        settings,
        people,
        made_for=first,
        opened=second,
        minutes_ago=1,
        monkeypatch=monkeypatch,
    )
    assert 'id="teruggezet"' not in page
    assert "Bewaarde toelichting." not in page
