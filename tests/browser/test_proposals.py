"""Proposals in a real browser: a resident submits and edits with the keyboard only, a moderator
reviews, the gallery filters work with JavaScript switched off, and every proposal page passes
axe-core (WCAG 2.1 A/AA) and reflows at 320 px."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import create_user
from burgerbegroting.db import create_engine
from burgerbegroting.proposals import service
from burgerbegroting.rounds.models import District, Round, Theme
from tests.browser.conftest import LiveServer, latest_mail, mail_text, run_async
from tests.browser.test_accounts_keyboard import (
    check_page,
    enter_and_wait,
    tab_to,
    tab_to_field,
    tab_to_text,
)

pytestmark = pytest.mark.browser
PASSWORD = "voorstel-wachtwoord-lang-1"


@dataclass
class World:
    round_id: int
    themes: list[int]
    districts: list[int]
    resident: str
    moderator: str
    proposals: list[int]
    user_ids: dict[str, int]


async def _seed(database_url: str, tag: str) -> World:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            resident = await create_user(
                session,
                email=f"inwoner-{tag}@example.org",
                password=PASSWORD,
                display_name=f"Inwoner {tag}",
                roles=[Role.RESIDENT],
                confirmed=True,
            )
            helper = await create_user(
                session,
                email=f"buur-{tag}@example.org",
                password=PASSWORD,
                display_name=f"Buur {tag}",
                roles=[Role.RESIDENT],
                confirmed=True,
            )
            moderator = await create_user(
                session,
                email=f"toetser-{tag}@example.org",
                password=PASSWORD,
                display_name=f"Toetser {tag}",
                roles=[Role.MODERATOR],
                confirmed=True,
            )
            round_ = Round(
                title=f"Ronde {tag}",
                total_budget_cents=40_000_000,
                phase="submission",
                supports_enabled=True,
            )
            session.add(round_)
            await session.flush()
            themes = [
                Theme(round_id=round_.id, name=n, position=i)
                for i, n in enumerate(("Eenzaamheid", "Mantelzorg"))
            ]
            districts = [
                District(round_id=round_.id, name=n, position=i)
                for i, n in enumerate(("Noord", "Zuid"))
            ]
            session.add_all([*themes, *districts])
            await session.flush()
            actor = CurrentUser(
                helper.id, helper.email, helper.display_name, frozenset({Role.RESIDENT})
            )
            ids = []
            for title, theme, district in (
                ("Wandelclub voor mantelzorgers", themes[1], districts[0]),
                ("Buurtkamer tegen eenzaamheid", themes[0], districts[1]),
                ("Telefooncirkel voor ouderen", themes[0], None),
            ):
                proposal = await service.create_proposal(
                    session,
                    round_id=round_.id,
                    user=actor,
                    submit=True,
                    data=service.ProposalInput(
                        title=title,
                        summary=f"Samenvatting van {title.lower()}.",
                        description="Uitleg met *nadruk*.\n\n- punt een\n- punt twee",
                        theme_id=theme.id,
                        district_id=district.id if district else None,
                        estimated_cost_cents=750_000,
                        societal_effect="Meer contact.",
                        target_group="Inwoners",
                    ),
                )
                ids.append(proposal.id)
            await session.commit()
            return World(
                round_.id,
                [t.id for t in themes],
                [d.id for d in districts],
                resident.email,
                moderator.email,
                ids,
                {
                    resident.email: resident.id,
                    helper.email: helper.id,
                    moderator.email: moderator.id,
                },
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def world(live_server: LiveServer) -> World:
    result: World = run_async(_seed, live_server.database_url, uuid.uuid4().hex[:8])
    return result


def login(page: Any, live_server: LiveServer, world: World, email: str) -> None:
    """Log in by setting the session cookie: the login form itself is tested elsewhere, and the
    login rate limit (per address, shared by every browser test) must not decide these tests."""
    token = tokens.issue_session_token(
        live_server.settings, user_id=world.user_ids[email], staff=email == world.moderator
    )
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token.encoded, "url": live_server.base_url}]
    )
    page.goto(live_server.url("/"))
    assert "Uitloggen" in page.locator("header").inner_text()


def login_with_keyboard(page: Any, live_server: LiveServer, email: str) -> None:
    page.goto(live_server.url("/inloggen"))
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(PASSWORD)
    enter_and_wait(page)
    assert "Uitloggen" in page.locator("header").inner_text()


def tab_to_select(page: Any, name: str) -> None:
    tab_to(page, lambda f: f["name"] == name and f["tag"] == "select", name)


def test_resident_submits_and_edits_with_the_keyboard_only(
    page: Any, live_server: LiveServer, world: World
) -> None:
    login_with_keyboard(page, live_server, world.resident)
    page.goto(live_server.url(f"/rondes/{world.round_id}/voorstellen"))
    tab_to_text(page, "Voorstel indienen", "a")
    enter_and_wait(page)
    assert page.url.endswith(f"/rondes/{world.round_id}/voorstellen/nieuw")
    check_page(page)

    # A submit with almost nothing filled in: the error summary takes focus and links to fields.
    tab_to_field(page, "title")
    page.keyboard.type("Zo")
    tab_to_text(page, "Voorstel indienen", "button")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").is_visible()
    assert "minstens 5 tekens" in page.locator("#foutoverzicht").inner_text()
    check_page(page)

    tab_to_field(page, "title")
    page.keyboard.press("Control+A")
    page.keyboard.type("Samen sporten in Zuid")
    tab_to_field(page, "summary")
    page.keyboard.type("Elke zaterdag samen bewegen in het park.")
    tab_to_field(page, "description")
    page.keyboard.type("Een trainer begeleidt **iedereen**.")
    tab_to_select(page, "theme_id")
    page.keyboard.press("End")  # the last theme: Mantelzorg
    tab_to_select(page, "district_id")
    page.keyboard.press("End")  # the last district: Zuid
    tab_to_field(page, "estimated_cost")
    page.keyboard.type("4.250,50")
    tab_to_field(page, "societal_effect")
    page.keyboard.type("Buren bewegen meer en leren elkaar kennen.")
    tab_to_field(page, "target_group")
    page.keyboard.type("Volwassenen in Zuid")
    tab_to_text(page, "Voorstel indienen", "button")
    enter_and_wait(page)

    assert re.search(r"/voorstellen/\d+\?melding=ingediend$", page.url)
    assert "Uw voorstel is ingediend." in page.locator("#melding").inner_text()
    facts = page.locator("main").inner_text()
    assert "Samen sporten in Zuid" in facts
    assert "Zuid" in facts
    assert "4.250,50" in facts
    assert page.locator("#beschrijving strong").inner_text() == "iedereen"
    check_page(page)

    tab_to_text(page, "Voorstel bewerken", "a")
    enter_and_wait(page)
    check_page(page)
    tab_to_field(page, "title")
    page.keyboard.press("Control+A")
    page.keyboard.type("Samen sporten in het Zuiderpark")
    tab_to_text(page, "Wijzigingen opslaan", "button")
    enter_and_wait(page)
    assert "Uw voorstel is opgeslagen." in page.locator("#melding").inner_text()
    assert page.locator("h1").inner_text() == "Samen sporten in het Zuiderpark"


def test_moderator_reviews_a_proposal(new_page: Any, live_server: LiveServer, world: World) -> None:
    page = new_page()
    login(page, live_server, world, world.moderator)
    page.goto(live_server.url("/toetsing"))
    check_page(page)
    target = world.proposals[0]
    page.click(f'a[href="/voorstellen/{target}/toetsing"]')
    page.wait_for_load_state()
    check_page(page)

    # Accepting without the municipal cost is refused with a message at the field.
    page.check('input[name="decision"][value="accepted"]')
    page.fill("#public_reasoning", "Uitvoerbaar via het buurtteam.")
    with page.expect_navigation():
        page.click("text=Besluit opslaan")
    assert "kostenraming" in page.locator("#foutoverzicht").inner_text()
    check_page(page)

    page.fill("#municipal_cost", "8.000")
    page.fill("#feasibility_notes", "Afgestemd met team Welzijn.")
    with page.expect_navigation():
        page.click("text=Besluit opslaan")
    assert page.url.endswith(f"/voorstellen/{target}?melding=beoordeeld")
    main = page.locator("main").inner_text()
    assert "Goedgekeurd" in main
    assert "8.000" in main
    assert "Uitvoerbaar via het buurtteam." in main
    check_page(page)
    message = latest_mail(live_server.mail_dir, to=f"buur-{world.resident.split('-', 1)[1]}")
    assert "goedgekeurd" in str(message["Subject"])
    assert "Uitvoerbaar via het buurtteam." in mail_text(message)


def test_gallery_filters_work_without_javascript(
    new_page: Any, live_server: LiveServer, world: World
) -> None:
    page = new_page(javascript=False)
    page.goto(live_server.url(f"/rondes/{world.round_id}/voorstellen"))
    titles = page.locator("#voorstellen-lijst h3").all_inner_texts()
    assert len(titles) >= 3
    page.select_option("#thema", str(world.themes[0]))
    with page.expect_navigation():
        page.click("text=Toon voorstellen")
    assert f"thema={world.themes[0]}" in page.url
    filtered = set(page.locator("#voorstellen-lijst h3").all_inner_texts())
    assert filtered == {"Buurtkamer tegen eenzaamheid", "Telefooncirkel voor ouderen"}
    assert page.locator("#thema").input_value() == str(world.themes[0])

    page.select_option("#wijk", "stad")
    with page.expect_navigation():
        page.click("text=Toon voorstellen")
    assert set(page.locator("#voorstellen-lijst h3").all_inner_texts()) == {
        "Telefooncirkel voor ouderen"
    }

    page.goto(live_server.url(f"/rondes/{world.round_id}/voorstellen"))
    page.fill("#q", "wandelclub")
    with page.expect_navigation():
        page.press("#q", "Enter")
    assert page.locator("#voorstellen-lijst h3").all_inner_texts() == [
        "Wandelclub voor mantelzorgers"
    ]


def test_every_proposal_page_is_accessible_and_reflows(
    new_page: Any, live_server: LiveServer, world: World
) -> None:
    resident = new_page()
    login(resident, live_server, world, world.resident)
    mine = world.proposals[1]
    # The helper resident wrote the seeded proposals; make our resident a co-author of one.
    helper = new_page()
    login(helper, live_server, world, f"buur-{world.resident.split('-', 1)[1]}")
    helper.goto(live_server.url(f"/voorstellen/{mine}/mede-indieners"))
    helper.fill("#email", world.resident)
    helper.fill("#message", "Wil je meeschrijven?")
    with helper.expect_navigation():
        helper.click("text=Uitnodiging versturen")
    assert "Uitnodiging verstuurd" in helper.locator("#melding").inner_text()
    assert world.resident in helper.locator("#uitnodigingen").inner_text()
    check_page(helper)  # the co-authors page with a pending invitation

    # The invitation page as the mailed link opens it, logged out, and with a wrong token.
    mail = latest_mail(live_server.settings.mail_dir, to=world.resident)
    match = re.search(r"/uitnodiging\?token=(\S+)", mail_text(mail))
    assert match
    anonymous = new_page()
    anonymous.goto(live_server.url(f"/uitnodiging?token={match.group(1)}"))
    assert "Wil je meeschrijven?" in anonymous.locator("#bericht").inner_text()
    check_page(anonymous)
    response = anonymous.goto(live_server.url("/uitnodiging?token=onzin"))
    assert response is not None
    assert response.status == 404
    check_page(anonymous)

    # The resident finds it under "Mijn voorstellen" and accepts it with the keyboard.
    resident.goto(live_server.url("/mijn-voorstellen"))
    with resident.expect_navigation():
        resident.click("#uitnodigingen a")
    check_page(resident)
    resident.fill("#organisation_name", "Stichting Samen Sterk")
    with resident.expect_navigation():
        resident.click("text=Uitnodiging aannemen")
    assert "namens Stichting Samen Sterk" in resident.locator("#indieners").inner_text()
    check_page(resident)

    for path in (
        f"/rondes/{world.round_id}/voorstellen",
        f"/rondes/{world.round_id}/voorstellen?thema=abc",  # the filter error state
        f"/voorstellen/{mine}",
        f"/voorstellen/{mine}/bewerken",
        f"/voorstellen/{mine}/mede-indieners",
        f"/voorstellen/{mine}/intrekken",
        "/mijn-voorstellen",
        f"/rondes/{world.round_id}/voorstellen/nieuw",
    ):
        response = resident.goto(live_server.url(path))
        assert response is not None
        assert response.status in {200, 400}, path
        check_page(resident)
    # Not her own proposal (authors cannot support theirs): a neighbour's.
    resident.goto(live_server.url(f"/voorstellen/{world.proposals[0]}"))
    with resident.expect_navigation():
        resident.click("text=Ik steun dit voorstel")
    assert "1 inwoner steunt dit voorstel" in resident.locator("#steun-aantal").inner_text()
    check_page(resident)

    moderator = new_page()
    login(moderator, live_server, world, world.moderator)
    for path in ("/toetsing", f"/voorstellen/{mine}/toetsing", f"/voorstellen/{mine}/samenvoegen"):
        moderator.goto(live_server.url(path))
        check_page(moderator)
