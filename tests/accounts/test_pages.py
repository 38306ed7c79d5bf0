"""The Dutch account pages: forms with CSRF, confirm by button, login, logout, sliding cookie."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import (
    RESIDENT_PASSWORD,
    confirmation_token,
    count_rows,
    counts,
    csrf_token,
    mails,
    make_user,
    scalar,
)


def _post(client: TestClient[Litestar], path: str, data: dict[str, str]) -> Any:
    return client.post(
        path, data={**data, "_csrf_token": csrf_token(client)}, follow_redirects=False
    )


def _confirmed_count(settings: Settings) -> int:
    value = scalar(settings, "SELECT count(*) FROM users WHERE confirmed_at IS NOT NULL")
    assert isinstance(value, int)
    return value


def test_pages_render_in_dutch_with_stable_field_ids(client: TestClient[Litestar]) -> None:
    login = client.get("/inloggen")
    assert login.status_code == 200
    assert '<html lang="nl"' in login.text
    for field_id in ('id="email"', 'id="password"', 'name="_csrf_token"'):
        assert field_id in login.text
    register = client.get("/registreren")
    for field_id in ('id="display_name"', 'id="email"', 'id="password"'):
        assert field_id in register.text
    assert 'autocomplete="new-password"' in register.text


def test_register_confirm_login_logout_by_pages(
    client: TestClient[Litestar], settings: Settings
) -> None:
    response = _post(
        client,
        "/registreren",
        {"email": "Pagina@Example.nl", "password": RESIDENT_PASSWORD, "display_name": "Pagina"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/registreren/verstuurd")
    sent = client.get(response.headers["location"])
    assert "pagina@example.nl" in sent.text

    token = confirmation_token(settings)
    # Opening the link (what a mail scanner does) shows a button and confirms nothing.
    opened = client.get("/bevestigen", params={"token": token})
    assert opened.status_code == 200
    assert 'id="bevestig-knop"' in opened.text
    assert _confirmed_count(settings) == 0

    confirmed = _post(client, "/bevestigen", {"token": token})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/inloggen?bevestigd=1"
    assert _confirmed_count(settings) == 1
    assert "Uw e-mailadres is bevestigd" in client.get("/inloggen?bevestigd=1").text

    logged_in = _post(
        client,
        "/inloggen",
        {"email": "pagina@example.nl", "password": RESIDENT_PASSWORD, "next_path": "/uitloggen"},
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/uitloggen"
    assert SESSION_COOKIE in client.cookies
    page = client.get("/uitloggen")
    assert "Pagina" in page.text
    assert 'id="uitlog-knop"' in page.text
    session_token = client.cookies[SESSION_COOKIE]

    out = _post(client, "/uitloggen", {})
    assert out.status_code == 303
    assert out.headers["location"] == "/uitgelogd"
    assert SESSION_COOKIE not in client.cookies
    assert count_rows(settings, "revoked_tokens") == 1
    # The old token is dead even if someone kept a copy.
    client.cookies.clear()
    replay = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {session_token}"})
    assert replay.status_code == 401
    assert "uitgelogd" in client.get("/uitgelogd").text


def test_forms_without_csrf_token_are_refused(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "csrf@example.nl")
    client.get("/inloggen")
    response = client.post(
        "/inloggen",
        data={"email": "csrf@example.nl", "password": RESIDENT_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    register = client.post(
        "/registreren",
        data={"email": "x@example.nl", "password": RESIDENT_PASSWORD, "display_name": "X"},
    )
    assert register.status_code == 403
    assert count_rows(settings, "users") == 1


def test_wrong_password_rerenders_the_form_with_a_dutch_error(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "fout@example.nl")
    response = _post(client, "/inloggen", {"email": "fout@example.nl", "password": "verkeerd!"})
    assert response.status_code == 401
    assert "Het e-mailadres of het wachtwoord klopt niet." in response.text
    assert 'value="fout@example.nl"' in response.text  # the address is kept
    assert "verkeerd!" not in response.text  # the password is not
    assert SESSION_COOKIE not in client.cookies


def test_unconfirmed_login_page_says_so(client: TestClient[Litestar], settings: Settings) -> None:
    make_user(settings, "wacht@example.nl", confirmed=False)
    response = _post(
        client, "/inloggen", {"email": "wacht@example.nl", "password": RESIDENT_PASSWORD}
    )
    assert response.status_code == 403
    assert "nog niet bevestigd" in response.text


BAD_REGISTRATION_FORMS: list[tuple[str, dict[str, str], int, str]] = [
    ("empty", {}, 422, "Vul uw e-mailadres in."),
    (
        "short password",
        {"email": "a@example.nl", "password": "kort", "display_name": "A"},
        422,
        "minstens 8 tekens",
    ),
    (
        "long name",
        {"email": "a@example.nl", "password": RESIDENT_PASSWORD, "display_name": "n" * 300},
        422,
        "De naam is te lang",
    ),
    (
        "long email",
        {"email": "a" * 300 + "@example.nl", "password": RESIDENT_PASSWORD, "display_name": "A"},
        422,
        "Het e-mailadres is te lang",
    ),
    (
        "unknown field",
        {
            "email": "a@example.nl",
            "password": RESIDENT_PASSWORD,
            "display_name": "A",
            "rol": "admin",
        },
        400,
        "velden die wij niet kennen",
    ),
    (
        "huge value",
        {"email": "a@example.nl", "password": "x" * 10_000, "display_name": "A"},
        400,
        "velden die wij niet kennen",
    ),
]


@pytest.mark.parametrize(
    ("case", "form", "status", "message"),
    BAD_REGISTRATION_FORMS,
    ids=[c[0] for c in BAD_REGISTRATION_FORMS],
)
def test_bad_registration_form_is_4xx_with_message_and_writes_nothing(
    client: TestClient[Litestar],
    settings: Settings,
    case: str,
    form: dict[str, str],
    status: int,
    message: str,
) -> None:
    before = counts(settings)
    response = _post(client, "/registreren", form)
    assert response.status_code == status
    assert message in response.text
    assert 'id="foutoverzicht"' in response.text  # the error summary, focusable
    assert counts(settings) == before
    assert mails(settings) == []


def test_repeated_form_fields_are_refused(client: TestClient[Litestar], settings: Settings) -> None:
    make_user(settings, "dubbel@example.nl")
    response = client.post(
        "/inloggen",
        content=(
            f"email=dubbel%40example.nl&email=ander%40example.nl&password={RESIDENT_PASSWORD}"
            f"&_csrf_token={csrf_token(client)}"
        ),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert SESSION_COOKIE not in client.cookies


def test_bad_confirmation_links(client: TestClient[Litestar], settings: Settings) -> None:
    make_user(settings, "link@example.nl", confirmed=False)
    missing = client.get("/bevestigen")
    assert missing.status_code == 400
    assert "het token ontbreekt" in missing.text
    forged = _post(client, "/bevestigen", {"token": "eyJ.nep.token"})
    assert forged.status_code == 422
    assert "ongeldig" in forged.text
    assert _confirmed_count(settings) == 0


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(
    client: TestClient[Litestar], settings: Settings, target: str
) -> None:
    make_user(settings, "weg@example.nl")
    response = _post(
        client,
        "/inloggen",
        {"email": "weg@example.nl", "password": RESIDENT_PASSWORD, "next_path": target},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_invalid_cookie_on_a_page_is_anonymous_and_cleared(
    client: TestClient[Litestar], settings: Settings
) -> None:
    client.cookies.set(SESSION_COOKIE, "kapot.token.waarde")
    response = client.get("/inloggen")
    assert response.status_code == 200
    assert "Inloggen" in response.text
    assert 'id="al-ingelogd"' not in response.text
    set_cookie = response.headers.get("set-cookie", "")
    assert re.search(rf"{SESSION_COOKIE}=(\"\")?;", set_cookie)
    assert "Max-Age=0" in set_cookie


def test_resident_cookie_slides_after_half_its_lifetime(
    client: TestClient[Litestar], settings: Settings
) -> None:
    uid = make_user(settings, "schuif@example.nl")
    now = int(time.time())
    old = jwt.encode(
        {
            "iss": settings.base_url,
            "aud": tokens.SESSION_AUDIENCE,
            "sub": str(uid),
            "iat": now - 20 * 60,
            "exp": now + 10 * 60,
            "jti": "oud-jti",
            "sid": "sessie-x",
            "auth_time": now - 20 * 60,
        },
        tokens.session_key(settings),
        algorithm="HS256",
    )
    client.cookies.set(SESSION_COOKIE, old)
    response = client.get("/uitloggen")
    assert 'id="uitlog-knop"' in response.text  # still logged in
    renewed = response.cookies[SESSION_COOKIE]
    assert renewed != old
    payload = jwt.decode(renewed, options={"verify_signature": False})
    assert payload["sid"] == "sessie-x"
    assert payload["auth_time"] == now - 20 * 60
    assert payload["exp"] - payload["iat"] == 30 * 60

    fresh = tokens.issue_session_token(settings, user_id=uid, staff=False)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, fresh.encoded)
    again = client.get("/uitloggen")
    assert SESSION_COOKIE not in again.headers.get("set-cookie", "")


def test_staff_cookie_slides_with_activity_but_keeps_the_short_staff_lifetime(
    client: TestClient[Litestar], settings: Settings
) -> None:
    uid = make_user(settings, "toetser@gemeente.nl", roles=(Role.MODERATOR,))
    lifetime = settings.staff_token_minutes * 60
    assert lifetime < settings.resident_token_minutes * 60  # the control below means something
    now = int(time.time())
    old = jwt.encode(
        {
            "iss": settings.base_url,
            "aud": tokens.SESSION_AUDIENCE,
            "sub": str(uid),
            "iat": now - lifetime * 2 // 3,
            "exp": now + lifetime // 3,
            "jti": "oud-jti",
            "sid": "sessie-staf",
            "auth_time": now - lifetime * 2 // 3,
        },
        tokens.session_key(settings),
        algorithm="HS256",
    )
    client.cookies.set(SESSION_COOKIE, old)
    response = client.get("/toetsing")
    assert response.status_code == 200  # still logged in, as a moderator
    payload = jwt.decode(response.cookies[SESSION_COOKIE], options={"verify_signature": False})
    assert payload["sid"] == "sessie-staf"
    assert payload["exp"] - payload["iat"] == lifetime  # 15 idle minutes, from now


def test_sessions_end_at_the_absolute_limit(
    client: TestClient[Litestar], settings: Settings
) -> None:
    uid = make_user(settings, "lang@example.nl")
    now = int(time.time())
    started = now - tokens.ABSOLUTE_SESSION_HOURS * 3600 - 60
    token = jwt.encode(
        {
            "iss": settings.base_url,
            "aud": tokens.SESSION_AUDIENCE,
            "sub": str(uid),
            "iat": now - 20 * 60,
            "exp": now + 10 * 60,
            "jti": "j",
            "sid": "s",
            "auth_time": started,
        },
        tokens.session_key(settings),
        algorithm="HS256",
    )
    client.cookies.set(SESSION_COOKIE, token)
    response = client.get("/uitloggen")
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_logout_without_session_just_clears(
    client: TestClient[Litestar], settings: Settings
) -> None:
    response = _post(client, "/uitloggen", {})
    assert response.status_code == 303
    assert count_rows(settings, "revoked_tokens") == 0


def test_registration_page_rate_limit(database_url: str, tmp_path: Any) -> None:
    from burgerbegroting.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(database_url, tmp_path / "var", registration_attempts_per_window=1)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        form = {"email": "een@example.nl", "password": RESIDENT_PASSWORD, "display_name": "Een"}
        assert _post(client, "/registreren", form).status_code == 303
        client.cookies.clear()
        limited = _post(client, "/registreren", {**form, "email": "twee@example.nl"})
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    assert "te veel accounts" in limited.text
    assert count_rows(settings, "users") == 1


def test_anonymous_visit_to_a_login_page_goes_to_login_and_back(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "terug@example.nl")
    refused = client.get("/mijn-voorstellen?pagina=2", follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"] == "/inloggen?next=%2Fmijn-voorstellen%3Fpagina%3D2"
    login_page = client.get(refused.headers["location"])
    assert 'name="next_path" value="/mijn-voorstellen?pagina=2"' in login_page.text
    logged_in = _post(
        client,
        "/inloggen",
        {
            "email": "terug@example.nl",
            "password": RESIDENT_PASSWORD,
            "next_path": "/mijn-voorstellen?pagina=2",
        },
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/mijn-voorstellen?pagina=2"
    assert client.get("/mijn-voorstellen", follow_redirects=False).status_code == 200


def test_anonymous_api_and_form_posts_keep_their_401(client: TestClient[Litestar]) -> None:
    api = client.get("/api/v1/me/proposals", follow_redirects=False)
    assert api.status_code == 401
    assert api.headers["content-type"].startswith("application/problem+json")
    # A refused form cannot be replayed by a redirect: the 401 page says to log in.
    post = _post(client, "/voorstellen/1/steunen", {})
    assert post.status_code == 401
    assert 'href="/inloggen"' in post.text
