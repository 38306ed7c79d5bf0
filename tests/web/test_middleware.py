"""Security headers and ``Cache-Control`` on every response, errors included (``web/middleware.py``).

Before, the headers came from a route middleware, which Litestar does not run for an unknown path
(404), a wrong method (405) or a refusal raised by another middleware (CSRF 403, bearer 401); no
response carried ``Cache-Control``.
"""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user

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
    ],
)
def test_error_responses_carry_the_security_headers(
    client: TestClient[Litestar], method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.request(
        method, path, headers=headers, content=b"a=b" if method == "POST" else None
    )
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


def test_static_files_may_be_cached(client: TestClient[Litestar]) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public")
    assert response.headers["x-content-type-options"] == "nosniff"
