"""An admin sets up a round and opens it with the keyboard only; every round page passes axe-core
and reflows at 320 px, the form with its errors included."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.service import create_user
from burgerbegroting.db import create_engine
from tests.browser.conftest import LiveServer, run_async
from tests.browser.test_accounts_keyboard import (
    assert_focused,
    check_page,
    enter_and_wait,
    tab_to,
    tab_to_field,
    tab_to_text,
)

pytestmark = pytest.mark.browser
PASSWORD = "beheer-wachtwoord-lang-1"


async def _admin(database_url: str, email: str) -> None:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            await create_user(
                session,
                email=email,
                password=PASSWORD,
                display_name="Beheerder Toets",
                roles=["admin"],
                confirmed=True,
            )
            await session.commit()
    finally:
        await engine.dispose()


def test_admin_creates_and_opens_a_round_with_the_keyboard(
    page: Any, live_server: LiveServer
) -> None:
    email = f"beheer-{uuid.uuid4().hex[:8]}@example.org"
    title = f"Toetsenbordronde {uuid.uuid4().hex[:6]}"
    run_async(_admin, live_server.database_url, email)

    page.goto(live_server.url("/inloggen"))
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(PASSWORD)
    enter_and_wait(page)

    page.goto(live_server.url("/beheer/rondes/nieuw"))
    check_page(page)
    # Submitting the empty form shows the error summary, with focus on it.
    tab_to_text(page, "Opslaan", tag="button")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").is_visible()
    assert_focused(page, "foutoverzicht")
    assert page.locator("#title[aria-invalid='true']").count() == 1
    check_page(page)

    tab_to_field(page, "title")
    page.keyboard.type(title)
    tab_to_field(page, "total_budget")
    page.keyboard.type("250.000")
    tab_to_field(page, "theme_name_0")
    page.keyboard.type("Eenzaamheid")
    tab_to_field(page, "theme_cap_0")
    page.keyboard.type("100.000")
    tab_to_field(page, "theme_name_1")
    page.keyboard.type("Schuldhulp")
    tab_to_text(page, "Opslaan", tag="button")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/beheer/rondes\?opgeslagen=\d+"))
    assert title in page.locator("main").inner_text()
    check_page(page)

    # Open the round for proposals: the phase form, reason typed, Enter on the button.
    round_id = re.search(r"opgeslagen=(\d+)", page.url).group(1)  # type: ignore[union-attr]
    tab_to(
        page,
        lambda f: f["href"] == f"/beheer/rondes/{round_id}/fase",
        "the Volgende fase link",
    )
    enter_and_wait(page)
    check_page(page)
    tab_to_field(page, "reason")
    page.keyboard.type("Start van het indienen")
    tab_to(page, lambda f: f["tag"] == "button" and "Naar de fase" in f["text"], "the button")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/beheer/rondes\?opgeslagen="))

    page.goto(live_server.url(f"/rondes/{round_id}"))
    main = page.locator("main").inner_text()
    assert "Voorstellen indienen" in main
    assert "€ 250.000,00" in main or "€\xa0250.000,00" in main
    check_page(page)

    page.goto(live_server.url("/beheer/logboek"))
    assert "Start van het indienen" in page.locator("main").inner_text()
    check_page(page)
