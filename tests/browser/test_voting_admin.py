"""An admin issues voting codes, downloads the CSV, revokes a code, and enters a paper ballot, with
the keyboard only; the codes page and the paper-ballot page pass axe-core and reflow at 320 px,
with their error messages shown."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.accounts.factories import STAFF_PASSWORD
from tests.browser.conftest import LiveServer, run_async
from tests.browser.test_accounts_keyboard import (
    assert_focused,
    check_page,
    enter_and_wait,
    tab_to,
    tab_to_field,
    tab_to_text,
)
from tests.voting.factories import VotingRound, open_round

pytestmark = pytest.mark.browser


def _open_round(live_server: LiveServer, email: str) -> VotingRound:
    async def seed() -> VotingRound:
        # open_round runs its own event loop: give it a thread without one.
        return await asyncio.to_thread(open_round, live_server.settings, admin_email=email)

    result: VotingRound = run_async(seed)
    return result


def _log_in(page: Any, live_server: LiveServer, email: str) -> None:
    page.goto(live_server.url("/inloggen"))
    tab_to_field(page, "email")
    page.keyboard.type(email)
    tab_to_field(page, "password")
    page.keyboard.type(STAFF_PASSWORD)
    enter_and_wait(page)


def test_admin_issues_and_revokes_codes_and_enters_a_paper_ballot_with_the_keyboard(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    email = f"stemcodes-{uuid.uuid4().hex[:8]}@example.org"
    vr = _open_round(live_server, email)
    _log_in(page, live_server, email)

    page.goto(live_server.url("/beheer/rondes"))
    tab_to(
        page,
        lambda f: f["href"] == f"/beheer/rondes/{vr.round_id}/stemcodes",
        "the Stemcodes link",
    )
    enter_and_wait(page)
    assert (
        "Voor deze ronde zijn nog geen stemcodes uitgegeven." in page.locator("main").inner_text()
    )
    check_page(page)

    # Submitting without a number shows the error summary, with focus on it.
    tab_to_text(page, "Codes uitgeven en downloaden", tag="button")
    enter_and_wait(page)
    assert_focused(page, "foutoverzicht")
    assert page.locator("#count[aria-invalid='true']").count() == 1
    check_page(page)

    # Three codes as CSV: the answer to the form is the download.
    tab_to_field(page, "count")
    page.keyboard.type("3")
    tab_to_text(page, "Codes uitgeven en downloaden", tag="button")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    target = tmp_path / "codes.csv"
    download_info.value.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text("utf-8-sig")), delimiter=";"))[1:]
    codes = [row[3] for row in rows]
    assert len(codes) == 3

    page.reload()
    table = page.locator("table").inner_text()
    assert re.search(r"\b3\b", table)
    check_page(page)

    # Revoke the first code from the "mail-merge record".
    tab_to_field(page, "code")
    page.keyboard.type(codes[0])
    tab_to(page, lambda f: f["id"] == "revoke_reason", "the reason")
    page.keyboard.type("Brief kwijt")
    tab_to_text(page, "Stemcode intrekken", tag="button")
    enter_and_wait(page)
    assert "De stemcode is ingetrokken" in page.locator("#melding").inner_text()
    check_page(page)

    # A paper ballot for the second code.
    page.goto(live_server.url(f"/beheer/rondes/{vr.round_id}/papieren-stem"))
    check_page(page)
    tab_to_field(page, "code")
    page.keyboard.type(codes[1])
    enter_and_wait(page)
    assert page.locator("#stem-formulier").count() == 1
    check_page(page)
    # Everything ticked is over budget: the form comes back with the rule's message.
    for pid in vr.projects:
        tab_to(page, lambda f, pid=pid: f["name"] == f"project_{pid}", f"project {pid}")
        page.keyboard.press("Space")
    tab_to_text(page, "Stem invoeren", tag="button")
    enter_and_wait(page)
    assert "meer dan het budget" in page.locator("#foutoverzicht").inner_text()
    check_page(page)
    for pid in vr.projects[1:]:
        tab_to(page, lambda f, pid=pid: f["name"] == f"project_{pid}", f"project {pid}")
        page.keyboard.press("Space")
    tab_to_text(page, "Stem invoeren", tag="button")
    enter_and_wait(page)
    receipt = page.locator("#ontvangstbewijs").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", receipt)
    check_page(page)
