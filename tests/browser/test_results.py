"""Results and the council report in a real browser: reached with the keyboard from the menu,
axe-clean, no sideways scrolling at 320 px; an admin records an override with the keyboard only.

The round is counted with the Method of Equal Shares so that every part of the page is there:
funded and not-funded tables, the price per supporter, the comparison with greedy, the chart.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import create_engine
from burgerbegroting.settings import Settings
from burgerbegroting.voting import casting, context, voters
from tests.accounts.factories import make_user
from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_keyboard import check_page, enter_and_wait, tab_to, tab_to_field
from tests.voting.factories import VotingRound, close, issue_codes, open_round

pytestmark = pytest.mark.browser
PASSWORD = "raad-wachtwoord-lang-2027"


def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a synchronous helper that uses ``asyncio.run`` outside Playwright's event loop."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _cast_all(settings: Settings, round_id: int, ballots: list[tuple[str, list[int]]]) -> None:
    async def work() -> None:
        engine = create_engine(settings.database_url)
        try:
            for i, (code, projects) in enumerate(ballots):
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    token = await voters.redeem_code(
                        session, settings, code=code, client_ip=f"10.9.{i // 250}.{i % 250}"
                    )
                    await session.commit()
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    ctx = await context.voter_context(session, token, round_id, lock=True)
                    await casting.cast(session, settings, ctx, {"projects": projects})
                    await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(work())


def _closed_mes_round(live_server: LiveServer) -> VotingRound:
    settings = live_server.settings
    tag = uuid.uuid4().hex[:8]
    vr: VotingRound = open_round(
        settings,
        rule="mes",
        costs=(4_900_000, 5_000_000, 4_000_000),
        admin_email=f"beheer-{tag}@example.org",
    )
    a1, a2, b = vr.projects
    codes = issue_codes(settings, vr, 10)
    _cast_all(
        settings,
        vr.round_id,
        [(code, [a1, a2]) for code in codes[:6]] + [(code, [b]) for code in codes[6:]],
    )
    close(settings, vr)
    return vr


def _login(page: Any, live_server: LiveServer, email: str) -> None:
    page.goto(live_server.url("/inloggen"))
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(PASSWORD)
    enter_and_wait(page)


def _check_chart(page: Any) -> None:
    charts = page.locator("svg[role=img]")
    assert charts.count() >= 1
    for i in range(charts.count()):
        ids = (charts.nth(i).get_attribute("aria-labelledby") or "").split()
        assert ids
        for caption_id in ids:
            assert page.locator(f"caption#{caption_id}").count() == 1


def test_council_member_reaches_results_and_report_with_the_keyboard(
    page: Any, live_server: LiveServer
) -> None:
    vr = in_thread(_closed_mes_round, live_server)
    email = f"raad-{uuid.uuid4().hex[:8]}@example.org"
    in_thread(make_user, live_server.settings, email, password=PASSWORD, roles=(Role.COUNCIL,))
    _login(page, live_server, email)

    tab_to(page, lambda f: f["href"] == "/uitslag", "the menu's Uitslag")
    enter_and_wait(page)
    check_page(page)
    tab_to(page, lambda f: f["href"] == f"/rondes/{vr.round_id}/uitslag", "the round's results")
    enter_and_wait(page)
    assert page.locator("h1").inner_text().startswith("Uitslag")
    assert "Prijs per voorstander" in page.content()
    assert "Vergelijking met meeste stemmen eerst" in page.content()
    assert "/uitslag/correcties" not in page.content()
    _check_chart(page)
    check_page(page)

    tab_to(
        page,
        lambda f: f["href"] == f"/rondes/{vr.round_id}/raadsinformatiebrief",
        "the council report",
    )
    enter_and_wait(page)
    assert "sha256sum" in page.content()
    _check_chart(page)
    check_page(page)


def test_admin_records_an_override_with_the_keyboard(page: Any, live_server: LiveServer) -> None:
    vr = in_thread(_closed_mes_round, live_server)
    email = f"beheer2-{uuid.uuid4().hex[:8]}@example.org"
    in_thread(make_user, live_server.settings, email, password=PASSWORD, roles=(Role.ADMIN,))
    _login(page, live_server, email)
    page.goto(live_server.url(f"/rondes/{vr.round_id}/uitslag"))
    check_page(page)

    # Submitting the empty form shows the error summary (checked with axe as well).
    tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Correctie vastleggen", "submit")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").count() == 1
    check_page(page)

    tab_to(page, lambda f: f["tag"] == "select" and f["name"] == "project_id", "project")
    page.keyboard.press("ArrowDown")
    tab_to(page, lambda f: f["tag"] == "input" and f["name"] == "decision", "decision")
    page.keyboard.press("Space")
    tab_to_field(page, "reason")
    page.keyboard.type("Vergunning geweigerd")
    tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Correctie vastleggen", "submit")
    enter_and_wait(page)
    assert "De correctie is vastgelegd" in page.content()
    assert "Vergunning geweigerd" in page.content()
    check_page(page)


LONG_TITLES = (
    "Buurtkamer met wekelijkse maaltijd en vervoer voor alleenstaande ouderen",
    "Mantelzorgondersteuningsprogramma met respijtzorg in het weekend",
    "Schuldhulpverleningsspreekuur in de bibliotheek",
    "Jongerenparticipatie: een eigen podium en studio in het wijkcentrum",
    "Dementievriendelijke wandelroute langs de Oude Gracht en het park",
)


def _closed_round_with_200_projects(live_server: LiveServer) -> VotingRound:
    """A city-wide round of 200 projects (Method of Equal Shares: every column of the tables),
    long Dutch titles and a long compound word among them."""
    settings = live_server.settings
    tag = uuid.uuid4().hex[:8]
    n = 200
    vr: VotingRound = open_round(
        settings,
        rule="mes",
        costs=[500_000 + 10_000 * (i % 37) for i in range(n)],
        budget=40_000_000,
        titles=[f"{LONG_TITLES[i % len(LONG_TITLES)]} ({i + 1})" for i in range(n)],
        admin_email=f"beheer-{tag}@example.org",
    )
    codes = issue_codes(settings, vr, 12)
    _cast_all(
        settings,
        vr.round_id,
        [(code, list(vr.projects[k * 7 : k * 7 + 9])) for k, code in enumerate(codes)],
    )
    close(settings, vr)
    return vr


def test_results_of_200_projects_reflow_at_320_px_and_stay_accessible(
    page: Any, live_server: LiveServer
) -> None:
    """Tables of 200 rows scroll inside their own region, never the page; the chart shows the 25
    projects with the most votes (a bar for each of 200 was about 10,000 px tall on a phone)."""
    vr = in_thread(_closed_round_with_200_projects, live_server)
    email = f"raad200-{uuid.uuid4().hex[:8]}@example.org"
    in_thread(make_user, live_server.settings, email, password=PASSWORD, roles=(Role.COUNCIL,))
    _login(page, live_server, email)
    for path in (f"/rondes/{vr.round_id}/uitslag", f"/rondes/{vr.round_id}/raadsinformatiebrief"):
        page.goto(live_server.url(path))
        rows = page.locator("table.bb-table tbody tr")
        assert rows.count() >= 200
        _check_chart(page)
        assert page.locator("svg[role=img] rect[stroke]").count() == 25
        page.set_viewport_size({"width": 320, "height": 640})
        chart_height = page.locator("svg[role=img]").first.bounding_box()["height"]
        assert chart_height < 2_000, chart_height
        check_page(page)
