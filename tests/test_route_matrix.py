"""Every route × every role answers as the expected matrix says.

The matrix is the union of ``EXPECTED`` in every ``tests/<feature>/route_matrix.py`` (format in
``tests/accounts/route_matrix.py``) plus the framework routes below. A route of the app that no
module lists fails the test, so a new endpoint cannot ship without someone deciding who may use it.

How a request is judged: 401 means the guard refused an anonymous visitor (a page fetched with GET
answers that with a 303 to the login page, which counts as the same refusal), 403 that it refused the
role; any other status (200, 400 for the empty body we send, 404 for a placeholder id, 409, 422…)
means the request got past the guards. Requests carry a bearer token for a user holding exactly the
role under test, and the CSRF cookie and header so page forms reach their guards as well.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service, tokens
from burgerbegroting.accounts.roles import Role, is_staff
from burgerbegroting.db import create_engine
from burgerbegroting.settings import Settings

ROLES: tuple[str | None, ...] = (None, *(role.value for role in Role))
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
Access = str | set[str] | frozenset[str]

# Routes of the framework and the page shell's static assets: public by design.
FRAMEWORK_EXPECTED: dict[tuple[str, str], Access] = {
    ("GET", "/health"): "anyone",
    ("GET", "/static/{file_path:path}"): "anyone",
}
FRAMEWORK_PREFIXES = ("/schema",)  # OpenAPI document and viewers


def collect_expected() -> dict[tuple[str, str], Access]:
    """The union of every feature's ``EXPECTED``; two modules claiming one route is an error."""
    expected: dict[tuple[str, str], Access] = dict(FRAMEWORK_EXPECTED)
    tests_dir = Path(__file__).parent
    for info in pkgutil.iter_modules([str(tests_dir)]):
        if not info.ispkg or not (tests_dir / info.name / "route_matrix.py").exists():
            continue
        module = importlib.import_module(f"tests.{info.name}.route_matrix")
        for key, access in module.EXPECTED.items():
            assert key not in expected, f"{key} is listed twice (tests/{info.name})"
            expected[key] = access
    return expected


def app_routes(app: Litestar) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(FRAMEWORK_PREFIXES):
            continue
        found.extend((method, route.path) for method in route.methods - SKIPPED_METHODS)
    return sorted(found)


_PARAM = re.compile(r"{(\w+):(\w+)}")


def concrete_path(path: str) -> str:
    """Fill path parameters with values that exist nowhere: a 404 still proves the guard passed."""

    def fill(match: re.Match[str]) -> str:
        kind = match.group(2)
        if kind == "int":
            return "987654321"
        if kind == "path":
            return "bestaat-niet.txt"
        if kind == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        return "bestaat-niet"

    return _PARAM.sub(fill, path)


def allowed(access: Access, role: str | None) -> bool:
    if access == "anyone":
        return True
    if role is None:
        return False
    if access == "login":
        return True
    assert isinstance(access, set | frozenset), f"unknown access {access!r}"
    return role in access


def judged_status(status: int, location: str) -> int:
    """A redirect to the login page is how pages refuse an anonymous visitor: judged as a 401."""
    return 401 if status == 303 and location.startswith("/inloggen?next=") else status


async def _seed_users(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings.database_url)
    ids: dict[str, int] = {}
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for role in Role:
                user = await service.create_user(
                    session,
                    email=f"matrix-{role.value}@example.nl",
                    password="matrix-wachtwoord-1",
                    display_name=f"Matrix {role.value}",
                    roles={role},
                    confirmed=True,
                )
                ids[role.value] = user.id
            await session.commit()
    finally:
        await engine.dispose()
    return ids


def bearer_for(settings: Settings, role: str, user_id: int) -> str:
    """A fresh token per request: routes such as logout revoke the one they are given."""
    token = tokens.issue_session_token(settings, user_id=user_id, staff=is_staff({Role(role)}))
    return f"Bearer {token.encoded}"


def test_every_route_is_in_the_matrix(app: Litestar) -> None:
    expected = collect_expected()
    missing = [key for key in app_routes(app) if key not in expected]
    assert missing == [], f"routes without an expected access rule: {missing}"


def test_matrix_lists_no_route_the_app_lacks(app: Litestar) -> None:
    present = set(app_routes(app)) | set(FRAMEWORK_EXPECTED)
    stale = [key for key in collect_expected() if key not in present]
    assert stale == [], f"expected access rules for routes that do not exist: {stale}"


def test_every_route_answers_every_role_as_expected(
    client: TestClient[Litestar], settings: Settings
) -> None:
    user_ids = asyncio.run(_seed_users(settings))
    client.get("/inloggen")  # sets the CSRF cookie
    csrf = client.cookies.get("csrftoken", "")
    expected = collect_expected()
    wrong: list[str] = []
    checked = 0
    for method, path in app_routes(client.app):
        access = expected.get((method, path))
        if access is None:
            continue  # reported by test_every_route_is_in_the_matrix
        for role in ROLES:
            headers: dict[str, str] = {"x-csrftoken": csrf or ""}
            if role is not None:
                headers["Authorization"] = bearer_for(settings, role, user_ids[role])
            body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
            response = client.request(
                method, concrete_path(path), headers=headers, json=body, follow_redirects=False
            )
            checked += 1
            status = judged_status(response.status_code, response.headers.get("location", ""))
            got_through = status not in (401, 403)
            if got_through != allowed(access, role):
                wrong.append(
                    f"{method} {path} as {role or 'anonymous'}: {response.status_code}"
                    f" (expected {'allowed' if allowed(access, role) else 'refused'})"
                )
            elif not got_through:
                want = 401 if role is None else 403
                if status != want:
                    wrong.append(
                        f"{method} {path} as {role or 'anonymous'}: "
                        f"{response.status_code}, expected {want}"
                    )
    assert wrong == [], "\n".join(wrong)
    assert checked >= len(ROLES) * 10


@pytest.mark.parametrize(
    ("access", "role", "result"),
    [
        ("anyone", None, True),
        ("login", None, False),
        ("login", "auditor", True),
        ({"admin"}, "admin", True),
        ({"admin"}, "moderator", False),
        ({"admin"}, None, False),
    ],
)
def test_access_rules_read_as_documented(access: Access, role: str | None, result: bool) -> None:
    assert allowed(access, role) is result


def test_no_route_answers_an_id_beyond_the_database_range_with_a_5xx(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # 2**31 fits no INTEGER id on PostgreSQL: the driver raises instead of finding nothing. Body ids
    # get the same value, so schemas that take an id are held to the range as well.
    user_ids = asyncio.run(_seed_users(settings))
    client.get("/inloggen")
    csrf = client.cookies.get("csrftoken", "")
    failures: list[str] = []
    for method, path in app_routes(client.app):
        if ":int}" not in path:
            continue
        url = _PARAM.sub(lambda m: str(2**31) if m.group(2) == "int" else "x", path)
        for role in ROLES:
            headers: dict[str, str] = {"x-csrftoken": csrf or ""}
            if role is not None:
                headers["Authorization"] = bearer_for(settings, role, user_ids[role])
            body: dict[str, object] | None = (
                {"into_id": 2**31, "invitation_id": 2**31, "reason": "x"}
                if method in {"POST", "PUT", "PATCH"}
                else None
            )
            response = client.request(
                method, url, headers=headers, json=body, follow_redirects=False
            )
            if response.status_code >= 500:
                failures.append(f"{method} {url} as {role or 'anonymous'}: {response.status_code}")
    assert failures == [], "\n".join(failures)
