"""The voting booth in a real browser, keyboard only (Tab, Space, Enter, typing; no clicks):
enter the code, choose, review, confirm and read the receipt, with JavaScript and without it.
Every booth page and error state passes axe-core (WCAG 2.1 A/AA) and reflows at 320 px.

Screenshots of the booth, review and receipt pages at 1280 and 320 px go to ``BB_SCREENS``
(default ``/work/screens``) when that directory exists; they are not part of the repository.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from burgerbegroting.rounds.models import Phase
from tests.accounts.factories import RESIDENT_PASSWORD, make_user
from tests.browser.conftest import LiveServer, run_async
from tests.browser.test_accounts_keyboard import (
    assert_focused,
    check_page,
    enter_and_wait,
    tab_to,
    tab_to_field,
)
from tests.voting.factories import VotingRound, close, issue_codes, open_round, scalar

pytestmark = pytest.mark.browser

RECEIPT = re.compile(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")
SCREENS = Path(os.environ.get("BB_SCREENS") or "/work/screens")


def seed(live_server: LiveServer, codes: int, **options: Any) -> tuple[VotingRound, list[str]]:
    """A round in voting on the live server's database, and fresh codes for it."""
    settings = live_server.settings

    def work() -> tuple[VotingRound, list[str]]:
        vr = open_round(
            settings, admin_email=f"beheer-{uuid.uuid4().hex[:8]}@example.nl", **options
        )
        return vr, issue_codes(settings, vr, codes)

    async def in_worker_thread() -> tuple[VotingRound, list[str]]:
        # The factories run their own event loop; Playwright's occupies this thread.
        return await asyncio.to_thread(work)

    result: tuple[VotingRound, list[str]] = run_async(in_worker_thread)
    return result


def screenshot(page: Any, name: str) -> None:
    if not SCREENS.is_dir():
        return
    original = page.viewport_size
    for width in (1280, 320):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SCREENS / f"booth-{name}-{width}.png"), full_page=True)
    if original:
        page.set_viewport_size(original)


def tab_to_control(page: Any, element_id: str) -> None:
    tab_to(page, lambda f: f["id"] == element_id, element_id)


def tab_to_button(page: Any, text: str) -> None:
    tab_to(page, lambda f: f["tag"] == "button" and f["text"] == text, repr(text))


def meter_text(page: Any) -> str:
    return str(page.locator("#meter-tekst").inner_text())


def test_vote_with_javascript_keyboard_only(new_page: Any, live_server: LiveServer) -> None:
    vr, codes = seed(live_server, 1, project_districts=[0, 1, None, 0])
    page = new_page()

    # The letter's QR code: the code in the fragment fills the field and leaves the address.
    page.goto(live_server.url(f"/stemmen#code={codes[0]}"))
    assert page.locator("#code").input_value() == codes[0]
    assert page.url == live_server.url("/stemmen")
    check_page(page)
    tab_to_button(page, "Naar het stembiljet")
    enter_and_wait(page)
    page.wait_for_url(re.compile(rf"/stemmen/{vr.round_id}$"))
    check_page(page)

    # The meter follows each choice live, in the live region.
    assert "Nog te verdelen: €\xa0100.000,00" in meter_text(page)
    tab_to_control(page, f"p-{vr.projects[0]}")
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => document.getElementById('meter-tekst').textContent.includes('60.000,00 van')"
    )
    tab_to_control(page, f"p-{vr.projects[1]}")
    page.keyboard.press("Space")
    tab_to_control(page, f"p-{vr.projects[2]}")
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => document.getElementById('meter-tekst').textContent.includes('te veel')"
    )
    assert "Dat is €\xa020.000,00 te veel." in meter_text(page)
    check_page(page)  # the over-budget state
    page.keyboard.press("Shift+Tab")  # back to the second project: drop it
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => document.getElementById('meter-tekst').textContent.includes('Nog te verdelen')"
    )
    assert "Gekozen: €\xa090.000,00 van €\xa0100.000,00" in meter_text(page)

    # The theme filter hides projects at once; the chosen ones stay chosen.
    page.locator("#thema").focus()
    page.keyboard.press("ArrowDown")
    assert page.locator(".bb-project:not([hidden])").count() < len(vr.projects)
    assert page.locator(f"#p-{vr.projects[0]}").is_checked()
    screenshot(page, "stembiljet")

    tab_to_button(page, "Controleren")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/controleren$"))
    review = page.locator("main").inner_text()
    assert "Project 1" in review
    assert "Project 3" in review
    assert "Project 2" not in review
    check_page(page)
    screenshot(page, "controleren")

    tab_to_button(page, "Bevestigen")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/ontvangstbewijs$"))
    receipt = page.locator("#ontvangstbewijs").inner_text().strip()
    assert RECEIPT.fullmatch(receipt), receipt
    check_page(page)
    screenshot(page, "ontvangstbewijs")

    # Look the receipt up, by keyboard, on the public page.
    tab_to(page, lambda f: f["href"] == "/ontvangstbewijs", "the receipt lookup link")
    enter_and_wait(page)
    tab_to_field(page, "ontvangstbewijs")
    page.keyboard.type(receipt)
    enter_and_wait(page)
    assert "Geteld" in page.locator("#uitkomst").inner_text()
    check_page(page)


def database_value(live_server: LiveServer, sql: str) -> Any:
    """One value from the live server's database (the factories run their own event loop)."""

    async def in_worker_thread() -> Any:
        return await asyncio.to_thread(scalar, live_server.settings, sql)

    return run_async(in_worker_thread)


def wait_for_status(page: Any, text: str) -> None:
    page.wait_for_function(
        "(text) => document.getElementById('bewaar-status').textContent.includes(text)", arg=text
    )


def enter_booth(page: Any, live_server: LiveServer, vr: VotingRound, code: str) -> None:
    page.goto(live_server.url("/stemmen"))
    tab_to_field(page, "code")
    page.keyboard.type(code)
    enter_and_wait(page)
    page.wait_for_url(re.compile(rf"/stemmen/{vr.round_id}$"))


def test_choices_are_saved_as_they_are_made_and_survive_a_reload(
    new_page: Any, live_server: LiveServer
) -> None:
    """With JavaScript the booth saves each change on the server (no button pressed): a reload,
    or a lost connection, loses nothing; a ballot is only ever cast by confirming."""
    vr, codes = seed(live_server, 1)
    ballots = database_value(live_server, "SELECT count(*) FROM ballots")
    page = new_page()
    enter_booth(page, live_server, vr, codes[0])
    assert page.locator("#bewaar-status").inner_text() == ""
    first, last = vr.projects[0], vr.projects[3]
    tab_to_control(page, f"p-{first}")
    page.keyboard.press("Space")
    tab_to_control(page, f"p-{last}")
    page.keyboard.press("Space")
    wait_for_status(page, "bewaard")
    assert page.locator("#bewaar-status").inner_text() == "Keuze bewaard."
    check_page(page)  # axe with the status shown; 320 px

    page.reload()
    assert page.locator(f"#p-{first}").is_checked()
    assert page.locator(f"#p-{last}").is_checked()
    assert not page.locator(f"#p-{vr.projects[1]}").is_checked()
    assert "Gekozen: €\xa080.000,00 van €\xa0100.000,00" in meter_text(page)
    assert page.locator("#bewaar-status").inner_text() == ""

    # The connection drops: the page says so, and saves once it is back.
    page.context.set_offline(True)
    tab_to_control(page, f"p-{first}")
    page.keyboard.press("Space")
    wait_for_status(page, "Niet bewaard: controleer uw verbinding.")
    check_page(page)  # the failure state
    page.context.set_offline(False)
    wait_for_status(page, "Keuze bewaard.")
    page.reload()
    assert not page.locator(f"#p-{first}").is_checked()
    assert page.locator(f"#p-{last}").is_checked()

    # Leaving the page within the delay: the last change still reaches the server.
    tab_to_control(page, f"p-{vr.projects[1]}")
    page.keyboard.press("Space")
    page.goto(live_server.url("/ontvangstbewijs"))
    draft = f'{{"projects":[{vr.projects[1]},{last}]}}'
    for _ in range(50):
        if database_value(live_server, f"SELECT count(*) FROM voters WHERE draft = '{draft}'"):
            break
        page.wait_for_timeout(100)
    page.goto(live_server.url(f"/stemmen/{vr.round_id}"))
    assert page.locator(f"#p-{vr.projects[1]}").is_checked()
    assert page.locator(f"#p-{last}").is_checked()
    assert database_value(live_server, "SELECT count(*) FROM ballots") == ballots


def test_a_submit_waits_for_the_save_on_its_way(new_page: Any, live_server: LiveServer) -> None:
    """A save still travelling when the voter presses "Controleren" goes first: otherwise it could
    land after the form and put older choices on the review page."""
    vr, codes = seed(live_server, 1)
    page = new_page()
    enter_booth(page, live_server, vr, codes[0])
    held: list[Any] = []

    def hold(route: Any) -> None:  # the save stays on its way until released
        held.append(route)

    page.route("**/concept", hold)  # a function: Playwright cannot wrap a bound builtin
    first, last = vr.projects[0], vr.projects[3]
    tab_to_control(page, f"p-{first}")
    page.keyboard.press("Space")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    tab_to_control(page, f"p-{last}")
    page.keyboard.press("Space")
    tab_to_button(page, "Controleren")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1000)
    assert page.url == live_server.url(f"/stemmen/{vr.round_id}")  # still waiting
    assert len(held) == 1  # and no second save: the form carries the choices
    with page.expect_navigation():
        held[0].continue_()
    page.wait_for_url(re.compile(r"/controleren$"))
    review = page.locator("#keuze").inner_text()
    assert "Project 1" in review
    assert "Project 4" in review


def without_booth_script(page: Any) -> Any:
    """The page as a browser without JavaScript gets it from us: ``booth.js`` (our only script;
    the CSP allows no inline code) answers empty. JavaScript itself stays on, because
    Playwright's focus checks and axe-core run through it."""
    page.route(
        "**/static/js/booth.js",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
    )
    return page


def test_vote_without_javascript_keyboard_only(new_page: Any, live_server: LiveServer) -> None:
    vr, codes = seed(live_server, 2)
    page = without_booth_script(new_page())

    # A wrong code first: the error summary takes focus and passes axe.
    page.goto(live_server.url("/stemmen"))
    tab_to_field(page, "code")
    page.keyboard.type("AAAA-BBBB-CCCC-DDDD")
    enter_and_wait(page)
    assert_focused(page, "foutoverzicht")
    check_page(page)
    tab_to_field(page, "code")
    page.keyboard.type(codes[0].lower())
    enter_and_wait(page)
    page.wait_for_url(re.compile(rf"/stemmen/{vr.round_id}$"))
    check_page(page)

    # Bijwerken: the server brings the meter up to date.
    tab_to_control(page, f"p-{vr.projects[0]}")
    page.keyboard.press("Space")
    tab_to_button(page, "Bijwerken")
    enter_and_wait(page)
    assert "Gekozen: €\xa060.000,00 van €\xa0100.000,00" in meter_text(page)
    assert page.locator(f"#p-{vr.projects[0]}").is_checked()

    # Over budget: refused on the form, focus on the summary, nothing cast.
    for pid in vr.projects[1:]:
        tab_to_control(page, f"p-{pid}")
        page.keyboard.press("Space")
    tab_to_button(page, "Controleren")
    enter_and_wait(page)
    assert_focused(page, "foutoverzicht")
    assert "meer dan het budget" in page.locator("#foutoverzicht").inner_text()
    assert page.locator("#projecten[aria-invalid='true']").count() == 1
    check_page(page)

    for pid in vr.projects[1:]:
        tab_to_control(page, f"p-{pid}")
        page.keyboard.press("Space")
    tab_to_button(page, "Controleren")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/controleren$"))
    check_page(page)
    tab_to_button(page, "Bevestigen")
    enter_and_wait(page)
    receipt = page.locator("#ontvangstbewijs").inner_text().strip()
    assert RECEIPT.fullmatch(receipt), receipt
    check_page(page)

    # Stoppen ends the voter session: the booth then asks for the code again.
    tab_to_button(page, "Stoppen")
    enter_and_wait(page)
    assert "U heeft het stemhokje verlaten." in page.locator("main").inner_text()
    check_page(page)
    page.goto(live_server.url(f"/stemmen/{vr.round_id}"))
    assert page.locator("#code").count() == 1


def test_booth_form_works_with_javascript_switched_off(
    new_page: Any, live_server: LiveServer
) -> None:
    # Really off this time (no evaluate, no axe: Playwright cannot run them in such a page).
    vr, codes = seed(live_server, 1)
    page = new_page(javascript=False)
    page.goto(live_server.url("/stemmen"))
    page.fill("#code", codes[0])
    with page.expect_navigation():
        page.press("#code", "Enter")
    assert page.url.endswith(f"/stemmen/{vr.round_id}")
    page.check(f"#p-{vr.projects[3]}")
    with page.expect_navigation():
        page.click("#bijwerken")
    assert "Gekozen: €\xa020.000,00 van €\xa0100.000,00" in meter_text(page)
    with page.expect_navigation():
        page.click("#controleren")
    assert "Project 4" in page.locator("#keuze").inner_text()
    with page.expect_navigation():
        page.click("form.bb-review button[type=submit]")
    assert RECEIPT.fullmatch(page.locator("#ontvangstbewijs").inner_text().strip())


@pytest.mark.parametrize(
    "options",
    [
        {"ballot_type": "cumulative", "cumulative_points": 10},
        {"ballot_type": "ranked"},
        {"ballot_type": "choose-1"},
        {"ballot_type": "approval", "approval_max_k": 2},
    ],
    ids=["cumulative", "ranked", "choose-1", "approval"],
)
def test_other_ballot_types_are_accessible_and_reflow(
    new_page: Any, live_server: LiveServer, options: dict[str, Any]
) -> None:
    vr, codes = seed(live_server, 1, **options)
    page = new_page()
    page.goto(live_server.url("/stemmen"))
    tab_to_field(page, "code")
    page.keyboard.type(codes[0])
    enter_and_wait(page)
    check_page(page)
    first = vr.projects[0]
    if options["ballot_type"] == "cumulative":
        tab_to_control(page, f"punten-{first}")
        page.keyboard.type("12")
        page.wait_for_function(
            "() => document.getElementById('meter-tekst').textContent.includes('te veel')"
        )
        tab_to_button(page, "Controleren")
        enter_and_wait(page)
        assert "U verdeelt 12 punten" in page.locator("#foutoverzicht").inner_text()
        check_page(page)  # the refusal, with the field message on the input
        tab_to_control(page, f"punten-{first}")
        page.keyboard.press("Control+A")
        page.keyboard.type("10")
    elif options["ballot_type"] == "ranked":
        tab_to_control(page, f"rang-{first}")
        page.keyboard.press("ArrowDown")
    else:
        tab_to_control(page, f"{'keuze' if options['ballot_type'] == 'choose-1' else 'p'}-{first}")
        page.keyboard.press("Space")
    tab_to_button(page, "Controleren")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/controleren$"))
    assert "Project 1" in page.locator("#keuze").inner_text()
    check_page(page)


def test_info_pages_are_accessible(new_page: Any, live_server: LiveServer) -> None:
    seed(live_server, 1)  # a round in voting, so the lookup has a round to offer
    page = new_page()
    page.goto(live_server.url("/ontvangstbewijs"))
    check_page(page)
    tab_to_button(page, "Controleren")
    enter_and_wait(page)
    assert_focused(page, "foutoverzicht")
    check_page(page)
    early, _codes = seed(live_server, 1, phase=Phase.REVIEW)
    page.goto(live_server.url(f"/stemmen/{early.round_id}"))
    assert "nog niet begonnen" in page.locator("#niet-open").inner_text()
    check_page(page)


def test_account_district_choice_and_closed_booth_are_accessible(
    new_page: Any, live_server: LiveServer
) -> None:
    """The booth states the other tests do not reach, by keyboard: a resident's first account
    vote asks the district (an empty choice is refused), and the booth of a round that closed
    meanwhile."""
    vr, _codes = seed(live_server, 1, vote_by_account=True)
    email = f"inwoner-{uuid.uuid4().hex[:8]}@example.org"

    async def resident() -> int:
        return await asyncio.to_thread(make_user, live_server.settings, email)

    run_async(resident)
    page = new_page()
    page.goto(live_server.url("/inloggen"))
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(RESIDENT_PASSWORD)
    enter_and_wait(page)
    page.goto(live_server.url(f"/stemmen/{vr.round_id}"))
    assert "In welke wijk woont u?" in page.locator("main").inner_text()
    check_page(page)
    tab_to_button(page, "Verder naar het stembiljet")
    enter_and_wait(page)
    assert_focused(page, "foutoverzicht")
    check_page(page)
    tab_to(page, lambda f: f["tag"] == "input" and f["type"] == "radio", "a district")
    page.keyboard.press("Space")
    tab_to_button(page, "Verder naar het stembiljet")
    enter_and_wait(page)
    page.wait_for_url(re.compile(rf"/stemmen/{vr.round_id}$"))
    assert page.locator(f"#p-{vr.projects[0]}").count() == 1
    # booth.js saves with the login's session-bound CSRF token (accounts/csrf.py) as well.
    tab_to_control(page, f"p-{vr.projects[0]}")
    page.keyboard.press("Space")
    wait_for_status(page, "Keuze bewaard.")

    async def close_it() -> None:
        await asyncio.to_thread(close, live_server.settings, vr)

    run_async(close_it)
    page.goto(live_server.url(f"/stemmen/{vr.round_id}"))
    assert "gesloten" in page.locator("main").inner_text()
    check_page(page)
