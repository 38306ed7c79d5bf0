"""The page shell in a real browser: accessibility, reflow at 320 px, keyboard, language switch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import (
    LiveServer,
    assert_accessible,
    assert_no_horizontal_scroll,
    horizontal_overflow,
)

pytestmark = pytest.mark.browser

SHELL_PAGES = ["/", "/toegankelijkheid", "/privacy"]


@pytest.mark.parametrize("path", SHELL_PAGES)
def test_shell_page_is_accessible_and_reflows(
    page: Any, live_server: LiveServer, path: str
) -> None:
    response = page.goto(live_server.url(path))
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "nl"
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


def test_not_found_page_is_accessible_dutch_and_reflows(page: Any, live_server: LiveServer) -> None:
    response = page.goto(live_server.url("/bestaat-echt-niet"))
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Niet gevonden"
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


def test_overflow_check_detects_a_too_wide_page(page: Any, live_server: LiveServer) -> None:
    # The 320-px helper must be able to fail: make an element wider than the viewport.
    page.goto(live_server.url("/"))
    page.set_viewport_size({"width": 320, "height": 640})
    assert horizontal_overflow(page) == 0
    page.evaluate("() => { document.querySelector('main').style.width = '900px'; }")
    assert horizontal_overflow(page) > 0


def test_skip_link_is_first_tab_stop_and_moves_focus_to_content(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/privacy"))
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Naar de inhoud"
    # The focused skip link is visible (on screen), not only present.
    box = page.locator(".bb-skip-link").bounding_box()
    assert box is not None
    assert box["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "inhoud"
    assert page.url.endswith("#inhoud")
    # The next Tab lands inside the main content, not back in the header.
    page.keyboard.press("Tab")
    assert page.evaluate(
        "() => document.getElementById('inhoud').contains(document.activeElement)"
    ) or (page.evaluate("() => document.activeElement.closest('footer') !== null"))


def test_language_switch_works_without_javascript(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(javascript=False)
    page.goto(live_server.url("/privacy?bron=test"))
    assert page.locator("h1").inner_text() == "Privacyverklaring"
    page.get_by_role("button", name="English").click()
    assert page.url == live_server.url("/privacy?bron=test")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Privacy statement"
    # And back to Dutch.
    page.get_by_role("button", name="Nederlands").click()
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("h1").inner_text() == "Privacyverklaring"


def test_english_pages_are_accessible(new_page: Any, live_server: LiveServer) -> None:
    # An English browser still gets Dutch first; English is the visitor's own choice.
    page = new_page(locale="en-GB")
    page.goto(live_server.url("/"))
    assert page.locator("html").get_attribute("lang") == "nl"
    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page)
