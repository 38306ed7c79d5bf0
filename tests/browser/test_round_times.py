"""The round form's native date-time inputs in a real browser: what Chromium sends is saved in
Amsterdam time, the zone is stated next to each input, and the page passes axe-core at 320 px."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_accounts_keyboard import check_page, enter_and_wait, tab_to_text
from tests.browser.test_everyday import Everyday, everyday, login, shot

__all__ = ["everyday"]  # the module fixture, shared with test_everyday.py

pytestmark = pytest.mark.browser


def test_datetime_local_inputs_save_amsterdam_time(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    round_id = everyday.rounds[0]
    page = new_page()
    login(page, live_server, everyday, "admin")
    page.goto(live_server.url(f"/beheer/rondes/{round_id}/bewerken"))
    field = page.locator("#closed_starts_at")
    assert field.get_attribute("type") == "datetime-local"
    assert "Europe/Amsterdam" in page.locator("#closed_starts_at-beschrijving").inner_text()
    assert page.locator("#voting_starts_at").input_value() == "2027-03-10T09:00"  # 08:00 UTC
    field.fill("2027-04-01T18:30")  # summer time: 16:30 UTC
    check_page(page)
    shot(page, "round-form-datetime")
    tab_to_text(page, "Opslaan", tag="button")
    enter_and_wait(page)
    assert "opgeslagen" in page.url
    shown = httpx.get(live_server.url(f"/api/v1/rounds/{round_id}")).json()
    assert shown["closed_starts_at"] == "2027-04-01T16:30:00Z"
    page.goto(live_server.url(f"/beheer/rondes/{round_id}/bewerken"))
    assert page.locator("#closed_starts_at").input_value() == "2027-04-01T18:30"
    phone = new_page(width=320, height=640)
    login(phone, live_server, everyday, "admin")
    phone.goto(live_server.url(f"/beheer/rondes/{round_id}/bewerken"))
    check_page(phone)
