"""The Dutch proposal pages: forms without JavaScript, Post/Redirect/Get, errors re-rendered."""

from __future__ import annotations

import re

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.proposals.forms import format_euro_input, parse_euro
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import RESIDENT_PASSWORD, csrf_token, mail_text, mails
from tests.proposals.factories import (
    People,
    RoundIds,
    create_proposal,
    expire,
    make_people,
    make_round,
    move_round,
    scalar,
    table_counts,
)

Client = TestClient[Litestar]


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


@pytest.fixture
def ids(settings: Settings) -> RoundIds:
    return make_round(settings)


def form(ids: RoundIds, **overrides: str) -> dict[str, str]:
    data = {
        "title": "Samen koken in Zuid",
        "summary": "Wekelijks samen koken voor buurtbewoners.",
        "description": "Een **gezellige** avond.",
        "theme_id": str(ids.themes[1]),
        "district_id": str(ids.districts[1]),
        "estimated_cost": "12.500,50",
        "societal_effect": "Buren leren elkaar kennen.",
        "target_group": "Alleenstaanden in Zuid",
        "location": "",
        "organisation_name": "",
        "action": "submit",
    }
    data.update(overrides)
    return data


def post(client: Client, url: str, data: dict[str, str], headers: dict[str, str]) -> Response:
    return client.post(
        url,
        data={**data, "_csrf_token": csrf_token(client)},
        headers=headers,
        follow_redirects=False,
    )


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("12500", 1_250_000),
        ("12.500", 1_250_000),
        ("12.500,50", 1_250_050),
        ("€ 7,5", 750),
        ("0,01", 1),
        ("", None),
    ],
)
def test_parse_euro_reads_dutch_amounts_exactly(raw: str, cents: int | None) -> None:
    assert parse_euro(raw, "x") == cents


@pytest.mark.parametrize("raw", ["-5", "12,345", "1.2.3", "twaalf", "12.50", "1e6", "1" * 25])
def test_parse_euro_refuses_what_is_not_an_amount(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_euro(raw, "estimated_cost")
    assert "estimated_cost" in info.value.fields


def test_format_euro_input_round_trips() -> None:
    for cents in (1, 99, 100, 1_250_050, 1_250_000):
        assert parse_euro(format_euro_input(cents), "x") == cents


def test_resident_submits_through_the_form(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    page = client.get(f"/rondes/{ids.round_id}/voorstellen/nieuw", headers=h)
    assert page.status_code == 200
    assert 'name="estimated_cost"' in page.text
    response = post(client, f"/rondes/{ids.round_id}/voorstellen", form(ids), h)
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/voorstellen/\d+\?melding=ingediend", location)
    shown = client.get(location)
    assert "Samen koken in Zuid" in shown.text
    assert "Uw voorstel is ingediend." in shown.text
    assert "<strong>gezellige</strong>" in shown.text
    assert scalar(settings, "SELECT estimated_cost_cents FROM proposals") == 1_250_050
    assert scalar(settings, "SELECT status FROM proposals") == "submitted"


def test_form_errors_are_shown_in_dutch_and_nothing_is_written(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    before = table_counts(settings)
    response = post(
        client,
        f"/rondes/{ids.round_id}/voorstellen",
        form(ids, estimated_cost="-40", title="x" * 250),
        h,
    )
    assert response.status_code == 422
    assert "Er is iets niet goed ingevuld" in response.text
    assert 'href="#estimated_cost"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert table_counts(settings) == before
    unknown_theme = post(
        client, f"/rondes/{ids.round_id}/voorstellen", form(ids, theme_id="999999"), h
    )
    assert unknown_theme.status_code == 422
    assert "Kies een thema van deze ronde." in unknown_theme.text
    extra_field = post(
        client, f"/rondes/{ids.round_id}/voorstellen", {**form(ids), "status": "accepted"}, h
    )
    assert extra_field.status_code == 400
    assert table_counts(settings) == before


def test_draft_then_edit_then_submit(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    draft = post(
        client,
        f"/rondes/{ids.round_id}/voorstellen",
        form(ids, action="draft", estimated_cost="", summary=""),
        h,
    )
    assert draft.status_code == 303
    proposal_id = int(re.findall(r"\d+", draft.headers["location"])[0])
    assert scalar(settings, "SELECT status FROM proposals") == "draft"
    assert client.get(f"/voorstellen/{proposal_id}").status_code == 404
    edit_page = client.get(f"/voorstellen/{proposal_id}/bewerken", headers=h)
    assert edit_page.status_code == 200
    assert "Samen koken in Zuid" in edit_page.text
    incomplete = post(
        client, f"/voorstellen/{proposal_id}/bewerken", form(ids, estimated_cost="", summary=""), h
    )
    assert incomplete.status_code == 422
    assert scalar(settings, "SELECT status FROM proposals") == "draft"
    done = post(client, f"/voorstellen/{proposal_id}/bewerken", form(ids, estimated_cost="800"), h)
    assert done.status_code == 303
    assert scalar(settings, "SELECT status FROM proposals") == "submitted"
    assert scalar(settings, "SELECT estimated_cost_cents FROM proposals") == 80_000
    assert client.get(f"/voorstellen/{proposal_id}").status_code == 200
    other = people.headers(settings, "other")
    assert client.get(f"/voorstellen/{proposal_id}/bewerken", headers=other).status_code == 403
    assert post(client, f"/voorstellen/{proposal_id}/bewerken", form(ids), other).status_code == 403


def test_editing_after_voting_opened_is_refused(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    created = create_proposal(client, settings, ids, h)
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    move_round(settings, ids.round_id, Phase.VOTING, people.admin)
    response = post(client, f"/voorstellen/{created['id']}/bewerken", form(ids), h)
    assert response.status_code == 409
    assert "De stemming is geopend" in response.text
    assert client.get(f"/voorstellen/{created['id']}/bewerken", headers=h).status_code == 409


def test_gallery_filters_work_as_a_plain_get_form(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    create_proposal(client, settings, ids, h, title="Moestuin in Noord")
    create_proposal(client, settings, ids, h, title="Sporten in Zuid", district_id=ids.districts[1])
    page = client.get(f"/rondes/{ids.round_id}/voorstellen")
    assert page.status_code == 200
    assert f'<form method="get" action="/rondes/{ids.round_id}/voorstellen"' in page.text
    assert "Moestuin in Noord" in page.text
    assert "Sporten in Zuid" in page.text
    filtered = client.get(
        f"/rondes/{ids.round_id}/voorstellen?wijk={ids.districts[1]}&thema=&status=&q=&sorteer=nieuw"
    )
    assert "Sporten in Zuid" in filtered.text
    assert "Moestuin in Noord" not in filtered.text
    assert "1 voorstel gevonden" in filtered.text
    searched = client.get(f"/rondes/{ids.round_id}/voorstellen?q=moestuin")
    assert "Moestuin in Noord" in searched.text
    assert "Sporten in Zuid" not in searched.text
    bad = client.get(f"/rondes/{ids.round_id}/voorstellen?sorteer=zomaar")
    assert bad.status_code == 400
    assert "Onbekende sortering." in bad.text


def test_current_gallery_redirects_to_the_current_round(client: Client, ids: RoundIds) -> None:
    response = client.get("/voorstellen", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/rondes/{ids.round_id}/voorstellen"


def test_support_withdraw_and_my_proposals_pages(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    other = people.headers(settings, "other")
    page = client.get(f"/voorstellen/{created['id']}", headers=other)
    assert "Ik steun dit voorstel" in page.text
    assert post(client, f"/voorstellen/{created['id']}/steunen", {}, other).status_code == 303
    assert "1 inwoner steunt dit voorstel" in client.get(f"/voorstellen/{created['id']}").text
    assert (
        post(client, f"/voorstellen/{created['id']}/steun-intrekken", {}, other).status_code == 303
    )
    assert scalar(settings, "SELECT count(*) FROM proposal_supports") == 0
    h = people.headers(settings, "resident")
    mine = client.get("/mijn-voorstellen", headers=h)
    assert "Koffieochtend voor ouderen" in mine.text
    assert client.get(f"/voorstellen/{created['id']}/intrekken", headers=h).status_code == 200
    assert post(client, f"/voorstellen/{created['id']}/intrekken", {}, h).status_code == 303
    assert scalar(settings, "SELECT status FROM proposals") == "withdrawn"
    assert client.get(f"/voorstellen/{created['id']}").status_code == 404


def test_support_offers_disappear_when_voting_opens(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    url = f"/voorstellen/{created['id']}"
    other = people.headers(settings, "other")
    assert "Log in om dit voorstel te steunen" in client.get(url).text
    assert "Ik steun dit voorstel" in client.get(url, headers=other).text
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    move_round(settings, ids.round_id, Phase.VOTING, people.admin)
    # Supports only count towards review: in the voting phase nobody is invited to give one.
    assert "Log in om dit voorstel te steunen" not in client.get(url).text
    assert "Ik steun dit voorstel" not in client.get(url, headers=other).text
    refused = post(client, f"{url}/steunen", {}, other)
    assert refused.status_code == 409
    assert "Steunen kan alleen tijdens de indienings- en toetsingsfase." in refused.text


def _token(settings: Settings, to: str) -> str:
    for message in reversed(mails(settings)):
        if message["To"] == to:
            match = re.search(r"/uitnodiging\?token=(\S+)", mail_text(message))
            assert match
            return match.group(1)
    raise AssertionError(to)


def test_coauthor_page_invites_without_telling_who_has_an_account(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    created = create_proposal(client, settings, ids, h)
    url = f"/voorstellen/{created['id']}/mede-indieners"
    known = post(client, url, {"email": "bram@example.nl", "message": "Doe mee!"}, h)
    unknown = post(client, url, {"email": "onbekend@example.nl", "message": "Doe mee!"}, h)
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    page = client.get(known.headers["location"], headers=h)
    assert "Uitnodiging verstuurd" in page.text
    assert "geen account" not in page.text.lower()
    assert "bram@example.nl" in page.text
    assert "onbekend@example.nl" in page.text
    # Nobody is credited before accepting.
    assert "Bram Jansen" not in client.get(f"/voorstellen/{created['id']}").text
    body = mail_text(next(m for m in mails(settings) if m["To"] == "onbekend@example.nl"))
    assert "Doe mee!" in body
    assert "Anna de Vries" in body
    bad = post(client, url, {"email": "geen-adres", "message": ""}, h)
    assert bad.status_code == 422
    too_long = post(client, url, {"email": "c@example.nl", "message": "x" * 501}, h)
    assert too_long.status_code == 422
    assert "te lang" in too_long.text
    again = post(client, url, {"email": "bram@example.nl", "message": ""}, h)
    assert again.status_code == 409
    assert "uitnodiging open" in again.text
    unknown_field = post(client, url, {"email": "c@example.nl", "role": "author"}, h)
    assert unknown_field.status_code == 400
    invitation_id = scalar(
        settings, "SELECT id FROM proposal_invitations WHERE email = 'onbekend@example.nl'"
    )
    revoked = post(
        client, f"/voorstellen/{created['id']}/uitnodigingen/{invitation_id}/intrekken", {}, h
    )
    assert revoked.status_code == 303
    assert "onbekend@example.nl" not in client.get(url, headers=h).text


def _invite_bram(client: Client, settings: Settings, proposal_id: int, h: dict[str, str]) -> str:
    """Invite Bram through the co-authors form; the token from the mailed link."""
    post(
        client,
        f"/voorstellen/{proposal_id}/mede-indieners",
        {"email": "bram@example.nl", "message": ""},
        h,
    )
    return _token(settings, "bram@example.nl")


def test_invitee_logs_in_from_the_link_and_accepts_as_organisation(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    created = create_proposal(client, settings, ids, h)
    token = _invite_bram(client, settings, created["id"], h)
    link = f"/uitnodiging?token={token}"
    anonymous = client.get(link)
    assert anonymous.status_code == 200
    assert "Koffieochtend voor ouderen" in anonymous.text
    assert "Anna de Vries" in anonymous.text
    login_href = re.search(r'href="(/inloggen\?next=[^"]+)"', anonymous.text)
    assert login_href
    login_page = client.get(login_href.group(1).replace("&amp;", "&"))
    next_path = re.search(r'name="next_path" value="([^"]+)"', login_page.text)
    assert next_path
    assert next_path.group(1).replace("&amp;", "&") == link
    logged_in = post(
        client,
        "/inloggen",
        {"email": "bram@example.nl", "password": RESIDENT_PASSWORD, "next_path": link},
        {},
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == link
    shown = client.get(link)
    assert "Uitnodiging aannemen" in shown.text
    accepted = post(
        client,
        "/uitnodiging/accepteren",
        {"token": token, "invitation_id": "", "organisation_name": "Stichting Buurtzorg"},
        {},
    )
    assert accepted.status_code == 303, accepted.text
    detail = client.get(accepted.headers["location"])
    assert "Bram Jansen, namens Stichting Buurtzorg (mede-indiener)" in detail.text
    assert "U bent nu mede-indiener" in detail.text
    reused = post(client, "/uitnodiging/accepteren", {"token": token, "invitation_id": ""}, {})
    assert reused.status_code == 409
    assert "al aangenomen" in reused.text


def test_invitation_page_explains_bad_links_in_dutch(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    created = create_proposal(client, settings, ids, h)
    token = _invite_bram(client, settings, created["id"], h)
    missing = client.get("/uitnodiging")
    assert missing.status_code == 400
    assert "onvolledig" in missing.text
    wrong = client.get("/uitnodiging?token=verkeerd")
    assert wrong.status_code == 404
    assert "bestaat niet" in wrong.text
    expire(settings, "bram@example.nl")
    bram = people.headers(settings, "other")
    old = client.get(f"/uitnodiging?token={token}", headers=bram)
    assert old.status_code == 200
    assert "verlopen" in old.text
    assert "Uitnodiging aannemen" not in old.text
    refused = post(client, "/uitnodiging/accepteren", {"token": token, "invitation_id": ""}, bram)
    assert refused.status_code == 409
    assert "verlopen" in refused.text
    nothing = post(client, "/uitnodiging/accepteren", {"token": "", "invitation_id": ""}, bram)
    assert nothing.status_code == 422
    assert scalar(settings, "SELECT count(*) FROM proposal_authors") == 1


def test_my_proposals_lists_invitations_to_my_address_and_declines(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    h = people.headers(settings, "resident")
    created = create_proposal(client, settings, ids, h)
    _invite_bram(client, settings, created["id"], h)
    bram = people.headers(settings, "other")
    mine = client.get("/mijn-voorstellen", headers=bram)
    link = re.search(r'href="(/uitnodiging\?id=\d+)"', mine.text)
    assert link
    assert "Koffieochtend voor ouderen" in mine.text
    # Someone else cannot open it by id.
    moderator = people.headers(settings, "moderator")
    assert client.get(link.group(1), headers=moderator).status_code == 404
    assert client.get(link.group(1), headers=bram).status_code == 200
    invitation_id = link.group(1).rpartition("=")[2]
    declined = post(
        client, "/uitnodiging/afwijzen", {"token": "", "invitation_id": invitation_id}, bram
    )
    assert declined.status_code == 303
    after = client.get(declined.headers["location"], headers=bram)
    assert "U heeft de uitnodiging afgewezen" in after.text
    assert "/uitnodiging?id=" not in after.text
    assert scalar(settings, "SELECT status FROM proposal_invitations") == "declined"


def test_moderator_reviews_and_merges_through_forms(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    a = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    b = create_proposal(
        client, settings, ids, people.headers(settings, "other"), title="Koffie in Noord"
    )
    mod = people.headers(settings, "moderator")
    queue = client.get("/toetsing", headers=mod)
    assert queue.status_code == 200
    assert f"/voorstellen/{a['id']}/toetsing" in queue.text
    assert client.get("/toetsing", headers=people.headers(settings, "resident")).status_code == 403
    review_url = f"/voorstellen/{b['id']}/toetsing"
    assert client.get(review_url, headers=mod).status_code == 200
    missing = post(
        client,
        review_url,
        {
            "decision": "accepted",
            "municipal_cost": "",
            "feasibility_notes": "",
            "public_reasoning": "Prima",
        },
        mod,
    )
    assert missing.status_code == 422
    assert "kostenraming" in missing.text
    done = post(
        client,
        review_url,
        {
            "decision": "accepted",
            "municipal_cost": "9.000",
            "feasibility_notes": "intern",
            "public_reasoning": "Prima plan.",
        },
        mod,
    )
    assert done.status_code == 303
    public = client.get(f"/voorstellen/{b['id']}").text
    assert "Prima plan." in public
    assert "Haalbaarheid (intern" not in public
    assert "Haalbaarheid (intern" in client.get(f"/voorstellen/{b['id']}", headers=mod).text
    merge_url = f"/voorstellen/{a['id']}/samenvoegen"
    assert client.get(merge_url, headers=mod).status_code == 200
    no_reason = post(client, merge_url, {"into_id": str(b["id"]), "reason": ""}, mod)
    assert no_reason.status_code == 422
    merged = post(client, merge_url, {"into_id": str(b["id"]), "reason": "Hetzelfde idee."}, mod)
    assert merged.status_code == 303
    assert merged.headers["location"].startswith(f"/voorstellen/{b['id']}")
    target = client.get(f"/voorstellen/{b['id']}").text
    assert "Anna de Vries" in target
    assert "Bram Jansen" in target
    source = client.get(f"/voorstellen/{a['id']}").text
    assert "Dit voorstel is samengevoegd met" in source


def test_review_closes_when_voting_opens(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    waiting = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    mod = people.headers(settings, "moderator")
    review_url = f"/voorstellen/{waiting['id']}/toetsing"
    assert review_url in client.get("/toetsing", headers=mod).text
    assert 'id="toetsformulier"' in client.get(review_url, headers=mod).text
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    move_round(settings, ids.round_id, Phase.VOTING, people.admin)
    # The queue no longer offers what cannot be decided, and the forms say why instead of failing.
    assert review_url not in client.get("/toetsing", headers=mod).text
    review_page = client.get(review_url, headers=mod)
    assert 'id="toetsing-gesloten"' in review_page.text
    assert 'id="toetsformulier"' not in review_page.text
    merge_page = client.get(f"/voorstellen/{waiting['id']}/samenvoegen", headers=mod)
    assert 'id="toetsing-gesloten"' in merge_page.text
    assert 'id="samenvoegformulier"' not in merge_page.text
    refused = post(
        client,
        review_url,
        {
            "decision": "rejected",
            "municipal_cost": "",
            "feasibility_notes": "",
            "public_reasoning": "Nee",
        },
        mod,
    )
    assert refused.status_code == 409
    # Accepted by move_round before voting could open (no proposal may still wait then); the
    # refused rejection left it so.
    assert scalar(settings, "SELECT status FROM proposals") == "accepted"


def test_proposal_pages_in_english_leave_no_dutch_labels_behind(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    created = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    client.cookies.set("taal", "en")
    gallery = client.get(f"/rondes/{ids.round_id}/voorstellen").text
    for english in ("Newest first", "Most support", "Submitted"):
        assert english in gallery
    for dutch in ("Nieuwste eerst", "Meeste steun", "Ingediend"):
        assert dutch not in gallery
    mod = people.headers(settings, "moderator")
    review = client.get(f"/voorstellen/{created['id']}/toetsing", headers=mod).text
    assert "Take into review" in review
    assert "In behandeling nemen" not in review
    # A service's message follows the page's language too.
    missing = post(
        client,
        f"/voorstellen/{created['id']}/toetsing",
        {
            "decision": "accepted",
            "municipal_cost": "",
            "feasibility_notes": "",
            "public_reasoning": "",
        },
        mod,
    )
    assert missing.status_code == 422
    assert "An accepted proposal needs a municipal cost estimate." in missing.text
