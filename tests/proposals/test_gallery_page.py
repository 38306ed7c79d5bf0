"""The gallery page: supports on every card, filters folded behind <details> unless in use."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.proposals.factories import create_proposal, make_people, make_round, move_round

Client = TestClient[Litestar]


def _filters_tag(html: str) -> str:
    match = re.search(r'<details class="bb-filters[^"]*"[^>]*>', html)
    assert match is not None
    return match.group(0)


def test_cards_show_supports_also_after_review(client: Client, settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    proposal = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    carla = bearer(settings, make_user(settings, "carla@example.nl"))
    for headers in (people.headers(settings, "other"), carla):
        response = client.put(f"/api/v1/proposals/{proposal['id']}/supports", headers=headers)
        assert response.status_code in {200, 201, 204}, response.text
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    html = client.get(f"/rondes/{ids.round_id}/voorstellen").text
    assert "<dt>Steun</dt><dd>2</dd>" in html


def test_filters_are_folded_until_used(client: Client, settings: Settings) -> None:
    ids = make_round(settings)
    plain = client.get(f"/rondes/{ids.round_id}/voorstellen").text
    assert " open" not in _filters_tag(plain)
    assert "<summary" in plain
    # the proposals come before the folded filters' fields would push them down: the summary is
    # one line, the form is inside the <details>
    details = plain[plain.index("<details") : plain.index("</details>")]
    assert 'id="filters"' in details
    searched = client.get(f"/rondes/{ids.round_id}/voorstellen?q=koffie").text
    assert " open" in _filters_tag(searched)
    wrong = client.get(f"/rondes/{ids.round_id}/voorstellen?sorteer=willekeurig")
    assert wrong.status_code == 400
    assert " open" in _filters_tag(wrong.text)  # an error in a filter is never hidden


def test_authors_cannot_support_their_own_proposal(client: Client, settings: Settings) -> None:
    """Decision: supports show that *other* residents back a plan (they decide whether it is
    reviewed), so authors and co-authors cannot add theirs; the page does not offer it."""
    people = make_people(settings)
    ids = make_round(settings)
    author = people.headers(settings, "resident")
    proposal = create_proposal(client, settings, ids, author)
    refused = client.put(f"/api/v1/proposals/{proposal['id']}/supports", headers=author)
    assert refused.status_code == 409
    assert "eigen voorstel" in refused.json()["detail"]
    page = client.get(f"/voorstellen/{proposal['id']}", headers=author).text
    assert "/steunen" not in page
    # another resident may
    other = people.headers(settings, "other")
    assert "/steunen" in client.get(f"/voorstellen/{proposal['id']}", headers=other).text
    assert client.put(f"/api/v1/proposals/{proposal['id']}/supports", headers=other).is_success


def test_council_members_have_a_page_of_their_rounds(client: Client, settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings, title="Sociaal domein 2027")
    make_round(settings, title="Geheim concept", phase=Phase.DRAFT)
    create_proposal(client, settings, ids, people.headers(settings, "resident"))
    create_proposal(client, settings, ids, people.headers(settings, "other"), submit=False)
    council = bearer(
        settings, make_user(settings, "raad@gemeente.nl", roles=(Role.COUNCIL,)), staff=True
    )
    response = client.get("/raad", headers=council)
    assert response.status_code == 200
    html = response.text
    assert f'href="/rondes/{ids.round_id}">Sociaal domein 2027</a>' in html
    assert "Geheim concept" not in html
    assert "Ingediend: 1" in html  # drafts are not counted
    assert '<a class="bb-nav__link" href="/raad" aria-current="page">' in html
    resident = people.headers(settings, "resident")
    assert client.get("/raad", headers=resident).status_code == 403
