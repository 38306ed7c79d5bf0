"""Finding things: the menu, the footer, the phase banner and the home page lead to every round."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import utcnow
from burgerbegroting.i18n import format_date
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.proposals.factories import make_round, run
from tests.voting.factories import close, open_round

Client = TestClient[Litestar]
PUBLIC_PAGES = ["/", "/rondes", "/voorstellen", "/toegankelijkheid", "/privacy", "/bestaat-niet"]


def _current_links(html: str) -> list[str]:
    return re.findall(r'<a class="bb-nav__link" href="([^"]+)" aria-current="page"', html)


def _schedule(settings: Settings, round_id: int) -> None:
    async def work(session: AsyncSession) -> None:
        round_ = await session.get(Round, round_id)
        assert round_ is not None
        round_.submission_starts_at = datetime(2027, 1, 10, 8, 0, tzinfo=UTC)
        round_.review_starts_at = datetime(2027, 2, 10, 8, 0, tzinfo=UTC)
        round_.voting_starts_at = datetime(2027, 3, 10, 8, 0, tzinfo=UTC)

    run(settings, work)


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_every_public_page_links_to_the_rounds_in_menu_and_footer(
    client: Client, path: str
) -> None:
    html = client.get(path).text
    assert '<a class="bb-nav__link" href="/rondes"' in html
    assert '<a class="utrecht-link bb-footer__link" href="/rondes">Alle rondes</a>' in html


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/", "/"),
        ("/rondes", "/rondes"),
        ("/beheer", "/beheer"),
        ("/beheer/rondes", "/beheer/rondes"),
        ("/beheer/rondes/nieuw", "/beheer/rondes"),
        ("/beheer/logboek", "/beheer/logboek"),
        ("/mijn-voorstellen", "/mijn-voorstellen"),
    ],
)
def test_exactly_one_menu_item_is_current(
    client: Client, settings: Settings, path: str, current: str
) -> None:
    admin = make_user(settings, "beheer@gemeente.nl", roles=(Role.ADMIN,))
    response = client.get(path, headers=bearer(settings, admin, staff=True))
    assert response.status_code == 200, response.text
    assert _current_links(response.text) == [current]
    assert response.text.count('aria-current="page"') == 1


def test_a_rounds_gallery_marks_proposals_not_rounds(client: Client, settings: Settings) -> None:
    ids = make_round(settings)
    html = client.get(f"/rondes/{ids.round_id}/voorstellen").text
    assert _current_links(html) == ["/voorstellen"]
    # and the round page itself marks "Rondes"
    assert _current_links(client.get(f"/rondes/{ids.round_id}").text) == ["/rondes"]


def test_home_shows_every_open_round_with_phase_timeline_and_link(
    client: Client, settings: Settings
) -> None:
    first = make_round(settings, title="Sociaal domein 2027")
    second = make_round(settings, title="Jongerenbegroting 2027", phase=Phase.REVIEW)
    make_round(settings, title="Nog geheim concept", phase=Phase.DRAFT)
    _schedule(settings, first.round_id)
    html = client.get("/").text
    for ids, title in ((first, "Sociaal domein 2027"), (second, "Jongerenbegroting 2027")):
        assert f'href="/rondes/{ids.round_id}">{title}</a>' in html
    assert "Nog geheim concept" not in html
    assert "Lopende rondes" in html
    # The timeline: every public phase in order, the current one marked for screen readers too.
    section = html[html.index(f'aria-labelledby="ronde-{first.round_id}"') :]
    timeline = section[section.index('<ol class="bb-timeline"') :]
    timeline = timeline[: timeline.index("</ol>")]
    phases = [p.strip() for p in re.findall(r'<span class="bb-timeline__phase">([^<]+)', timeline)]
    assert phases == [
        "Voorstellen indienen",
        "Toetsing door de gemeente",
        "Stemmen",
        "Stemmen gesloten, uitslag volgt",
        "Uitslag bekend",
    ]
    assert timeline.count('aria-current="step"') == 1
    assert (
        'bb-timeline__step--current" aria-current="step">\n    <span class="bb-timeline__phase">Voorstellen indienen'
        in timeline
    )
    # The current phase began today, before its planned start: the step says so; the next
    # phases keep their plan.
    assert "vanaf 10 januari 2027" not in timeline
    assert f"vanaf {format_date(utcnow())}" in timeline
    assert "vanaf 10 februari 2027" in timeline
    assert "datum volgt" in timeline  # closing and publication are not scheduled


def test_the_phase_banner_links_every_open_round_on_every_page(
    client: Client, settings: Settings
) -> None:
    first = make_round(settings, title="Sociaal domein 2027")
    second = make_round(settings, title="Jongerenbegroting 2027", phase=Phase.REVIEW)
    html = client.get("/privacy").text
    banner = html[html.index('class="bb-phase-banner"') : html.index('<main id="inhoud"')]
    assert f'href="/rondes/{first.round_id}"' in banner
    assert f'href="/rondes/{second.round_id}"' in banner


def test_proposals_with_several_open_rounds_lets_the_resident_choose(
    client: Client, settings: Settings
) -> None:
    first = make_round(settings, title="Sociaal domein 2027")
    second = make_round(settings, title="Jongerenbegroting 2027", phase=Phase.REVIEW)
    response = client.get("/voorstellen", follow_redirects=False)
    assert response.status_code == 200
    for ids in (first, second):
        assert f'href="/rondes/{ids.round_id}/voorstellen"' in response.text
    # each gallery links to the other open round
    gallery = client.get(f"/rondes/{first.round_id}/voorstellen").text
    assert f'href="/rondes/{second.round_id}/voorstellen"' in gallery
    assert f'href="/rondes/{first.round_id}">Sociaal domein 2027</a>' in gallery


def test_proposals_with_one_open_round_goes_straight_to_its_gallery(
    client: Client, settings: Settings
) -> None:
    ids = make_round(settings)
    response = client.get("/voorstellen", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/rondes/{ids.round_id}/voorstellen"


def test_round_page_shows_the_phase_timeline(client: Client, settings: Settings) -> None:
    ids = make_round(settings, phase=Phase.REVIEW)
    _schedule(settings, ids.round_id)
    html = client.get(f"/rondes/{ids.round_id}").text
    step = re.search(
        r'<li class="bb-timeline__step bb-timeline__step--current" aria-current="step">\s*'
        r'<span class="bb-timeline__phase">([^<]+) <span',
        html,
    )
    assert step is not None
    assert step.group(1) == "Toetsing door de gemeente"
    # Entered today, before the planned 10 February: the current step shows today.
    assert "vanaf 10 februari 2027" not in html
    assert f"vanaf {format_date(utcnow())}" in html
    assert "vanaf 10 maart 2027" in html


def test_favicon_is_an_icon_not_a_404(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/x-icon")
    assert response.content[:4] == b"\x00\x00\x01\x00"  # the ICO file signature
    assert 'rel="icon" href="/favicon.ico"' in client.get("/").text


def test_home_lists_a_voting_round_too_and_before_rounds_still_collecting(
    client: Client, settings: Settings
) -> None:
    collecting = make_round(settings, title="Sociaal domein 2027")
    voting = open_round(settings)
    html = client.get("/").text
    assert "Lopende rondes" in html
    voting_at = html.index(f'aria-labelledby="ronde-{voting.round_id}"')
    collecting_at = html.index(f'aria-labelledby="ronde-{collecting.round_id}"')
    assert voting_at < collecting_at  # the furthest along first
    banner = html[html.index('class="bb-phase-banner"') : html.index('<main id="inhoud"')]
    assert f'href="/rondes/{voting.round_id}"' in banner


def test_a_closed_round_is_not_listed_as_running(client: Client, settings: Settings) -> None:
    running = make_round(settings, title="Sociaal domein 2027")
    closed = open_round(settings)
    close(settings, closed)
    html = client.get("/").text
    assert f'aria-labelledby="ronde-{running.round_id}"' in html
    assert f'aria-labelledby="ronde-{closed.round_id}"' not in html
