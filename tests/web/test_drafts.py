"""The draft cookie (``web/drafts.py``): the text someone typed, so it gets every cookie flag."""

from __future__ import annotations

from pathlib import Path

from burgerbegroting.web import drafts
from tests.conftest import make_settings


def test_draft_cookies_are_secure_httponly_lax_and_bound_to_the_form_in_production(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    production = make_settings(url, tmp_path / "var", env="production")
    path = "/beheer/voorstellen/1/beoordelen"
    kept = drafts.draft_cookie(production, path, {"toelichting": "Mijn tekst"})
    assert kept is not None
    for cookie in (kept, drafts.clear_draft_cookie(production, path)):
        assert cookie.secure is True
        assert cookie.httponly is True
        assert cookie.samesite == "lax"
        assert cookie.path == path
    # The control: the plain-HTTP test app sets them without Secure.
    test = drafts.draft_cookie(make_settings(url, tmp_path / "var"), path, {"toelichting": "x"})
    assert test is not None
    assert test.secure is False
