"""Every route × every role answers as the expected matrix says.

The matrix is the union of ``EXPECTED`` in every ``tests/<feature>/route_matrix.py`` (format in
``tests/accounts/route_matrix.py``) plus the framework routes below. A route of the app that no
module lists fails the test, so a new endpoint cannot ship without someone deciding who may use it.

Requests go to objects that exist (``tests/world.py``: a round in every phase, resident A's
proposals, pending invitations, co-authors, a code batch), chosen per route by ``real_ids`` so the
route has something to act on. How a request is judged: 401 means the guard refused an anonymous
visitor (a page fetched with GET answers that with a 303 to the login page, which counts as the
same refusal), 403 that it refused the role, and 404 that the request did not get past a check
either (the object exists); any other status (200, 303, 400 or 422 for the empty body we send,
409…) means it got past. Requests carry a bearer token for a user holding exactly the role under
test (the matrix's resident is A, the author of what it probes), and the CSRF cookie and header so
page forms reach their guards as well. With made-up ids (the old way) every allowed role's 404
counted as "past the guard": 153 such answers per backend.

Ownership (another resident's draft, invitation, support, data; another round's booth) is
``test_ownership_is_checked_on_real_objects``.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service, tokens
from burgerbegroting.accounts.roles import Role, is_staff
from burgerbegroting.db import create_engine
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer
from tests.proposals.factories import scalar
from tests.world import World, build_world

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


def real_ids(world: World, method: str, path: str) -> dict[str, str]:
    """Path parameters naming objects that exist, chosen so that the route has something to act
    on: a 404 then means the request did *not* get past a check, never "nothing there"."""
    ids = {
        "round_id": world.submission_round,
        "proposal_id": world.submitted_of_a,  # resident A's, public, in a round taking proposals
        "user_id": world.dora,
        "invitation_id": world.invitation_for_carol,
        "batch_id": world.voting_batch,
    }
    voting = (
        "/ballot",
        "/codes",
        "/paper-ballots",
        "/receipts/",
        "/log/",
        "/stemmen",
        "/stemcodes",
    )
    if any(part in path for part in voting) or "/papieren-stem" in path:
        ids["round_id"] = world.voting.round_id
    if any(part in path for part in ("/results", "/uitslag", "/raadsinformatiebrief", "/export")):
        ids["round_id"] = world.published.round_id
    # Co-authors of A's submitted proposal: B for the API, Carol for the page (the API's DELETE
    # runs first and really removes B).
    if "/coauthors/" in path:
        ids["user_id"] = world.people.other
    if "/mede-indieners/{user_id" in path:
        ids["user_id"] = world.carol
    # Pending invitations on A's draft: Carol's for the API, Erik's for the page.
    if "/invitations/{invitation_id" in path:
        ids["proposal_id"] = world.draft_of_a
    if "/uitnodigingen/{invitation_id" in path:
        ids["proposal_id"] = world.draft_of_a
        ids["invitation_id"] = world.invitation_for_erik
    if re.search(r"\{proposal_id:int\}/(withdraw|intrekken)$", path):
        ids["proposal_id"] = world.to_withdraw_of_a  # withdrawing is for good: its own proposal
    if "/merge" in path or "/samenvoegen" in path:
        ids["proposal_id"] = world.in_review_of_a
    if "/fotos/{photo_id" in path:
        # Photos of A's submitted proposal: one to show, another for the route that removes one.
        ids["photo_id"] = (
            world.photo_to_remove if path.endswith("/verwijderen") else world.photo_of_a
        )
    values = {name: str(value) for name, value in ids.items()}
    values["receipt"] = "0" * 20
    values["file_path"] = "favicon.ico"
    return values


def fill_path(path: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PARAM.sub(fill, path)


# Routes whose guard lets every logged-in user through while the service lets only the people
# concerned act (the proposal's authors, the co-author themself): a staff account gets the
# service's 403. Ownership itself is tested in test_ownership_is_checked_on_real_objects.
SERVICE_REFUSES_OTHERS = {
    ("DELETE", "/api/v1/proposals/{proposal_id:int}/coauthors/{user_id:int}"),
    ("POST", "/voorstellen/{proposal_id:int}/mede-indieners/{user_id:int}/verwijderen"),
}


def _role_users(world: World) -> dict[str, int]:
    return {
        "resident": world.people.resident,
        "moderator": world.people.moderator,
        "admin": world.people.admin,
        "council": world.council,
        "auditor": world.auditor,
    }


def test_every_route_answers_every_role_as_expected(
    client: TestClient[Litestar], settings: Settings
) -> None:
    world = build_world(settings, client)
    user_ids = _role_users(world)
    client.get("/inloggen")  # sets the CSRF cookie
    csrf = client.cookies.get("csrftoken", "")
    expected = collect_expected()
    wrong: list[str] = []
    checked = 0
    for method, path in app_routes(client.app):
        access = expected.get((method, path))
        if access is None:
            continue  # reported by test_every_route_is_in_the_matrix
        url = fill_path(path, real_ids(world, method, path))
        for role in ROLES:
            headers: dict[str, str] = {"x-csrftoken": csrf or ""}
            if role is not None:
                headers["Authorization"] = bearer_for(settings, role, user_ids[role])
            body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
            response = client.request(
                method, url, headers=headers, json=body, follow_redirects=False
            )
            checked += 1
            status = judged_status(response.status_code, response.headers.get("location", ""))
            got_through = status not in (401, 403, 404)
            if (
                allowed(access, role)
                and status == 403
                and role not in {None, "resident"}
                and (method, path) in SERVICE_REFUSES_OTHERS
            ):
                continue
            if got_through != allowed(access, role):
                wrong.append(
                    f"{method} {url} as {role or 'anonymous'}: {response.status_code}"
                    f" (expected {'allowed' if allowed(access, role) else 'refused'})"
                )
            elif not got_through:
                want = 401 if role is None else 403
                if status != want:
                    wrong.append(
                        f"{method} {url} as {role or 'anonymous'}: "
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
    # 2**31 fits no INTEGER id on PostgreSQL: the driver raises instead of finding nothing. The
    # body below never reaches a handler (every one of these paths is refused for its path id
    # first), so body ids are held to the range elsewhere:
    # tests/web/test_limits.py::test_body_id_beyond_the_column_range_is_a_4xx_naming_the_field
    # (dropping the bound of db.Id went unnoticed here).
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


def _count(settings: Settings, sql: str, **params: object) -> int:
    return int(scalar(settings, sql, **params))


def test_ownership_is_checked_on_real_objects(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Resident B against resident A's things, and round 1's voter against round 2's booth.

    Every case is a request the guard lets through (B is a resident, the voter has a session), so
    only the check of *whose* object it is can refuse it. Each case also checks that nothing
    changed, and ends with a control: the owner's identical request is accepted, so the refusal is
    not a validation error in disguise. All cases are collected and reported together.
    """
    world = build_world(settings, client)
    a = world.people.headers(settings, "resident")
    b = world.people.headers(settings, "other")
    carol = bearer(settings, world.carol)
    draft = world.draft_of_a
    failures: list[str] = []

    def expect(label: str, response: Any, *statuses: int) -> None:
        if response.status_code not in statuses:
            failures.append(f"{label}: {response.status_code} (expected {statuses})")

    # B cannot accept the co-author invitation A sent to Carol: not by its id, not with its token.
    # (First: once B had withdrawn A's draft, a check that failed would show as a 409 instead.)
    invitation = world.invitation_for_carol
    expect(
        "B accepts Carol's invitation by id",
        client.post("/api/v1/invitations/accept", json={"invitation_id": invitation}, headers=b),
        403,
        404,
    )
    expect(
        "B accepts Carol's invitation with its token",
        client.post(
            "/api/v1/invitations/accept", json={"token": world.invitation_token}, headers=b
        ),
        403,
        404,
    )
    credited = _count(
        settings,
        "SELECT count(*) FROM proposal_authors WHERE proposal_id = :p AND user_id = :u",
        p=draft,
        u=world.people.other,
    )
    if credited:
        failures.append("B became a co-author of A's draft")

    # B cannot read A's draft, through the API or the page.
    expect("B reads A's draft (API)", client.get(f"/api/v1/proposals/{draft}", headers=b), 403, 404)
    expect("B reads A's draft (page)", client.get(f"/voorstellen/{draft}", headers=b), 403, 404)
    expect(
        "B reads A's draft's edit form",
        client.get(f"/voorstellen/{draft}/bewerken", headers=b),
        403,
        404,
    )
    expect("A reads her draft", client.get(f"/api/v1/proposals/{draft}", headers=a), 200)

    # B cannot edit it.
    edit = {"title": "Overgenomen door Bram"}
    expect(
        "B edits A's draft",
        client.patch(f"/api/v1/proposals/{draft}", json=edit, headers=b),
        403,
        404,
    )
    title = scalar(settings, "SELECT title FROM proposals WHERE id = :p", p=draft)
    if title != "Anna's concept":
        failures.append(f"B's edit changed the title to {title!r}")

    # B cannot withdraw (delete) it.
    expect(
        "B withdraws A's draft",
        client.post(f"/api/v1/proposals/{draft}/withdraw", json={}, headers=b),
        403,
        404,
    )
    status = scalar(settings, "SELECT status FROM proposals WHERE id = :p", p=draft)
    if status != "draft":
        failures.append(f"B's withdrawal set A's draft to {status!r}")

    # B cannot withdraw A's support (for B's own proposal): B's withdrawal touches only B's own.
    supports = "SELECT count(*) FROM proposal_supports WHERE proposal_id = :p AND user_id = :u"
    ids = {"p": world.submitted_of_b, "u": world.people.resident}
    expect(
        "B withdraws support (API)",
        client.delete(f"/api/v1/proposals/{world.submitted_of_b}/supports", headers=b),
        200,
        409,
    )
    if _count(settings, supports, **ids) != 1:
        failures.append("B's withdrawal removed A's support")

    # B's account data export holds nothing of A's.
    export = client.get("/mijn-account/gegevens.json", headers=b)
    expect("B downloads his data", export, 200)
    for secret in ("anna@example.nl", "Anna's concept", "Speeltuin Oost", "Mantelzorgpauze"):
        if secret in export.text:
            failures.append(f"B's data export contains A's {secret!r}")
    if "bram@example.nl" not in export.text:
        failures.append("B's data export is not B's")

    # Round 1's voter session cannot reach round 2's booth.
    voter = client.post("/api/v1/auth/code", json={"code": world.codes[0]})
    expect("redeem a round-1 code", voter, 200)
    session = {"Authorization": f"Bearer {voter.json().get('token', '')}"}
    other = world.voting_other
    ballot = {"projects": [other.projects[1]]}
    expect(
        "round-1 voter opens round 2's booth",
        client.get(f"/api/v1/rounds/{other.round_id}/ballot", headers=session),
        401,
        403,
        404,
    )
    expect(
        "round-1 voter casts in round 2",
        client.put(f"/api/v1/rounds/{other.round_id}/ballot", json=ballot, headers=session),
        401,
        403,
        404,
    )
    client.cookies.clear()
    client.cookies.set("bb_voter", voter.json().get("token", ""))  # the booth page's session
    expect(
        "round-1 voter opens round 2's booth page",
        client.get(f"/stemmen/{other.round_id}"),
        401,
        403,
    )
    client.cookies.clear()
    cast = _count(settings, "SELECT count(*) FROM ballots WHERE round_id = :r", r=other.round_id)
    if cast:
        failures.append(f"{cast} ballots stored in round 2")

    # Controls: the owners' identical requests are accepted.
    expect(
        "control: round-1 voter casts in round 1",
        client.put(
            f"/api/v1/rounds/{world.voting.round_id}/ballot",
            json={"projects": [world.voting.projects[1]]},
            headers=session,
        ),
        200,
    )
    expect(
        "control: A edits her draft",
        client.patch(f"/api/v1/proposals/{draft}", json=edit, headers=a),
        200,
    )
    expect(
        "control: Carol accepts her invitation",
        client.post(
            "/api/v1/invitations/accept", json={"invitation_id": invitation}, headers=carol
        ),
        200,
    )
    expect(
        "control: A withdraws her support",
        client.delete(f"/api/v1/proposals/{world.submitted_of_b}/supports", headers=a),
        200,
    )
    if _count(settings, supports, **ids) != 0:
        failures.append("control: A's withdrawal did not remove her support")
    expect(
        "control: A withdraws her draft",
        client.post(f"/api/v1/proposals/{draft}/withdraw", json={}, headers=a),
        200,
    )
    assert failures == [], "\n".join(failures)
