"""Security headers and ``Cache-Control`` on every response, errors included (``web/middleware.py``).

Before, the headers came from a route middleware, which Litestar does not run for an unknown path
(404), a wrong method (405) or a refusal raised by another middleware (CSRF 403, bearer 401); no
response carried ``Cache-Control``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.app import create_app
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.conftest import make_settings
from tests.voting.factories import issue_codes, open_round, redeem

HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def _assert_secure(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    for name, value in HEADERS.items():
        assert headers[name] == value, name
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/bestaat-niet", {}, 404),
        ("GET", "/api/v1/bestaat-niet", {}, 404),
        ("DELETE", "/health", {}, 405),
        ("POST", "/inloggen", {"content-type": "application/x-www-form-urlencoded"}, 403),
        ("GET", "/api/v1/auth/me", {"Authorization": "Bearer nep"}, 401),
        ("GET", "/api/v1/rounds/2147483648", {}, 404),
        # Refusals raised before routing by the request limits.
        ("GET", "/static/a%00b.css", {}, 400),
        ("POST", "/api/v1/auth/login", {"content-type": "text/plain"}, 415),
        (
            "POST",
            "/inloggen",
            {"content-type": "application/x-www-form-urlencoded", "x": "413"},
            413,
        ),
    ],
)
def test_error_responses_carry_the_security_headers(
    client: TestClient[Litestar], method: str, path: str, headers: dict[str, str], status: int
) -> None:
    headers = dict(headers)  # the parameter is shared by both backends' runs
    body = b"a=b" if method == "POST" else None
    if headers.pop("x", None) == "413":
        body = b"&".join([b"a=b"] * 1001)
    response = client.request(method, path, headers=headers, content=body)
    assert response.status_code == status
    _assert_secure(response)


def test_pages_and_api_answers_with_personal_data_are_not_stored(
    client: TestClient[Litestar], settings: Settings
) -> None:
    user = make_user(settings)
    me = client.get("/api/v1/auth/me", headers=bearer(settings, user))
    assert me.status_code == 200
    _assert_secure(me)
    page = client.get("/voorstellen")
    assert page.status_code == 200
    _assert_secure(page)


def test_hsts_is_sent_outside_development_and_tests(
    client: TestClient[Litestar], database_url: str, tmp_path: Path
) -> None:
    """Production answers (errors too) pin HTTPS; the plain-HTTP test app does not (the control)."""
    assert "strict-transport-security" not in client.get("/health").headers
    settings = make_settings(database_url, tmp_path / "prod", env="production")
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as prod:
        for path in ("/health", "/bestaat-niet"):
            hsts = prod.get(path).headers["strict-transport-security"]
            assert hsts == "max-age=63072000; includeSubDomains", path


def test_static_files_may_be_cached(client: TestClient[Litestar]) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public")
    assert response.headers["x-content-type-options"] == "nosniff"


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "burgerbegroting.access"]


def test_access_log_redacts_query_values(
    client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="burgerbegroting.access"):
        client.get("/bevestigen?token=GEHEIM-TOKEN-123&x=1")
        client.get("/uitnodiging?token=GEHEIM-TOKEN-456")
    lines = _access_lines(caplog)
    assert len(lines) == 2
    assert "/bevestigen?token=…&x=…" in lines[0]
    assert "/uitnodiging?token=…" in lines[1]
    assert not any("GEHEIM" in line for line in lines)


def test_access_log_cannot_be_given_a_fake_line(
    client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="burgerbegroting.access"):
        client.get("/x%0D%0A127.0.0.1%20GET%20/beheer%20200%1B[31m")
    (line,) = _access_lines(caplog)
    assert not any(ch in line for ch in "\n\r\x1b")
    assert "/x\\r\\n127.0.0.1 GET /beheer 200\\x1b[31m" in line
    assert line.endswith(" 404")


def test_serve_turns_uvicorns_access_log_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    from burgerbegroting import cli

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("BB_ENV", "test")
    monkeypatch.setenv("BB_VAR_DIR", str(tmp_path))
    assert cli.main(["serve"]) == 0
    assert seen["access_log"] is False
    config = seen["log_config"]
    assert isinstance(config, dict)
    assert "burgerbegroting" in config["loggers"]


# --- unsafe requests from another site ----------------------------------------------------------

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        # Another host whose name merely contains ours (or ours in its path) is another site.
        ({"Origin": "http://testserver.local.evil.example"}, 403),
        ({"Origin": "http://evil.example/testserver.local"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}, 401),
        ({}, 401),
    ],
)
def test_form_posts_from_another_site_are_refused_even_with_a_valid_csrf_token(
    client: TestClient[Litestar], settings: Settings, extra: dict[str, str], status: int
) -> None:
    """A valid CSRF pair does not prove the page that posted it was ours (login CSRF: an attacker
    posts their own token pair); Origin and Sec-Fetch-Site do."""
    make_user(settings, "a@example.nl")
    client.get("/inloggen")
    token = client.cookies["csrftoken"]
    body = f"email=a%40example.nl&password=fout&next_path=%2F&_csrf_token={token}"
    response = client.post("/inloggen", content=body, headers={**FORM, **extra})
    assert response.status_code == status
    _assert_secure(response)


def test_api_posts_from_another_origin_are_refused_but_trusted_origins_pass(
    client: TestClient[Litestar], settings: Settings
) -> None:
    user = make_user(settings)
    headers = bearer(settings, user)
    evil = client.post("/api/v1/auth/logout", headers={**headers, "Origin": "https://evil.example"})
    assert evil.status_code == 403
    own = client.post("/api/v1/auth/logout", headers={**headers, "Origin": settings.base_url})
    assert own.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/rounds/1"),
        ("PUT", "/api/v1/proposals/1/supports"),
        ("DELETE", "/api/v1/proposals/1/supports"),
    ],
)
@pytest.mark.parametrize(
    "extra", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]
)
def test_every_unsafe_method_from_another_site_is_refused(
    client: TestClient[Litestar], settings: Settings, method: str, path: str, extra: dict[str, str]
) -> None:
    """Not only POST: PUT, PATCH and DELETE from another site are refused before anything else
    (403), where the same request from this site gets as far as the login check (401)."""
    own = client.request(method, path, headers={"Origin": settings.base_url})
    assert own.status_code == 401
    foreign = client.request(method, path, headers=extra)
    assert foreign.status_code == 403
    _assert_secure(foreign)


def test_access_log_leaves_the_address_out_of_casts(
    client: TestClient[Litestar], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A cast's log line in order beside the ballot log (public after publication, with the day
    only) would join a client address to a ballot's content: casts are logged without it."""
    vr = open_round(settings)
    voter = redeem(client, issue_codes(settings, vr, 1)[0])
    with caplog.at_level(logging.INFO, logger="burgerbegroting.access"):
        caplog.clear()
        client.get("/health")
        cast = client.put(
            f"/api/v1/rounds/{vr.round_id}/ballot",
            json={"projects": [vr.projects[1]]},
            headers=voter,
        )
        assert cast.status_code == 200, cast.text
        client.post(
            f"/stemmen/{vr.round_id}/bevestigen", data={"inhoud": "{}"}, follow_redirects=False
        )
    health, put, confirm = _access_lines(caplog)
    assert health.startswith("testclient GET /health")  # the control: other lines keep it
    assert put == f"- PUT /api/v1/rounds/{vr.round_id}/ballot 200"
    assert confirm.startswith(f"- POST /stemmen/{vr.round_id}/bevestigen ")
