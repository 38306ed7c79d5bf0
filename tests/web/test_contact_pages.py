"""/toegankelijkheid and /privacy name the municipality's real contact channels, and only those."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.app import create_app
from burgerbegroting.settings import Settings, SettingsError
from tests.conftest import make_settings

Client = TestClient[Litestar]


@pytest.fixture
def configured(database_url: str, tmp_path: Path) -> Iterator[Client]:
    settings = make_settings(
        database_url,
        tmp_path / "var",
        contact_email="info@teststad.nl",
        contact_phone="14 030",
        contact_url="https://www.teststad.nl/contact",
        privacy_email="fg@teststad.nl",
    )
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        yield client


def test_unconfigured_pages_promise_no_form_phone_or_address(client: Client) -> None:
    for path in ("/toegankelijkheid", "/privacy"):
        html = client.get(path).text.lower()
        main = html[html.index("<main") : html.index("</main>")]
        assert "contactformulier" not in main
        assert "telefoon" not in main
        assert "mailto:" not in main
        assert "tel:" not in main


def test_configured_channels_are_shown_with_working_links(configured: Client) -> None:
    html = configured.get("/toegankelijkheid").text
    assert 'href="mailto:info@teststad.nl"' in html
    assert 'href="tel:14030">14 030</a>' in html
    assert 'href="https://www.teststad.nl/contact"' in html
    privacy = configured.get("/privacy").text
    assert 'href="mailto:fg@teststad.nl"' in privacy
    assert "functionaris gegevensbescherming" in privacy


def test_only_the_channels_that_exist_are_named(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "var", contact_email="info@teststad.nl")
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        main = client.get("/toegankelijkheid").text
    main = main[main.index("<main") : main.index("</main>")]
    assert "mailto:info@teststad.nl" in main
    assert "tel:" not in main
    assert "contactformulier" not in main.lower()


def test_contact_settings_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "BB_CONTACT_EMAIL": " info@teststad.nl ",
            "BB_CONTACT_PHONE": "14 030",
            "BB_CONTACT_URL": "https://www.teststad.nl/contact",
            "BB_PRIVACY_EMAIL": "",
        }
    )
    assert settings.contact_email == "info@teststad.nl"
    assert settings.contact_phone == "14 030"
    assert settings.contact_url == "https://www.teststad.nl/contact"
    assert settings.privacy_email is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BB_CONTACT_URL", "javascript:alert(1)"),
        ("BB_CONTACT_URL", "www.teststad.nl"),
        ("BB_CONTACT_EMAIL", "geen-adres"),
        ("BB_PRIVACY_EMAIL", "a@b@c"),
    ],
)
def test_bad_contact_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
