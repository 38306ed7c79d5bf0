"""The page shell over HTTP: layout, language, language switch, theme CSS, error pages, macros."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.settings import Settings
from burgerbegroting.web.controllers import (
    contrast_ratio,
    readable_on_white,
    theme_css,
)
from burgerbegroting.web.forms import safe_next_path
from tests.accounts.factories import bearer, make_user
from tests.conftest import make_settings

SHELL_PAGES = ["/", "/toegankelijkheid", "/privacy"]


def _csrf(client: TestClient[Litestar]) -> str:
    client.get("/")
    token = client.cookies.get("csrftoken")
    assert token
    return token


@pytest.mark.parametrize("path", SHELL_PAGES)
def test_shell_pages_are_dutch_with_skip_link_landmarks_and_footer(
    client: TestClient[Litestar], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.text
    assert '<html lang="nl">' in html
    assert response.headers["content-language"] == "nl"
    assert 'href="#inhoud"' in html
    assert '<main id="inhoud"' in html
    assert "Gemeente Teststad" in html
    assert 'href="/toegankelijkheid"' in html
    assert 'href="/privacy"' in html
    assert 'href="/inloggen"' in html  # anonymous: login and register links
    assert 'href="/registreren"' in html


@pytest.mark.parametrize("path", [*SHELL_PAGES, "/bestaat-niet"])
def test_pages_have_no_inline_scripts_or_styles(client: TestClient[Litestar], path: str) -> None:
    # The CSP forbids them (script-src 'self', style-src 'self'); a browser would drop them.
    html = client.get(path).text
    assert not re.search(r"\sstyle=", html)
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_home_without_a_round_says_so_in_dutch(client: TestClient[Litestar]) -> None:
    html = client.get("/").text
    assert '<a class="bb-nav__link" href="/" aria-current="page">Home</a>' in html
    assert "Er loopt nu geen burgerbegroting" in html


def test_an_english_browser_still_gets_dutch_pages(client: TestClient[Litestar]) -> None:
    # Dutch first: English only when the visitor chooses it with the language switch.
    response = client.get("/privacy", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="nl">' in response.text
    assert "Privacyverklaring" in response.text
    assert response.headers["content-language"] == "nl"
    client.cookies.set("taal", "en")
    english = client.get("/privacy", headers={"Accept-Language": "nl-NL"})
    assert '<html lang="en">' in english.text
    assert "Privacy statement" in english.text
    assert "Privacyverklaring" not in english.text
    assert english.headers["content-language"] == "en"


def test_language_switch_sets_a_cookie_and_returns_to_the_page(
    client: TestClient[Litestar],
) -> None:
    token = _csrf(client)
    response = client.post(
        "/taal",
        data={"taal": "en", "next": "/privacy?x=1", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/privacy?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("taal=en")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    page = client.get("/privacy")
    assert '<html lang="en">' in page.text
    # Switching back works the same way.
    client.post("/taal", data={"taal": "nl", "next": "/", "_csrf_token": token})
    assert '<html lang="nl">' in client.get("/").text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/pad",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=y",
        "",
        "x" * 3000,
    ],
)
def test_language_switch_never_redirects_off_site(
    client: TestClient[Litestar], target: str
) -> None:
    token = _csrf(client)
    response = client.post(
        "/taal", data={"taal": "en", "next": target, "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_language_switch_rejects_unknown_language_with_dutch_page(
    client: TestClient[Litestar],
) -> None:
    token = _csrf(client)
    response = client.post(
        "/taal", data={"taal": "xx", "next": "/", "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 422
    assert "Deze taal wordt niet ondersteund." in response.text
    assert "set-cookie" not in response.headers or "taal=" not in response.headers["set-cookie"]


def test_language_switch_without_csrf_token_is_refused(client: TestClient[Litestar]) -> None:
    client.get("/")
    response = client.post("/taal", data={"taal": "en", "next": "/"}, follow_redirects=False)
    assert response.status_code == 403
    assert "Geen toegang" in response.text
    assert '<main id="inhoud"' in response.text


def test_not_found_page_is_dutch_on_the_full_layout(client: TestClient[Litestar]) -> None:
    response = client.get("/bestaat-niet")
    assert response.status_code == 404
    html = response.text
    assert '<h1 class="utrecht-heading-1">Niet gevonden</h1>' in html
    assert "Foutcode 404" in html
    assert 'href="#inhoud"' in html
    assert 'href="/toegankelijkheid"' in html
    assert "Gemeente Teststad" in html


def test_not_found_page_follows_the_language_cookie(client: TestClient[Litestar]) -> None:
    client.cookies.set("taal", "en")
    html = client.get("/bestaat-niet").text
    assert '<html lang="en">' in html
    assert ">Not found</h1>" in html
    assert "Error code 404" in html


def test_api_errors_stay_problem_json(client: TestClient[Litestar]) -> None:
    response = client.get("/api/v1/bestaat-niet")
    assert response.headers["content-type"].startswith("application/problem+json")


# --- theme -------------------------------------------------------------------------------------


def test_theme_css_carries_the_configured_colour(client: TestClient[Litestar]) -> None:
    response = client.get("/static-theme.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "--bb-primary: #01689b;" in response.text


def test_theme_css_rejects_anything_but_a_hex_colour() -> None:
    css = theme_css("red; } body { display: none")
    assert "display: none" not in css
    assert "--bb-primary: #01689b;" in css


@pytest.mark.parametrize("colour", ["#ffff00", "#7fbfff", "#e17000", "#01689b", "#000", "#fff"])
def test_theme_colours_keep_aa_contrast_on_white(colour: str) -> None:
    readable = readable_on_white(colour)
    assert contrast_ratio(readable, "#ffffff") >= 4.5
    if contrast_ratio(colour, "#ffffff") >= 4.5:
        assert readable == colour.lower()  # good colours are left alone


def test_theme_uses_the_settings_of_the_app(database_url: str, tmp_path: Any) -> None:
    from burgerbegroting.app import create_app

    app = create_app(make_settings(database_url, tmp_path, primary_colour="#8b0000"))
    with TestClient(app=app, base_url="http://testserver.local") as client:
        assert "--bb-primary: #8b0000;" in client.get("/static-theme.css").text


def test_safe_next_path_keeps_local_paths() -> None:
    assert safe_next_path("/voorstellen?thema=3#lijst") == "/voorstellen?thema=3#lijst"
    assert safe_next_path(None) == "/"
    assert safe_next_path(42) == "/"


# --- form macros -------------------------------------------------------------------------------


def _render_macro(app: Litestar, source: str, **context: Any) -> str:
    env = app.template_engine.engine  # type: ignore[union-attr]
    template = env.from_string('{% import "macros/forms.html" as forms %}' + source)
    return str(template.render(**context))


def test_field_with_error_is_invalid_and_described_by_its_message(app: Litestar) -> None:
    html = _render_macro(
        app,
        '{{ forms.text_input("email", "E-mailadres", value=v, errors=errors, type="email", '
        'description="Wij sturen u een bevestiging.", required=true) }}',
        v='a"<b>',
        errors={"email": "Vul een geldig e-mailadres in."},
    )
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-fout email-beschrijving"' in html
    assert 'id="email-fout"' in html
    assert "Vul een geldig e-mailadres in." in html
    assert "utrecht-form-field--invalid" in html
    assert "utrecht-textbox--invalid" in html
    assert 'value="a&#34;&lt;b&gt;"' in html  # autoescaped
    assert 'for="email"' in html


def test_field_without_error_is_not_marked_invalid(app: Litestar) -> None:
    html = _render_macro(app, '{{ forms.textarea("body", "Tekst", errors={}) }}')
    assert "aria-invalid" not in html
    assert "aria-describedby" not in html
    assert "(niet verplicht)" in html


def test_password_fields_never_echo_a_value(app: Litestar) -> None:
    html = _render_macro(
        app, '{{ forms.text_input("password", "Wachtwoord", value="geheim", type="password") }}'
    )
    assert "geheim" not in html


def test_error_summary_links_to_each_field(app: Litestar) -> None:
    html = _render_macro(
        app,
        "{{ forms.error_summary(errors, labels={'email': 'E-mailadres'}) }}",
        errors={"email": "Vul uw e-mailadres in.", "": "Niet alle velden zijn goed ingevuld."},
    )
    assert 'role="alert"' in html
    assert 'tabindex="-1"' in html
    assert "autofocus" in html
    assert '<a class="utrecht-link" href="#email">E-mailadres: Vul uw e-mailadres in.</a>' in html
    assert (
        '<li class="utrecht-unordered-list__item">Niet alle velden zijn goed ingevuld.</li>' in html
    )


def test_error_summary_is_absent_without_errors(app: Litestar) -> None:
    assert _render_macro(app, "{{ forms.error_summary({}) }}").strip() == ""


def test_select_and_radio_group_mark_the_chosen_option(app: Litestar) -> None:
    html = _render_macro(
        app,
        '{{ forms.select("wijk", "Wijk", [(1, "Noord"), (2, "Zuid")], selected="2") }}'
        '{{ forms.radio_group("soort", "Soort", [("a", "A"), ("b", "B")], selected="b", '
        'errors={"soort": "Kies er een."}) }}',
    )
    assert '<option value="2" selected>Zuid</option>' in html
    assert '<option value="1">Noord</option>' in html
    assert 'id="soort"' in html  # the first radio carries the field id (error summary link)
    assert re.search(r'id="soort-1" name="soort" value="b" checked', html)
    assert "<legend" in html
    assert 'aria-describedby="soort-fout"' in html


# --- the current round on the home page and in the phase banner ---------------------------------


@dataclass(frozen=True)
class FakeSummary:
    id: int
    title: str
    phase: str
    phase_ends_at: datetime | None
    budget_cents: int


@pytest.fixture
def with_round(monkeypatch: pytest.MonkeyPatch) -> FakeSummary:
    """Replace the rounds feature's summary query; the shell's handling of it is under test."""
    import burgerbegroting.rounds.service as rounds_service

    summary = FakeSummary(
        id=7,
        title="Burgerbegroting Sociaal Domein 2027",
        phase="submission",
        phase_ends_at=datetime(2027, 3, 1, 22, 59, tzinfo=UTC),
        budget_cents=45_000_000,
    )

    async def fake(session: object) -> FakeSummary:
        return summary

    monkeypatch.setattr(rounds_service, "current_round_summary", fake)
    return summary


def test_home_shows_the_current_round_with_budget_and_phase(
    client: TestClient[Litestar], with_round: FakeSummary
) -> None:
    html = client.get("/").text
    assert "Burgerbegroting Sociaal Domein 2027" in html
    assert "Voorstellen indienen" in html  # the phase, in words
    assert "€\u00a0450.000,00" in html
    assert "1 maart 2027 om 23:59" in html  # Amsterdam time
    assert "Er loopt nu geen burgerbegroting" not in html
    assert 'href="/rondes/7/voorstellen"' in html


def test_phase_banner_is_on_every_page_and_follows_the_language(
    client: TestClient[Litestar], with_round: FakeSummary
) -> None:
    html = client.get("/privacy").text
    assert 'class="bb-phase-banner"' in html
    assert "Fase:" in html
    client.cookies.set("taal", "en")
    english = client.get("/privacy").text
    assert "Submitting proposals" in english
    assert "1 March 2027 at 23:59" in english
    # Not on the API or static assets: the banner query is for pages only.
    assert "bb-phase-banner" not in client.get("/static-theme.css").text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/bestaat-niet", 404),  # no route: no handler, no before_request
        ("/beheer", 403),  # refused by a guard before the handler's hooks run
        ("/beheer/logboek", 403),
    ],
)
def test_error_pages_show_the_phase_banner_too(
    client: TestClient[Litestar],
    settings: Settings,
    with_round: FakeSummary,
    path: str,
    status: int,
) -> None:
    resident = bearer(settings, make_user(settings, "banner@example.nl"))
    response = client.get(path, headers=resident, follow_redirects=False)
    assert response.status_code == status
    assert 'class="bb-phase-banner"' in response.text
    assert "Voorstellen indienen" in response.text
    api = client.get("/api/v1/bestaat-niet")
    assert api.status_code == 404
    assert "bb-phase-banner" not in api.text


def test_a_refused_anonymous_form_post_gets_the_401_page_with_the_banner(
    client: TestClient[Litestar], with_round: FakeSummary
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw", data={"_csrf_token": _csrf(client)}, follow_redirects=False
    )
    assert response.status_code == 401
    assert 'class="bb-phase-banner"' in response.text
    assert 'href="/inloggen"' in response.text


def test_an_error_page_renders_when_the_banner_query_fails(
    client: TestClient[Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    import burgerbegroting.rounds.service as rounds_service

    async def broken(session: object) -> None:
        raise RuntimeError("database away")

    monkeypatch.setattr(rounds_service, "current_round_summary", broken)
    response = client.get("/bestaat-niet")
    assert response.status_code == 404
    assert "bb-phase-banner" not in response.text
