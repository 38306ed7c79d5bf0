"""Screenshots of the everyday pages (issue 11) and of voting, for the issue notes.

Run against a server with demo data, from a scratch data directory (never a real one):

    export BB_VAR_DIR=$(mktemp -d)
    PYTHONPATH=src .venv/bin/burgerbegroting demo            # prints the demo voting codes
    PYTHONPATH=src .venv/bin/burgerbegroting serve --host 127.0.0.1 --port 8765 &
    PYTHONPATH=src .venv/bin/python scripts/screenshots.py --code <one demo code>

The script first adds (directly in the database named by the BB_* environment, like
``burgerbegroting demo`` does) a second round in the submission phase with one proposal of the
demo resident, because photos can only be added while proposals may be edited and the demo round
is already voting. It then logs in as the demo users through the web pages and writes PNGs at
1280 px and 320 px width into docs/screenshots/ (reduced to a palette to keep them small).
"""

from __future__ import annotations

import argparse
import asyncio
import io
from datetime import timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import User
from burgerbegroting.db import create_engine, utcnow
from burgerbegroting.proposals.models import (
    AuthorRole,
    Proposal,
    ProposalAuthor,
    ProposalStatus,
)
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORDS = {
    "inwoner@demo.burgerbegroting.nl": "demo-inwoner-2027",
    "beheerder@demo.burgerbegroting.nl": "demo-beheerder-2027",
    "raadslid@demo.burgerbegroting.nl": "demo-raadslid-2027",
}
RESIDENT = "inwoner@demo.burgerbegroting.nl"
ADMIN = "beheerder@demo.burgerbegroting.nl"
COUNCIL = "raadslid@demo.burgerbegroting.nl"
EXTRA_ROUND = "Wijkbudget Noord 2027 (screenshots)"
EXTRA_PROPOSAL = "Speeltuin opknappen aan de Lindelaan"
WIDTHS = (1280, 320)


# --------------------------------------------------------------------------- database setup


async def _setup() -> tuple[int, int]:
    """A round in the submission phase with one submitted proposal of the demo resident."""
    settings = Settings.from_env()
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            admin = (await session.execute(select(User.id).where(User.email == ADMIN))).scalar_one()
            resident = (
                await session.execute(select(User.id).where(User.email == RESIDENT))
            ).scalar_one()
            round_id = (
                await session.execute(select(Round.id).where(Round.title == EXTRA_ROUND))
            ).scalar_one_or_none()
            if round_id is None:
                now = utcnow().replace(second=0, microsecond=0)
                round_ = await rounds.create_round(
                    session,
                    {
                        "title": EXTRA_ROUND,
                        "description": "Inwoners van Noord verdelen € 80.000 voor hun wijk.",
                        "total_budget_cents": 8_000_000,
                        "budget_scope": "city",
                        "districts": [{"name": "Noord"}],
                        "themes": [{"name": "Spelen en bewegen", "max_spend_cents": None}],
                        "submission_starts_at": now - timedelta(days=2),
                        "review_starts_at": now + timedelta(days=20),
                        "voting_starts_at": now + timedelta(days=40),
                        "closed_starts_at": now + timedelta(days=60),
                        "published_starts_at": now + timedelta(days=67),
                        "ballot_type": "knapsack",
                        "min_projects": 1,
                        "counting_rule": "greedy",
                        "tie_break": "lowest-cost",
                        "min_age": 12,
                        "vote_by_code": True,
                        "vote_by_account": True,
                        "supports_enabled": True,
                        "support_threshold": 5,
                    },
                    actor_id=admin,
                )
                await session.commit()
                round_id = round_.id
                round_ = await rounds.get_round(session, round_id)
                await rounds.move_phase(
                    session,
                    round_id,
                    Phase.SUBMISSION,
                    actor_id=admin,
                    reason="Screenshots: indienen geopend",
                    now=round_.submission_starts_at,
                )
                await session.commit()
            proposal_id = (
                await session.execute(
                    select(Proposal.id).where(
                        Proposal.round_id == round_id, Proposal.title == EXTRA_PROPOSAL
                    )
                )
            ).scalar_one_or_none()
            if proposal_id is None:
                round_ = await rounds.get_round(session, round_id)
                proposal = Proposal(
                    round_id=round_id,
                    theme_id=round_.themes[0].id,
                    district_id=round_.districts[0].id,
                    author_id=resident,
                    status=ProposalStatus.SUBMITTED.value,
                    title=EXTRA_PROPOSAL,
                    summary="Nieuwe toestellen en een bankje in de speeltuin aan de Lindelaan.",
                    description="Nieuwe toestellen en een bankje in de speeltuin aan de Lindelaan.",
                    societal_effect="Kinderen spelen weer buiten; ouders ontmoeten elkaar.",
                    target_group="Kinderen tot 12 jaar en hun ouders",
                    estimated_cost_cents=2_500_000,
                    submitted_at=utcnow(),
                )
                session.add(proposal)
                await session.flush()
                session.add(
                    ProposalAuthor(
                        proposal_id=proposal.id, user_id=resident, role=AuthorRole.AUTHOR.value
                    )
                )
                await session.commit()
                proposal_id = proposal.id
            return round_id, proposal_id
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- browser helpers


def _photo(path: Path, colour: tuple[int, int, int], label: str) -> Path:
    image = Image.new("RGB", (1200, 800), colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, 1200, 80):
        draw.rectangle([i, 560, i + 40, 800], fill=(90, 140, 60))
    draw.ellipse([900, 80, 1060, 240], fill=(250, 220, 90))
    draw.text((60, 60), label, fill=(255, 255, 255))
    image.save(path, "JPEG", quality=80)
    return path


def _save(page: Page, name: str) -> None:
    png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    target = OUT / f"{name}.png"
    image.save(target, optimize=True)
    print(f"{target.name}: {target.stat().st_size // 1024} KB")


def _shoot(page: Page, base: str, path: str, name: str, widths=WIDTHS) -> None:
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(base + path)
        _save(page, f"{name}-{width}")


def _login(browser: Browser, base: str, email: str) -> Page:
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/inloggen")
    page.fill("#email", email)
    page.fill("#password", PASSWORDS[email])
    with page.expect_navigation():
        page.click("#inlogformulier button[type=submit]")
    if "/inloggen" in page.url:
        raise SystemExit(f"login failed for {email}")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="http://127.0.0.1:8765")
    parser.add_argument("--code", required=True, help="a demo voting code (burgerbegroting demo)")
    parser.add_argument("--round", type=int, default=1, help="the demo round (voting)")
    parser.add_argument("--closed-round", type=int, help="a closed round for the results page")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    base = args.base.rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)
    extra_round, proposal_id = asyncio.run(_setup())

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            args=["--lang=nl-NL"],  # Dutch date inputs only with chromium-l10n
        )
        # Anonymous pages.
        anon = browser.new_context(locale="nl-NL").new_page()
        _shoot(anon, base, "/", "home")
        _shoot(anon, base, f"/rondes/{args.round}", "ronde-tijdlijn")
        _shoot(anon, base, "/wachtwoord-vergeten", "wachtwoord-vergeten")

        # Resident: photos (upload, error state), gallery with photo cards, account page.
        page = _login(browser, base, RESIDENT)
        photo_path = f"/voorstellen/{proposal_id}/fotos"
        tmp = OUT.parent / ".shots-tmp"
        tmp.mkdir(exist_ok=True)
        try:
            page.goto(base + photo_path)
            existing = page.locator("form[action*='/verwijderen']").count()
            for index, colour in enumerate([(80, 130, 200), (200, 120, 70)][existing:]):
                page.goto(base + photo_path)
                page.set_input_files(
                    "#photo", str(_photo(tmp / f"foto{index}.jpg", colour, "Lindelaan"))
                )
                page.fill("#alt_text", "Speeltuin aan de Lindelaan met oude toestellen")
                with page.expect_navigation():
                    page.click("form.bb-form button[type=submit]")
            _shoot(page, base, photo_path, "foto-uploaden")
            for width in WIDTHS:  # the error state: a photo without a description
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(base + photo_path)
                page.set_input_files("#photo", str(_photo(tmp / "fout.jpg", (120, 120, 120), "x")))
                page.fill("#alt_text", "")
                with page.expect_navigation():
                    page.click("form.bb-form button[type=submit]")
                _save(page, f"foto-uploaden-fout-{width}")
        finally:
            for file in tmp.glob("*.jpg"):
                file.unlink()
            tmp.rmdir()
        _shoot(page, base, f"/rondes/{extra_round}/voorstellen", "galerij-met-fotos")
        _shoot(page, base, "/mijn-account", "mijn-account")
        page.context.close()

        # Admin: round form (new round), users, audit log.
        page = _login(browser, base, ADMIN)
        _shoot(page, base, "/beheer/rondes/nieuw", "rondeformulier-nieuw")
        _shoot(page, base, "/beheer/gebruikers", "beheer-gebruikers", widths=(1280,))
        _shoot(page, base, "/beheer/logboek", "beheer-logboek", widths=(1280,))
        page.context.close()

        # Council member.
        page = _login(browser, base, COUNCIL)
        _shoot(page, base, "/raad", "raad")
        page.context.close()

        # Voting booth with a demo code: code page, ballot, review, receipt.
        for width in WIDTHS:
            context = browser.new_context(locale="nl-NL", viewport={"width": width, "height": 900})
            page = context.new_page()
            page.goto(base + "/stemmen")
            _save(page, f"stemmen-code-{width}")
            if width != WIDTHS[0]:
                context.close()
                continue
            page.fill("#code", args.code)
            with page.expect_navigation():
                page.click("#codeformulier button[type=submit]")
            if page.locator("#stembiljet").count() == 0:  # a district choice comes first
                with page.expect_navigation():
                    page.locator("main form button[type=submit]").first.click()
            for w in WIDTHS:
                page.set_viewport_size({"width": w, "height": 900})
                _save(page, f"stembiljet-{w}")
            boxes = page.locator("#stembiljet input[type=checkbox]")
            boxes.nth(0).check()
            if boxes.count() > 2:
                boxes.nth(2).check()
            with page.expect_navigation():
                page.click("#controleren")
            for w in WIDTHS:
                page.set_viewport_size({"width": w, "height": 900})
                _save(page, f"stem-controleren-{w}")
            with page.expect_navigation():
                page.click("form.bb-review button[type=submit]")
            for w in WIDTHS:
                page.set_viewport_size({"width": w, "height": 900})
                _save(page, f"stem-ontvangstbewijs-{w}")
            context.close()

        if args.closed_round:
            anon = browser.new_context(locale="nl-NL").new_page()
            _shoot(anon, base, f"/rondes/{args.closed_round}/uitslag", "uitslag")
        browser.close()


if __name__ == "__main__":
    main()
