"""Everyday use in a real browser: finding rounds, the folded gallery filters on a phone, the
proposal form's complete error summary, a calm review form, forgotten password and "Mijn account"
with the keyboard only, and the staff log. Every page passes axe-core and reflows at 320 px.

Screenshots of the changed pages go to ``BB_SCREENSHOT_DIR`` when it is set (not into the repo).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import create_user
from burgerbegroting.audit.service import record
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
PASSWORD = "alledaags-wachtwoord-lang-1"


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot when BB_SCREENSHOT_DIR is set (reviewers look at these)."""
    folder = os.environ.get("BB_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


@dataclass
class Everyday:
    tag: str
    rounds: list[int]
    proposals: list[int]
    users: dict[str, int]  # role name -> user id
    emails: dict[str, str]


async def _seed(database_url: str, tag: str) -> Everyday:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            users = {}
            emails = {}
            for key, role in (
                ("resident", Role.RESIDENT),
                ("author", Role.RESIDENT),
                ("moderator", Role.MODERATOR),
                ("admin", Role.ADMIN),
                ("council", Role.COUNCIL),
            ):
                email = f"{key}-{tag}@example.org"
                user = await create_user(
                    session,
                    email=email,
                    password=PASSWORD,
                    display_name=f"{key.title()} {tag}",
                    roles=[role],
                    confirmed=True,
                )
                users[key], emails[key] = user.id, email
            rounds, first_themes, first_districts = [], [], []
            for title, phase in (
                (f"Zorg en welzijn {tag}", "submission"),
                (f"Jongerenbegroting {tag}", "review"),
            ):
                round_ = Round(
                    title=title,
                    total_budget_cents=30_000_000,
                    phase=phase,
                    supports_enabled=True,
                    support_threshold=2,
                    submission_starts_at=datetime(2027, 1, 10, 8, tzinfo=UTC),
                    review_starts_at=datetime(2027, 2, 10, 8, tzinfo=UTC),
                    voting_starts_at=datetime(2027, 3, 10, 8, tzinfo=UTC),
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
                rounds.append(round_.id)
                if not first_themes:
                    first_themes, first_districts = themes, districts
            author = CurrentUser(
                users["author"], emails["author"], "Author", frozenset({Role.RESIDENT})
            )
            proposals = []
            for title in ("Samen koken in Noord", "Wandelclub voor mantelzorgers"):
                proposal = await service.create_proposal(
                    session,
                    round_id=rounds[0],
                    user=author,
                    submit=True,
                    data=service.ProposalInput(
                        title=title,
                        summary=f"Samenvatting van {title.lower()}.",
                        description="Uitleg.",
                        theme_id=first_themes[0].id,
                        district_id=first_districts[0].id,
                        estimated_cost_cents=950_000,
                        societal_effect="Meer contact.",
                        target_group="Inwoners",
                    ),
                )
                proposals.append(proposal.id)
            await record(
                session,
                actor_id=users["admin"],
                action="round.update",
                subject_type="round",
                subject_id=rounds[0],
                details={"before": {"min_age": 12}, "after": {"min_age": 16}},
                reason="Besluit van de raad",
            )
            await session.commit()
            return Everyday(tag, rounds, proposals, users, emails)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def everyday(live_server: LiveServer) -> Everyday:
    result: Everyday = run_async(_seed, live_server.database_url, uuid.uuid4().hex[:8])
    return result


def login(page: Any, live_server: LiveServer, world: Everyday, who: str) -> None:
    """Log in by cookie (the login form is tested elsewhere; its rate limit is shared)."""
    token = tokens.issue_session_token(
        live_server.settings, user_id=world.users[who], staff=who in {"moderator", "admin"}
    )
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token.encoded, "url": live_server.base_url}]
    )


def test_home_lists_every_open_round_with_its_timeline(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    page.goto(live_server.url("/"))
    main = page.locator("main")
    for title in (f"Zorg en welzijn {everyday.tag}", f"Jongerenbegroting {everyday.tag}"):
        assert main.get_by_role("link", name=title).count() == 1
    assert main.locator("ol.bb-timeline [aria-current='step']").count() >= 2
    check_page(page)
    shot(page, "home-open-rounds")
    # keyboard: from the menu to the round overview
    tab_to(page, lambda f: f["href"] == "/rondes", "the Rondes menu item")
    enter_and_wait(page)
    assert page.url.endswith("/rondes")
    check_page(page)
    page.goto(live_server.url(f"/rondes/{everyday.rounds[0]}"))
    assert page.locator("main ol.bb-timeline").is_visible()
    check_page(page)
    shot(page, "round-page-timeline")
    phone = new_page(width=320, height=640)
    phone.goto(live_server.url("/"))
    shot(phone, "home-open-rounds-320")


def test_gallery_on_a_phone_shows_proposals_before_the_folded_filters(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    phone = new_page(width=320, height=640, javascript=False)
    phone.goto(live_server.url(f"/rondes/{everyday.rounds[0]}/voorstellen"))
    details = phone.locator("details.bb-filters")
    assert details.get_attribute("open") is None
    assert not phone.locator("#q").is_visible()  # folded away
    first_card = phone.locator("#voorstellen-lijst article").first
    # The folded filters take one line, not a form's height, before the first proposal (measured
    # from the filters: the banner above them grows with every open round other tests create).
    folded = details.bounding_box()
    assert folded is not None
    assert first_card.bounding_box()["y"] < folded["y"] + 400
    assert "Steun" in first_card.inner_text()
    shot(phone, "gallery-320-filters-folded")
    phone.locator("summary.bb-filters__summary").click()
    assert phone.locator("#q").is_visible()
    shot(phone, "gallery-320-filters-open")
    desktop = new_page()
    desktop.goto(live_server.url(f"/rondes/{everyday.rounds[0]}/voorstellen"))
    assert desktop.locator("#q").is_visible()  # beside the results on a wide screen
    check_page(desktop)
    shot(desktop, "gallery-desktop")


def test_empty_proposal_form_lists_every_required_field_at_once(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    login(page, live_server, everyday, "resident")
    page.goto(live_server.url(f"/rondes/{everyday.rounds[0]}/voorstellen/nieuw"))
    check_page(page)
    tab_to_text(page, "Voorstel indienen", tag="button")
    enter_and_wait(page)
    summary = page.locator("#foutoverzicht")
    assert summary.is_visible()
    links = summary.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links == [
        "#title",
        "#summary",
        "#description",
        "#theme_id",
        "#estimated_cost",
        "#societal_effect",
        "#target_group",
    ]
    assert page.locator("[aria-invalid='true']").count() == len(links)
    check_page(page)
    shot(page, "proposal-form-all-errors")


def test_review_form_is_calm_on_first_load_and_offers_no_accept_below_threshold(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    login(page, live_server, everyday, "moderator")
    page.goto(live_server.url(f"/voorstellen/{everyday.proposals[0]}/toetsing"))
    assert page.locator("input[name='decision'][value='accepted']").count() == 0
    assert page.locator("#onder-drempel").is_visible()
    # An untouched required radio looks like an optional one: no error colour before a submit.
    looks = page.evaluate(
        """() => {
          const radio = document.querySelector("input[name='decision']");
          const before = getComputedStyle(radio).borderColor;
          radio.removeAttribute('required');
          const after = getComputedStyle(radio).borderColor;
          radio.setAttribute('required', '');
          return [before, after];
        }"""
    )
    assert looks[0] == looks[1]
    check_page(page)
    shot(page, "review-form-first-load")


def test_forgotten_password_with_the_keyboard_only(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    page.goto(live_server.url("/inloggen"))
    tab_to(page, lambda f: f["href"] == "/wachtwoord-vergeten", "the forgotten password link")
    enter_and_wait(page)
    check_page(page)
    shot(page, "forgot-password")
    tab_to_field(page, "email")
    page.keyboard.type(everyday.emails["resident"])
    enter_and_wait(page)
    assert "Als er een account is" in page.locator("main").inner_text()
    check_page(page)
    body = mail_text(latest_mail(live_server.mail_dir, to=everyday.emails["resident"]))
    link = re.search(r"https?://\S+/wachtwoord-herstellen\?token=\S+", body)
    assert link, body
    page.goto(link.group(0))
    check_page(page)
    tab_to_field(page, "password")
    page.keyboard.type("kort")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").is_visible()
    check_page(page)
    shot(page, "reset-password-error")
    tab_to_field(page, "password")
    page.keyboard.type("een nieuw en lang wachtwoord")
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/wachtwoord-herstellen/klaar$"))
    check_page(page)


def test_my_account_with_the_keyboard_only(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    login(page, live_server, everyday, "author")
    page.goto(live_server.url("/"))
    tab_to(page, lambda f: f["href"] == "/mijn-account", "the name in the header")
    enter_and_wait(page)
    check_page(page)
    shot(page, "my-account")
    tab_to_field(page, "display_name")
    page.keyboard.press("Control+A")
    page.keyboard.type("Anne Auteur")
    enter_and_wait(page)
    assert "Uw naam is gewijzigd." in page.locator("#melding").inner_text()
    assert "Anne Auteur" in page.locator("header").inner_text()
    check_page(page)
    with page.expect_download() as download:
        page.click("#download-gegevens")
    assert download.value.suggested_filename == "mijn-gegevens-burgerbegroting.json"
    page.goto(live_server.url("/mijn-account/verwijderen"))
    check_page(page)
    shot(page, "delete-account")


async def _resident(database_url: str, email: str) -> int:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            user = await create_user(
                session,
                email=email,
                password=PASSWORD,
                display_name="Vertrekkende Inwoner",
                roles=[Role.RESIDENT],
                confirmed=True,
            )
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


def test_deleting_my_account_with_the_keyboard_only_at_320_px(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    email = f"vertrek-{everyday.tag}@example.org"
    user_id: int = run_async(_resident, live_server.database_url, email)
    page = new_page(width=320, height=640)
    token = tokens.issue_session_token(live_server.settings, user_id=user_id, staff=False)
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token.encoded, "url": live_server.base_url}]
    )
    page.goto(live_server.url("/mijn-account"))
    tab_to(page, lambda f: f["href"] == "/mijn-account/verwijderen", "the delete link")
    enter_and_wait(page)
    check_page(page)
    tab_to_field(page, "password")
    page.keyboard.type("niet-mijn-wachtwoord")
    enter_and_wait(page)
    assert page.locator("#foutoverzicht").is_visible()
    assert "Het wachtwoord klopt niet." in page.locator("main").inner_text()
    check_page(page)
    tab_to_field(page, "password")
    page.keyboard.type(PASSWORD)
    enter_and_wait(page)
    page.wait_for_url(re.compile(r"/account-verwijderd$"))
    check_page(page)
    shot(page, "account-deleted-320")
    page.goto(live_server.url("/mijn-account"))
    assert "/inloggen" in page.url  # logged out: the account page asks for a login again


def test_staff_log_reads_like_sentences(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    login(page, live_server, everyday, "admin")
    page.goto(live_server.url(f"/beheer/logboek?soort=ronde&nummer={everyday.rounds[0]}"))
    text = page.locator("main").inner_text()
    assert "Ronde gewijzigd" in text
    assert "Minimumleeftijd: 12" in text
    assert page.locator("nav.bb-nav a[aria-current='page']").count() == 1
    check_page(page)
    shot(page, "staff-log")


def test_admin_users_council_and_round_form_pages(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    admin = new_page()
    login(admin, live_server, everyday, "admin")
    admin.goto(live_server.url("/beheer/gebruikers"))
    assert "Medewerker uitnodigen" in admin.locator("main").inner_text()
    check_page(admin)
    shot(admin, "admin-users")
    admin.goto(live_server.url(f"/beheer/gebruikers/{everyday.users['moderator']}"))
    assert admin.locator("#rol_moderator").is_checked()
    check_page(admin)
    shot(admin, "admin-user")
    # the round form: add a district row with the keyboard, nothing saved
    admin.goto(live_server.url(f"/beheer/rondes/{everyday.rounds[0]}/bewerken"))
    before = admin.locator("input[name^='district_name_']").count()
    tab_to_text(admin, "Wijk toevoegen", tag="button")
    enter_and_wait(admin)
    assert admin.locator("input[name^='district_name_']").count() == before + 1
    # only the chosen ballot type's own fields show (knapsack: neither)
    assert not admin.locator("#approval_max_k").is_visible()
    admin.locator("input[name='ballot_type'][value='approval']").check()
    assert admin.locator("#approval_max_k").is_visible()
    check_page(admin)
    shot(admin, "round-form-rows")

    council = new_page()
    token = tokens.issue_session_token(
        live_server.settings, user_id=everyday.users["council"], staff=True
    )
    council.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token.encoded, "url": live_server.base_url}]
    )
    council.goto(live_server.url("/raad"))
    assert f"Zorg en welzijn {everyday.tag}" in council.locator("main").inner_text()
    check_page(council)
    shot(council, "council-rounds")


def test_review_text_comes_back_after_logging_in_again(
    new_page: Any, live_server: LiveServer, everyday: Everyday
) -> None:
    page = new_page()
    login(page, live_server, everyday, "moderator")
    page.goto(live_server.url(f"/voorstellen/{everyday.proposals[1]}/toetsing"))
    page.fill("#public_reasoning", "Dit past niet in het sociaal domein.")
    page.context.clear_cookies(name=SESSION_COOKIE)  # the session ran out while writing
    with page.expect_navigation():
        page.click("text=Besluit opslaan")
    assert "/inloggen" in page.url
    login(page, live_server, everyday, "moderator")
    page.goto(live_server.url(f"/voorstellen/{everyday.proposals[1]}/toetsing"))
    assert page.locator("#teruggezet").is_visible()
    assert page.locator("#public_reasoning").input_value() == "Dit past niet in het sociaal domein."
    check_page(page)
    shot(page, "review-text-restored")
