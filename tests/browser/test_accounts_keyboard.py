"""Register, confirm, log in and log out with the keyboard only (Tab, Enter, typing; no clicks).

Every stop on the way must show a visible focus indicator (WCAG 2.4.7) and every page passes
axe-core and the 320 px reflow check, the form with validation errors included.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import (
    LiveServer,
    assert_accessible,
    assert_no_horizontal_scroll,
    latest_mail,
    mail_text,
)

pytestmark = pytest.mark.browser

# The round form is the longest walk: its five datetime-local inputs have five focus stops each in
# Chromium (day, month, year, hour, minute), as a keyboard user meets them.
MAX_TABS = 160

# What the element with focus is, for matching and for messages.
_DESCRIBE_FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id || '',
    name: el.getAttribute('name') || '',
    type: el.getAttribute('type') || '',
    text: (el.innerText || el.value || '').trim(),
    href: el.getAttribute('href') || '',
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== 'none',
  };
}"""


def tab_to(page: Any, matches: Any, what: str) -> dict[str, Any]:
    """Press Tab until ``matches(focus)`` holds; every focus stop must be visibly focused."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focus = page.evaluate(_DESCRIBE_FOCUS)
        if focus is None:
            continue
        assert focus["outline"] or focus["shadow"], f"no visible focus on {focus}"
        if matches(focus):
            return dict(focus)
    pytest.fail(f"could not reach {what} with Tab on {page.url}")


def tab_to_field(page: Any, name: str) -> None:
    tab_to(page, lambda f: f["name"] == name and f["tag"] in {"input", "textarea"}, name)


def tab_to_text(page: Any, text: str, tag: str | None = None) -> None:
    tab_to(page, lambda f: f["text"] == text and (tag is None or f["tag"] == tag), repr(text))


def enter_and_wait(page: Any) -> None:
    """Press Enter on the focused link or button (or in a field) and wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def assert_focused(page: Any, element_id: str) -> None:
    """The keyboard focus is on ``#element_id``, as the page's ``autofocus`` puts it. Chromium
    applies autofocus at a rendering step that may come after the load event the navigation
    waits for: wait up to 10 s for the focus to land, then fail naming where it is."""
    try:
        page.wait_for_function(
            "id => document.activeElement !== null && document.activeElement.id === id",
            arg=element_id,
            timeout=10_000,
        )
    except PlaywrightTimeoutError:
        focused = page.evaluate("() => document.activeElement && document.activeElement.id")
        raise AssertionError(f"focus on {focused!r}, not on {element_id!r}") from None


def check_page(page: Any) -> None:
    assert_accessible(page)
    assert_no_horizontal_scroll(page)


def test_register_confirm_login_logout_with_keyboard_only(
    page: Any, live_server: LiveServer
) -> None:
    email = f"toetsenbord-{uuid.uuid4().hex[:8]}@example.org"
    password = "een lange zin als wachtwoord"
    name = "Toets Enbord"

    page.goto(live_server.url("/"))

    # Register: header link, then the form. A first submit with nothing filled in shows the
    # error summary, which takes focus.
    tab_to(page, lambda f: f["href"] == "/registreren", "the Registreren link")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/registreren$"))
    check_page(page)
    tab_to_text(page, "Account aanmaken", tag="button")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").is_visible()
    assert_focused(page, "foutoverzicht")
    assert page.locator("[aria-invalid='true']").count() >= 2
    check_page(page)

    tab_to_field(page, "display_name")
    page.keyboard.type(name)
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(password)
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/registreren/verstuurd"))
    check_page(page)

    # Confirm: the link from the mail (typed into the address bar), then the button.
    body = mail_text(latest_mail(live_server.mail_dir, to=email))
    link = re.search(r"https?://\S+/bevestigen\?token=\S+", body)
    assert link, body
    page.goto(link.group(0))
    check_page(page)
    tab_to_text(page, "E-mailadres bevestigen", tag="button")
    enter_and_wait(page)
    assert "bevestigd" in page.locator("main").inner_text()
    check_page(page)

    # Log in.
    tab_to(page, lambda f: f["href"] == "/inloggen", "the Inloggen link")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/inloggen"))
    check_page(page)
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(password)
    enter_and_wait(page)
    header = page.locator("header").inner_text()
    assert "Ingelogd als" in header
    assert name in header
    check_page(page)

    # Log out with the header's button.
    tab_to_text(page, "Uitloggen", tag="button")
    enter_and_wait(page)
    header = page.locator("header").inner_text()
    assert "Ingelogd als" not in header
    assert "Inloggen" in header
    check_page(page)


def test_login_with_wrong_password_shows_accessible_errors(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/inloggen"))
    tab_to_field(page, "email")
    page.keyboard.type("niemand@example.org")
    tab_to_field(page, "password")
    page.keyboard.type("verkeerd wachtwoord")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").is_visible()
    check_page(page)
