"""Proposal photos in a real browser: an author adds a photo with the keyboard only (file chooser,
alt text, submit), a missing alt text is reported in the error summary, and the photo shows on the
proposal page and on its gallery card at 320 px. Every page passes axe-core and reflows at 320 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_keyboard import (
    check_page,
    enter_and_wait,
    tab_to,
    tab_to_field,
    tab_to_text,
)
from tests.browser.test_everyday import Everyday, everyday, login, shot
from tests.proposals.photo_factories import photo_bytes

__all__ = ["everyday"]  # the module fixture, shared with test_everyday.py

pytestmark = pytest.mark.browser
ALT = "Buurtbewoners koken samen in de keuken van het buurthuis"


def _choose_file(page: Any, path: Path) -> None:
    """Open the focused file input's chooser with the keyboard and pick ``path``.

    The focus is checked first, so a failure says whether the keyboard reached the field. Once,
    in CI on a loaded 2-core machine, headless Chromium let a Space on the focused input pass
    without a chooser (30 s timeout; it passes alone and in every other run): the press is then
    repeated once, still with the keyboard and still on the same focused input."""
    focused = page.evaluate("document.activeElement && document.activeElement.type")
    assert focused == "file", f"the keyboard focus is on a {focused!r}, not the file input"
    for attempt in (1, 2):
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            continue
        chooser.value.set_files(str(path))
        return


def test_author_adds_a_photo_with_the_keyboard_only(
    new_page: Any, live_server: LiveServer, everyday: Everyday, tmp_path: Path
) -> None:
    proposal_id = everyday.proposals[0]
    source = tmp_path / "koken.jpg"
    source.write_bytes(photo_bytes("JPEG", (1200, 900), gps=True))
    page = new_page()
    login(page, live_server, everyday, "author")
    page.goto(live_server.url(f"/voorstellen/{proposal_id}"))
    tab_to(page, lambda f: f["href"] == f"/voorstellen/{proposal_id}/fotos", "the photos link")
    enter_and_wait(page)
    check_page(page)
    # First without a description: the error summary says what is missing.
    tab_to_field(page, "photo")
    _choose_file(page, source)
    tab_to_text(page, "Foto toevoegen", tag="button")
    enter_and_wait(page)
    summary = page.locator("#foutoverzicht")
    assert summary.is_visible()
    assert "Beschrijf kort wat er op de foto te zien is" in summary.inner_text()
    check_page(page)
    shot(page, "photo-upload-error")
    tab_to_field(page, "photo")
    _choose_file(page, source)
    tab_to_field(page, "alt_text")
    page.keyboard.type(ALT)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/voorstellen/{proposal_id}/fotos?melding=toegevoegd")
    assert "De foto is toegevoegd." in page.locator("#melding").inner_text()
    assert page.locator(f"#fotos img[alt='{ALT}']").count() == 1
    check_page(page)
    shot(page, "photo-manage")
    page.goto(live_server.url(f"/voorstellen/{proposal_id}"))
    image = page.locator(f"#fotos img[alt='{ALT}']")
    assert image.is_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    check_page(page)
    shot(page, "proposal-with-photo")

    phone = new_page(width=320, height=640)
    phone.goto(live_server.url(f"/rondes/{everyday.rounds[0]}/voorstellen"))
    card_image = phone.locator(f"#voorstel-{proposal_id}-titel").locator(
        "xpath=ancestor::article//img"
    )
    card_image.scroll_into_view_if_needed()
    assert card_image.get_attribute("alt") == ALT
    box = card_image.bounding_box()
    assert box is not None
    assert box["width"] <= 320
    check_page(phone)
    shot(phone, "gallery-card-photo-320")
    phone.goto(live_server.url(f"/voorstellen/{proposal_id}"))
    check_page(phone)
