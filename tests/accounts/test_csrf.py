"""CSRF tokens bound to the login session (``accounts/csrf.py``)."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.csrf import CSRF_COOKIE, session_csrf_token
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.app import create_app
from burgerbegroting.settings import Settings
from tests.accounts.factories import make_user
from tests.conftest import make_settings

FORM = {"content-type": "application/x-www-form-urlencoded"}


def _planted_pair(client: TestClient[Litestar]) -> str:
    """A well-signed CSRF token of an anonymous visit (the attacker's own pair)."""
    client.get("/inloggen")
    planted = str(client.cookies[CSRF_COOKIE])
    client.cookies.clear()
    return planted


def _log_in(client: TestClient[Litestar], settings: Settings, csrf: str) -> str:
    user = make_user(settings)
    token = tokens.issue_session_token(settings, user_id=user, staff=False)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token.encoded, domain="testserver.local")
    client.cookies.set(CSRF_COOKIE, csrf, domain="testserver.local")
    return token.sid


def test_a_planted_token_pair_does_not_work_for_a_logged_in_visitor(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Before, any well-signed pair passed Litestar's double-submit check, whoever made it."""
    planted = _planted_pair(client)
    _log_in(client, settings, planted)
    response = client.post("/uitloggen", content=f"_csrf_token={planted}", headers=FORM)
    assert response.status_code == 403


def test_pages_give_a_logged_in_visitor_the_session_token_and_it_works(
    client: TestClient[Litestar], settings: Settings
) -> None:
    sid = _log_in(client, settings, _planted_pair(client))  # e.g. from before logging in
    page = client.get("/uitloggen")
    assert page.status_code == 200
    expected = session_csrf_token(settings, sid)
    assert client.cookies[CSRF_COOKIE] == expected
    form_token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert form_token is not None
    assert form_token.group(1) == expected
    response = client.post(
        "/uitloggen", content=f"_csrf_token={expected}", headers=FORM, follow_redirects=False
    )
    assert response.status_code == 303


def test_tokens_differ_per_session(settings: Settings) -> None:
    assert session_csrf_token(settings, "a") != session_csrf_token(settings, "b")


def _csrf_set_cookie(response: object) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    (header,) = [h for h in headers if h.startswith(f"{CSRF_COOKIE}=")]
    return str(header)


def test_csrf_cookies_are_secure_httponly_and_lax_in_production(
    client: TestClient[Litestar], database_url: str, tmp_path: Path
) -> None:
    """Both CSRF cookies (Litestar's for anonymous visitors, the session-bound one for logged-in
    visitors) carry ``Secure`` in production, like the session cookie; not in the plain-HTTP test
    app (the control)."""
    assert "Secure" not in _csrf_set_cookie(client.get("/inloggen"))
    settings = make_settings(database_url, tmp_path / "prod", env="production")
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as prod:
        anonymous = _csrf_set_cookie(prod.get("/inloggen"))
        sid = _log_in(prod, settings, "niet-van-deze-sessie")
        bound = _csrf_set_cookie(prod.get("/uitloggen"))
    assert bound.startswith(f"{CSRF_COOKIE}={session_csrf_token(settings, sid)};")
    for header in (anonymous, bound):
        assert "; Secure" in header, header
        assert "; HttpOnly" in header, header
        assert "SameSite=lax" in header or "SameSite=Lax" in header, header
