"""The accounts API: register, confirm, login, logout, me; JWT attacks; bad input; rate limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.accounts.passwords import PasswordService
from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.settings import Settings
from tests.accounts.factories import (
    RESIDENT_PASSWORD,
    bearer,
    confirmation_token,
    count_rows,
    counts,
    mails,
    make_user,
)
from tests.conftest import make_settings


def _login(client: TestClient[Litestar], email: str, password: str = RESIDENT_PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_register_confirm_login_me_logout(client: TestClient[Litestar], settings: Settings) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "Nieuw@Example.nl", "password": RESIDENT_PASSWORD, "display_name": "Nieuw"},
    )
    assert response.status_code == 202
    assert "nieuw@example.nl" in response.json()["detail"]
    assert count_rows(settings, "users") == 1

    refused = _login(client, "nieuw@example.nl")
    assert refused.status_code == 403
    assert "nog niet bevestigd" in refused.json()["detail"]

    confirmed = client.post("/api/v1/auth/confirm", json={"token": confirmation_token(settings)})
    assert confirmed.status_code == 200

    login = _login(client, "NIEUW@example.nl")
    assert login.status_code == 200
    body = login.json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["roles"] == ["resident"]
    assert login.cookies.get(SESSION_COOKIE) == body["token"]
    client.cookies.clear()

    auth = {"Authorization": f"Bearer {body['token']}"}
    me = client.get("/api/v1/auth/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["email"] == "nieuw@example.nl"

    out = client.post("/api/v1/auth/logout", headers=auth)
    assert out.status_code == 200
    assert count_rows(settings, "revoked_tokens") == 1  # jti == sid for a fresh login
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401


def test_login_token_has_the_pinned_claims(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "claims@example.nl")
    token = _login(client, "claims@example.nl").json()["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    payload = jwt.decode(
        token,
        tokens.session_key(settings),
        algorithms=["HS256"],
        audience="burgerbegroting",
        issuer=settings.base_url,
    )
    assert set(payload) >= {"iss", "aud", "exp", "iat", "jti", "sub", "sid", "auth_time"}
    assert payload["exp"] - payload["iat"] == 30 * 60


def test_staff_tokens_live_fifteen_minutes(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "beheer@example.nl", roles={Role.ADMIN})
    token = _login(client, "beheer@example.nl", "veel-langer-wachtwoord-1").json()["token"]
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 15 * 60


def test_session_cookie_is_httponly_lax_and_not_secure_in_tests(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "koek@example.nl")
    header = _login(client, "koek@example.nl").headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in header
    assert "HttpOnly" in header
    assert "SameSite=lax" in header or "SameSite=Lax" in header
    assert "Secure" not in header


def test_session_cookie_is_secure_in_production(database_url: str, tmp_path: Any) -> None:
    settings = make_settings(database_url, tmp_path / "var", env="production")
    make_user(settings, "prod@example.nl")
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        header = _login(client, "prod@example.nl").headers["set-cookie"]
    assert "Secure" in header


# --- JWT attacks ---------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(settings: Settings, user_id: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.base_url,
        "aud": "burgerbegroting",
        "sub": str(user_id),
        "iat": now,
        "exp": now + 600,
        "jti": "aanval-jti",
        "sid": "aanval-sid",
        "auth_time": now,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(settings: Settings, claims: dict[str, Any], **kwargs: Any) -> str:
    return jwt.encode(claims, tokens.session_key(settings), algorithm="HS256", **kwargs)


def _alg_none(settings: Settings, uid: int) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings, uid))}."


def _hs512(settings: Settings, uid: int) -> str:
    return jwt.encode(_claims(settings, uid), tokens.session_key(settings), algorithm="HS512")


def _rs256(settings: Settings, uid: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(settings, uid), key, algorithm="RS256")


def _key_confusion(settings: Settings, uid: int) -> str:
    # The classic RS256→HS256 confusion: HMAC-sign with a public key as if it were the secret.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(_claims(settings, uid))}"
    import hashlib
    import hmac

    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _wrong_key(settings: Settings, uid: int) -> str:
    return jwt.encode(_claims(settings, uid), "x" * 64, algorithm="HS256")


def _raw_secret(settings: Settings, uid: int) -> str:
    # The undervided BB_SECRET_KEY (which Litestar uses for CSRF) is not the session key.
    return jwt.encode(_claims(settings, uid), settings.secret_key, algorithm="HS256")


def _expired(settings: Settings, uid: int) -> str:
    now = int(time.time())
    return _sign(
        settings, _claims(settings, uid, iat=now - 4000, exp=now - 60, auth_time=now - 4000)
    )


def _future_nbf(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, nbf=int(time.time()) + 3600))


def _future_iat(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, iat=int(time.time()) + 3600))


def _wrong_aud(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, aud="iets-anders"))


def _aud_list(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, aud=["burgerbegroting", "iets-anders"]))


def _wrong_iss(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, iss="https://evil.example"))


def _iss_prefix(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, iss=settings.base_url[:-2]))


def _confirm_token(settings: Settings, uid: int) -> str:
    return tokens.issue_confirmation_token(settings, user_id=uid, email="aanval@example.nl")


def _missing(claim: str) -> Callable[[Settings, int], str]:
    def make(settings: Settings, uid: int) -> str:
        return _sign(settings, _claims(settings, uid, **{claim: None}))

    make.__name__ = f"missing_{claim}"
    return make


def _unknown_user(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid + 1000))


def _non_numeric_sub(settings: Settings, uid: int) -> str:
    return _sign(settings, _claims(settings, uid, sub="admin"))


def _garbage(settings: Settings, uid: int) -> str:
    return "dit.is.geen-jwt"


ATTACKS: list[Callable[[Settings, int], str]] = [
    _alg_none,
    _hs512,
    _rs256,
    _key_confusion,
    _wrong_key,
    _raw_secret,
    _expired,
    _future_nbf,
    _future_iat,
    _wrong_aud,
    _aud_list,
    _wrong_iss,
    _iss_prefix,
    _confirm_token,
    _unknown_user,
    _non_numeric_sub,
    _garbage,
    *(_missing(c) for c in ("exp", "iat", "iss", "aud", "sub", "jti", "sid", "auth_time")),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__.lstrip("_"))
def test_forged_or_broken_tokens_get_401_never_500(
    client: TestClient[Litestar], settings: Settings, attack: Callable[[Settings, int], str]
) -> None:
    uid = make_user(settings, "aanval@example.nl")
    # The honest token works, so a 401 below is the attack's doing.
    assert client.get("/api/v1/auth/me", headers=bearer(settings, uid)).status_code == 200
    forged = attack(settings, uid)
    by_header = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert by_header.status_code == 401, by_header.text
    assert by_header.headers["content-type"].startswith("application/problem+json")
    client.cookies.set(SESSION_COOKIE, forged)
    by_cookie = client.get("/api/v1/auth/me")
    assert by_cookie.status_code == 401


def test_a_token_changed_to_another_existing_user_is_refused_by_its_signature(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """The tampered case used to switch ``sub`` to a user that did not exist, so it got 401 even
    without a signature check. Here the forged payload names a real admin, and the very same
    payload signed with the key is accepted: only the signature stands between them."""
    attacker = make_user(settings, "aanval@example.nl")
    admin = make_user(settings, "beheer@example.nl", roles=(Role.ADMIN,))
    header, _payload, signature = _sign(settings, _claims(settings, attacker)).split(".")
    admin_claims = _claims(settings, admin)
    forged = f"{header}.{_b64(admin_claims)}.{signature}"
    # Compact JSON like PyJWT's, so the two tokens differ in their signature only.
    honest = _sign(settings, admin_claims)
    assert honest.split(".")[1] == forged.split(".")[1]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {honest}"})
    assert me.status_code == 200
    assert me.json()["roles"] == ["admin"]
    refused = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401


def test_revoked_jti_gets_401(client: TestClient[Litestar], settings: Settings) -> None:
    make_user(settings, "weg@example.nl")
    token = _login(client, "weg@example.nl").json()["token"]
    client.cookies.clear()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 200
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401


def test_logout_revokes_the_whole_session_including_renewed_tokens(
    client: TestClient[Litestar], settings: Settings
) -> None:
    uid = make_user(settings, "sessie@example.nl")
    first = tokens.issue_session_token(settings, user_id=uid, staff=False)
    renewed = tokens.issue_session_token(
        settings, user_id=uid, staff=False, sid=first.sid, auth_time=None
    )
    assert renewed.jti != first.jti
    headers = {"Authorization": f"Bearer {renewed.encoded}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    old = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {first.encoded}"})
    assert old.status_code == 401


def test_non_bearer_authorization_scheme_is_401(
    client: TestClient[Litestar], settings: Settings
) -> None:
    uid = make_user(settings, "basic@example.nl")
    token = tokens.issue_session_token(settings, user_id=uid, staff=False).encoded
    for value in (f"Basic {token}", f"Token {token}", "Bearer", "Bearer   "):
        response = client.get("/api/v1/auth/me", headers={"Authorization": value})
        assert response.status_code == 401, value


def test_unconfirmed_or_deleted_user_token_is_401(
    client: TestClient[Litestar], settings: Settings
) -> None:
    uid = make_user(settings, "nietbevestigd@example.nl", confirmed=False)
    assert client.get("/api/v1/auth/me", headers=bearer(settings, uid)).status_code == 401


def test_anonymous_me_is_401(client: TestClient[Litestar]) -> None:
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("U bent niet")


# --- the cookie and the CSRF-free API -----------------------------------------------------------


def test_cookie_authenticates_safe_api_requests_only(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "koekje@example.nl")
    assert _login(client, "koekje@example.nl").status_code == 200
    assert SESSION_COOKIE in client.cookies
    # GET with only the cookie: authenticated.
    assert client.get("/api/v1/auth/me").status_code == 200
    # POST with only the cookie: treated as anonymous, so a cross-site form riding the cookie
    # cannot act. Logout requires login, so it is refused and nothing is revoked.
    response = client.post("/api/v1/auth/logout")
    assert response.status_code == 401
    assert count_rows(settings, "revoked_tokens") == 0
    assert client.get("/api/v1/auth/me").status_code == 200


def test_api_posts_must_be_json(client: TestClient[Litestar], settings: Settings) -> None:
    make_user(settings, "json@example.nl")
    # What a cross-site <form enctype="text/plain"> can send: JSON-looking, wrong content type.
    response = client.post(
        "/api/v1/auth/login",
        content=json.dumps({"email": "json@example.nl", "password": RESIDENT_PASSWORD}),
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415
    assert SESSION_COOKIE not in response.cookies


# --- bad input: 4xx with a Dutch message, nothing written ---------------------------------------

REGISTER_OK = {"email": "goed@example.nl", "password": RESIDENT_PASSWORD, "display_name": "Goed"}

BAD_REGISTER: list[tuple[str, Any, int]] = [
    ("empty body", None, 400),
    ("empty object", {}, 400),
    ("not an object", ["a"], 400),
    ("unknown field", {**REGISTER_OK, "roles": ["admin"]}, 400),
    ("email wrong type", {**REGISTER_OK, "email": 12}, 400),
    ("password wrong type", {**REGISTER_OK, "password": None}, 400),
    ("name wrong type", {**REGISTER_OK, "display_name": {"a": 1}}, 400),
    ("empty email", {**REGISTER_OK, "email": ""}, 422),
    ("bad email", {**REGISTER_OK, "email": "geen-adres"}, 422),
    ("long email", {**REGISTER_OK, "email": "a" * 300 + "@example.nl"}, 422),
    ("short password", {**REGISTER_OK, "password": "kort"}, 422),
    ("long password", {**REGISTER_OK, "password": "x" * 2000}, 422),
    ("empty name", {**REGISTER_OK, "display_name": "   "}, 422),
    ("long name", {**REGISTER_OK, "display_name": "n" * 500}, 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_REGISTER, ids=[c[0] for c in BAD_REGISTER])
def test_bad_registration_is_4xx_in_dutch_and_writes_nothing(
    client: TestClient[Litestar], settings: Settings, case: str, body: Any, status: int
) -> None:
    before = counts(settings)
    if body is None:
        response = client.post(
            "/api/v1/auth/register", content=b"", headers={"content-type": "application/json"}
        )
    else:
        response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert any(word in problem["detail"] for word in ("invoer", "ingevuld", "velden"))
    assert counts(settings) == before
    assert mails(settings) == []


def test_field_messages_name_the_problem(client: TestClient[Litestar]) -> None:
    response = client.post(
        "/api/v1/auth/register",
        json={"email": "geen-adres", "password": "kort", "display_name": ""},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "geldig e-mailadres" in errors["email"]
    assert "minstens 8 tekens" in errors["password"]
    assert "Vul een naam in" in errors["display_name"]


BAD_LOGIN: list[tuple[str, Any, int]] = [
    ("empty object", {}, 400),
    ("unknown field", {"email": "a@example.nl", "password": "x", "remember": True}, 400),
    ("wrong type", {"email": ["a"], "password": "x"}, 400),
    ("empty values", {"email": "", "password": ""}, 422),
    ("long password", {"email": "a@example.nl", "password": "x" * 5000}, 422),
    ("long email", {"email": "a" * 400, "password": "x"}, 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_LOGIN, ids=[c[0] for c in BAD_LOGIN])
def test_bad_login_is_4xx_and_writes_nothing(
    client: TestClient[Litestar], settings: Settings, case: str, body: Any, status: int
) -> None:
    make_user(settings, "a@example.nl")
    before = counts(settings)
    response = client.post("/api/v1/auth/login", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert SESSION_COOKIE not in response.cookies
    assert counts(settings) == before


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"token": 5}, 400), ({"token": ""}, 422), ({"token": "x" * 5000}, 422)],
)
def test_bad_confirmation_is_4xx(
    client: TestClient[Litestar], settings: Settings, body: Any, status: int
) -> None:
    make_user(settings, "c@example.nl", confirmed=False)
    response = client.post("/api/v1/auth/confirm", json=body)
    assert response.status_code == status
    assert count_rows(settings, "users") == 1
    assert scalar_confirmed(settings) == 0


def scalar_confirmed(settings: Settings) -> int:
    from tests.accounts.factories import scalar

    value = scalar(settings, "SELECT count(*) FROM users WHERE confirmed_at IS NOT NULL")
    assert isinstance(value, int)
    return value


def test_registering_an_existing_address_answers_the_same(
    client: TestClient[Litestar], settings: Settings
) -> None:
    make_user(settings, "bestaat@example.nl")
    existing = client.post(
        "/api/v1/auth/register",
        json={"email": "bestaat@example.nl", "password": RESIDENT_PASSWORD, "display_name": "X"},
    )
    new = client.post(
        "/api/v1/auth/register",
        json={"email": "nieuw@example.nl", "password": RESIDENT_PASSWORD, "display_name": "X"},
    )
    assert existing.status_code == new.status_code == 202
    assert existing.json()["detail"].replace("bestaat", "nieuw") == new.json()["detail"]
    assert count_rows(settings, "users") == 2
    subjects = sorted(str(m["Subject"]) for m in mails(settings))
    assert subjects == ["Bevestig uw e-mailadres voor de burgerbegroting", "U heeft al een account"]


def _statements_before_the_answer(
    app: Litestar, send: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The SQL the request ran before its answer started (parameters aside), and the password
    hashing it did then (``hash``, ``verify``, ``spend_dummy_hash``: tens of milliseconds each,
    which a stopwatch sees as surely as a statement)."""
    seen: list[str] = []
    answered = False

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not answered:
            seen.append(" ".join(statement.split()))

    for name in ("hash", "verify", "spend_dummy_hash"):
        original = getattr(PasswordService, name)

        def counted(
            self: PasswordService, *args: Any, _name: str = name, _original: Any = original
        ) -> Any:
            if not answered:
                seen.append(f"password {_name}")
            return _original(self, *args)

        monkeypatch.setattr(PasswordService, name, counted)

    async def mark(message: Any, _scope: Any) -> None:
        nonlocal answered
        if message["type"] == "http.response.start":
            answered = True

    app.before_send.append(mark)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        assert send().status_code == 202
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        app.before_send.remove(mark)
    return seen


def test_registration_costs_the_same_for_a_new_and_an_existing_address(
    app: Litestar, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new address cost an INSERT and a commit before the answer, an existing one did not: a
    stopwatch told them apart. Now both answers wait for the same statements only."""
    make_user(settings, "bestaat@example.nl")

    def register(address: str) -> Callable[[], Any]:
        body = {"email": address, "password": RESIDENT_PASSWORD, "display_name": "X"}
        return lambda: client.post("/api/v1/auth/register", json=body)

    with TestClient(app=app, base_url="http://testserver.local") as client:
        existing = _statements_before_the_answer(app, register("bestaat@example.nl"), monkeypatch)
        new = _statements_before_the_answer(app, register("nieuw@example.nl"), monkeypatch)
    assert existing == new
    assert not any(s.startswith(("INSERT INTO users", "UPDATE users")) for s in new)
    # Neither hashes before the answer (a hash for one kind of address only would be timed).
    assert not any(s.startswith("password") for s in new)
    # The work was done after the answer: the account exists and both mails went out.
    assert count_rows(settings, "users") == 2
    assert len(mails(settings)) == 2


def test_registration_mail_is_limited_per_recipient(database_url: str, tmp_path: Any) -> None:
    """One address got one mail per request, from any number of clients."""
    settings = make_settings(database_url, tmp_path / "var", registration_attempts_per_window=100)
    body = {"email": "slachtoffer@example.nl", "password": RESIDENT_PASSWORD, "display_name": "X"}
    # Spellings of one recipient (case, spaces) are one recipient: the mail goes to the same box.
    spellings = [
        "slachtoffer@example.nl",
        "Slachtoffer@Example.NL",
        " slachtoffer@example.nl ",
        "SLACHTOFFER@EXAMPLE.NL",
        "slachtoffer@EXAMPLE.nl",
    ]
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        statuses = [
            client.post("/api/v1/auth/register", json={**body, "email": address}).status_code
            for address in spellings
        ]
        assert statuses == [202, 202, 202, 429, 429]
        other = {**body, "email": "ander@example.nl"}
        assert client.post("/api/v1/auth/register", json=other).status_code == 202
    assert [str(m["To"]) for m in mails(settings)].count("slachtoffer@example.nl") == 3


# --- rate limits --------------------------------------------------------------------------------


def test_login_rate_limit_cannot_be_dodged_by_dropping_cookies(
    database_url: str, tmp_path: Any
) -> None:
    settings = make_settings(database_url, tmp_path / "var", login_attempts_per_window=3)
    make_user(settings, "doelwit@example.nl")
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        statuses = []
        for n in range(5):
            client.cookies.clear()
            response = client.post(
                "/api/v1/auth/login",
                json={"email": f"ander{n}@example.nl", "password": "fout-wachtwoord"},
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]
        assert int(response.headers["retry-after"]) >= 1
        assert "Te veel inlogpogingen" in response.json()["detail"]
        # Even the right password is refused while limited.
        ok = _login(client, "doelwit@example.nl")
        assert ok.status_code == 429


def test_login_rate_limit_cannot_be_dodged_with_forwarding_headers(
    database_url: str, tmp_path: Any
) -> None:
    """The per-address limit keys on the connection's address, never on a header the client
    writes itself: a new ``X-Forwarded-For`` or ``Forwarded`` per request buys no new attempts.
    (Behind a proxy, uvicorn's ``--proxy-headers`` sets the connection's address from the
    proxy's header; the app never reads one.)"""
    settings = make_settings(database_url, tmp_path / "var", login_attempts_per_window=3)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        statuses = []
        for n in range(5):
            response = client.post(
                "/api/v1/auth/login",
                json={"email": f"ander{n}@example.nl", "password": "fout-wachtwoord"},
                headers={
                    "X-Forwarded-For": f"198.51.100.{n}",
                    "X-Real-IP": f"198.51.100.{n}",
                    "Forwarded": f"for=198.51.100.{n}",
                },
            )
            statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429, 429]


def test_the_limit_is_shared_by_every_app_instance(database_url: str, tmp_path: Any) -> None:
    """Two app instances (think: two workers) on one database count together."""
    settings = make_settings(database_url, tmp_path / "var", registration_attempts_per_window=2)
    body = {"email": "x@example.nl", "password": RESIDENT_PASSWORD, "display_name": "X"}
    with (
        TestClient(app=create_app(settings), base_url="http://testserver.local") as one,
        TestClient(app=create_app(settings), base_url="http://testserver.local") as two,
    ):
        assert one.post("/api/v1/auth/register", json=body).status_code == 202
        assert two.post("/api/v1/auth/register", json=body).status_code == 202
        third = one.post("/api/v1/auth/register", json=body)
        fourth = two.post("/api/v1/auth/register", json=body)
    assert third.status_code == fourth.status_code == 429
    assert "Retry-After" in third.headers


def test_many_successful_logins_from_one_address_are_never_refused(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Successes used to count: the eleventh demo login from one address got 429."""
    make_user(settings, "vaak@example.nl")
    statuses = [_login(client, "vaak@example.nl").status_code for _ in range(12)]
    assert statuses == [200] * 12
