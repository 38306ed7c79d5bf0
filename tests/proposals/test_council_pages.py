"""``/raad``: the council members' page links each closed or published round to its results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.conftest import make_settings
from tests.proposals.factories import create_proposal, make_round, run
from tests.results.helpers import cast
from tests.voting.factories import close, issue_codes, open_round

Client = TestClient[Litestar]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Several codes are redeemed from the one test client's address.
    return make_settings(database_url, tmp_path / "var", code_attempts_per_window=1000)


def _links(html: str, round_id: int) -> set[str]:
    return set(re.findall(rf'href="(/rondes/{round_id}/[^"]*)"', html))


def test_council_page_links_closed_and_published_rounds_to_their_results(
    client: Client, settings: Settings
) -> None:
    open_ids = make_round(settings, title="Nog in indiening")
    closed = open_round(settings)
    codes = issue_codes(settings, closed, 2)
    cast(client, closed.round_id, codes[0], {"projects": [closed.projects[0]]})
    cast(client, closed.round_id, codes[1], {"projects": [closed.projects[1]]})
    close(settings, closed)
    published = open_round(settings, admin_email="beheer2@example.nl")
    close(settings, published)

    async def publish(session: AsyncSession) -> None:
        await rounds.move_phase(
            session,
            published.round_id,
            Phase.PUBLISHED,
            actor_id=published.admin_id,
            reason="test",
        )

    run(settings, publish)
    council = bearer(
        settings, make_user(settings, "raad@gemeente.nl", roles=(Role.COUNCIL,)), staff=True
    )
    page = client.get("/raad", headers=council)
    assert page.status_code == 200
    html = page.text
    for vr in (closed, published):
        assert {
            f"/rondes/{vr.round_id}/uitslag",
            f"/rondes/{vr.round_id}/raadsinformatiebrief",
        } <= _links(html, vr.round_id)
    assert "nog niet openbaar" in html  # the closed round's results are not public yet
    # A round still collecting proposals has no results to link to.
    assert not any("uitslag" in link for link in _links(html, open_ids.round_id))
    # The links lead somewhere a council member may read, also before publication.
    for vr in (closed, published):
        results = client.get(f"/rondes/{vr.round_id}/uitslag", headers=council)
        assert results.status_code == 200
        report = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief", headers=council)
        assert report.status_code == 200
    anonymous = client.get(f"/rondes/{closed.round_id}/uitslag", follow_redirects=False)
    assert anonymous.status_code == 303  # to the login page: not public before publication


def test_council_page_counts_public_proposals_only_and_leaves_out_draft_rounds(
    client: Client, settings: Settings
) -> None:
    ids = make_round(settings, title="Sociaal domein 2027")
    make_round(settings, title="Nog geheim concept", phase=Phase.DRAFT)
    author = make_user(settings, "anna@example.nl")
    create_proposal(client, settings, ids, bearer(settings, author))
    create_proposal(client, settings, ids, bearer(settings, author), submit=False)
    council = bearer(
        settings, make_user(settings, "raad@gemeente.nl", roles=(Role.COUNCIL,)), staff=True
    )
    html = client.get("/raad", headers=council).text
    assert "Sociaal domein 2027" in html
    assert "Nog geheim concept" not in html
    section = html[html.index(f'aria-labelledby="raad-ronde-{ids.round_id}"') :]
    facts = section[: section.index("</dl>")]
    assert re.search(r"Ingediend: 1</dd>", facts), facts  # the draft is not counted
    assert "Concept" not in facts
