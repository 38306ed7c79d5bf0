"""Guards: 401 for anonymous, 403 for the wrong role, any one of several roles passes."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, get
from litestar.middleware import ASGIMiddleware
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import require_roles, requires_login
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import count_rows
from tests.proposals.factories import make_people, make_round


class FakeUserMiddleware(ASGIMiddleware):
    """Puts the user named by the test header on the scope (the real middleware is tested
    in test_controllers and test_route_matrix)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        raw = dict(scope["headers"]).get(b"x-roles")
        scope["user"] = (
            None
            if raw is None
            else CurrentUser(
                id=1,
                email="t@example.nl",
                display_name="T",
                roles=frozenset(Role(r) for r in raw.decode().split(",") if r),
            )
        )
        await next_app(scope, receive, send)


@get("/ingelogd", guards=[requires_login], sync_to_thread=False)
def logged_in() -> str:
    return "ok"


@get(
    "/beheer-of-toetsing", guards=[require_roles(Role.ADMIN, Role.MODERATOR)], sync_to_thread=False
)
def staff() -> str:
    return "ok"


@pytest.fixture
def guarded() -> Any:
    app = Litestar([logged_in, staff], middleware=[FakeUserMiddleware()])
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "roles", "status"),
    [
        ("/ingelogd", None, 401),
        ("/ingelogd", "", 200),
        ("/ingelogd", "council", 200),
        ("/beheer-of-toetsing", None, 401),
        ("/beheer-of-toetsing", "resident", 403),
        ("/beheer-of-toetsing", "council,auditor", 403),
        ("/beheer-of-toetsing", "admin", 200),
        ("/beheer-of-toetsing", "resident,moderator", 200),
    ],
)
def test_guards(guarded: TestClient[Litestar], path: str, roles: str | None, status: int) -> None:
    headers = {} if roles is None else {"x-roles": roles}
    assert guarded.get(path, headers=headers).status_code == status


def test_require_roles_needs_a_role() -> None:
    with pytest.raises(ValueError, match="at least one role"):
        require_roles()


def test_current_user_is_none_where_no_middleware_ran() -> None:
    assert current_user({"type": "http"}) is None
    assert current_user(object()) is None
    user = CurrentUser(id=1, email="a@b.nl", display_name="A", roles=frozenset({Role.AUDITOR}))
    assert current_user({"user": user}) is user
    assert user.has(Role.AUDITOR, Role.ADMIN)
    assert not user.has(Role.ADMIN)
    assert user.is_staff


# --- requires_same_origin_or_bearer: downloads that write the audit log ----------------------------


@pytest.mark.parametrize(
    ("site", "status", "logged"),
    [
        ("cross-site", 403, 0),
        ("same-site", 403, 0),
        (None, 403, 0),
        ("same-origin", 200, 1),
        ("none", 200, 1),
    ],
)
def test_a_logged_download_cannot_be_started_from_another_site(
    client: TestClient[Litestar], settings: Settings, site: str | None, status: int, logged: int
) -> None:
    """A top-level GET from another site carries the Lax session cookie: it downloaded the staff
    export and wrote an audit line in the staff member's name."""
    people = make_people(settings)
    ids = make_round(settings)
    token = tokens.issue_session_token(settings, user_id=people.moderator, staff=True)
    client.cookies.set(SESSION_COOKIE, token.encoded)
    headers = {"Sec-Fetch-Site": site} if site else {}
    url = f"/api/v1/rounds/{ids.round_id}/proposals/export?format=csv"
    response = client.get(url, headers=headers)
    assert response.status_code == status
    assert count_rows(settings, "audit_log") == logged


def test_a_logged_download_with_a_bearer_token_needs_no_browser_header(
    client: TestClient[Litestar], settings: Settings
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    url = f"/api/v1/rounds/{ids.round_id}/proposals/export?format=json"
    response = client.get(url, headers=people.headers(settings, "moderator"))
    assert response.status_code == 200
    assert count_rows(settings, "audit_log") == 1
