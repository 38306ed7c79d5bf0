"""Request limits (``web/limits.py``) and the id range of query parameters (``web/middleware.py``).

Each test here answered differently before the limits: a big form was parsed by the CSRF check (403
after half a second of the event loop), deep JSON and NUL bytes were 500s.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from burgerbegroting.web import limits
from tests.accounts.factories import bearer, count_rows, csrf_token, make_user
from tests.proposals.factories import make_people, make_round, valid_body

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def _many_fields(count: int) -> bytes:
    return b"&".join([b"a=b"] * count)


def test_form_with_too_many_fields_is_refused_before_parsing(client: TestClient[Litestar]) -> None:
    body = _many_fields(limits.MAX_FORM_FIELDS + 1)
    assert len(body) < limits.MAX_FORM_BYTES
    response = client.post("/inloggen", content=body, headers=FORM)
    # Before: the CSRF check parsed every field, then answered 403.
    assert response.status_code == 413
    assert "te groot" in response.text


def test_form_over_the_size_limit_is_refused(client: TestClient[Litestar]) -> None:
    body = b"email=" + b"a" * limits.MAX_FORM_BYTES
    response = client.post("/registreren", content=body, headers=FORM)
    assert response.status_code == 413


def test_one_field_over_the_field_limit_is_refused_before_parsing(
    client: TestClient[Litestar],
) -> None:
    """A single field longer than ``MAX_FIELD_BYTES`` in a form under the body limit: 413 before
    the CSRF check parses it (which would answer 403, as the control one byte shorter shows)."""
    name = b"email="
    longest = name + b"a" * (limits.MAX_FIELD_BYTES - len(name))
    assert len(longest) == limits.MAX_FIELD_BYTES
    assert client.post("/inloggen", content=longest, headers=FORM).status_code == 403
    response = client.post("/inloggen", content=longest + b"a", headers=FORM)
    assert len(longest) + 1 < limits.MAX_FORM_BYTES
    assert response.status_code == 413
    assert "te groot" in response.text


def test_multipart_form_with_too_many_parts_is_refused_before_parsing(
    client: TestClient[Litestar],
) -> None:
    """The field count holds for multipart forms too (Litestar's CSRF check parses them as well)."""

    def multipart(parts: int) -> bytes:
        part = b'--grens\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n'
        return part * parts + b"--grens--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=grens"}
    # The control: as many parts as allowed reach the CSRF check (403 without a token).
    allowed = client.post("/inloggen", content=multipart(limits.MAX_FORM_FIELDS), headers=headers)
    assert allowed.status_code == 403
    response = client.post(
        "/inloggen", content=multipart(limits.MAX_FORM_FIELDS + 1), headers=headers
    )
    assert response.status_code == 413
    assert "te groot" in response.text


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    """``Content-Length`` is judged before the body is read: a client announcing a gigabyte is not
    read up to the limit first (the streamed count alone would read 1 MiB before refusing)."""
    reached: list[str] = []

    async def app(scope: object, receive: object, send: object) -> None:
        reached.append("app")

    async def receive() -> dict[str, object]:
        reached.append("receive")
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: object) -> None:
        raise AssertionError("nothing is sent by the middleware itself")

    middleware = limits.RequestLimitsMiddleware(app)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/auth/login",
        "raw_path": b"/api/v1/auth/login",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000000000")],
    }
    with pytest.raises(limits.RequestRefused) as refused:
        await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert refused.value.status_code == 413
    assert reached == []
    # The control: the same request with a true length is read and passed on.
    scope["headers"] = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert reached == ["receive", "app"]


def test_streamed_body_without_content_length_is_counted(client: TestClient[Litestar]) -> None:
    def chunks() -> object:
        for _ in range(40):
            yield b"x" * 32_768

    response = client.post(
        "/api/v1/auth/login",
        content=chunks(),  # type: ignore[arg-type]
        headers=JSON,
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


def test_health_stays_fast_while_field_floods_arrive(client: TestClient[Litestar]) -> None:
    """Four senders post forms of ~400 KB with 130,000 fields each; /health must still answer.

    The test client runs every request on one event loop, like one worker: before the limits each
    of these posts held that loop for about half a second (the CSRF check parsed the form).
    """
    body = _many_fields(130_000)
    assert len(body) < limits.MAX_FORM_BYTES
    stop = time.monotonic() + 4.0
    statuses: list[int] = []

    def flood() -> None:
        while time.monotonic() < stop:
            statuses.append(client.post("/inloggen", content=body, headers=FORM).status_code)

    senders = [threading.Thread(target=flood) for _ in range(4)]
    for sender in senders:
        sender.start()
    time.sleep(0.5)
    slowest = 0.0
    try:
        for _ in range(10):
            started = time.monotonic()
            assert client.get("/health").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.1)
    finally:
        for sender in senders:
            sender.join()
    # Generous for a loaded shared machine; before the limits it took several seconds.
    assert slowest < 1.5, f"/health took {slowest:.2f} s while forms were flooding in"
    assert statuses
    assert set(statuses) == {413}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/auth/login", "POST"),
        ("/api/v1/rounds", "POST"),
        ("/api/v1/rounds/1/ballot", "PUT"),
        ("/api/v1/rounds/1", "PATCH"),
    ],
)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", ""]
)
def test_api_bodies_that_are_not_json_are_a_415_before_parsing(
    client: TestClient[Litestar], path: str, method: str, content_type: str
) -> None:
    # A form body used to reach the handler's typed JSON body and get a 400 (or, with a form
    # content type, be parsed as a form first); the API takes JSON only.
    response = client.request(
        method, path, content=b'{"a": 1}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    problem = response.json()
    assert problem["status"] == 415
    assert problem["detail"] == limits.NOT_JSON


def test_json_nested_ten_thousand_deep_is_a_400(client: TestClient[Litestar]) -> None:
    body = "[" * 10_000 + "]" * 10_000
    response = client.post("/api/v1/auth/login", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["detail"] == "De JSON-invoer is te diep genest."


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert limits.json_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == 1
    assert limits.json_depth(b'{"a": "\\"[[[[", "b": [[1]]}') == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"email": "a\\u0000@example.nl", "password": "x"}', "email"),
        (b'{"email": "a@example.nl", "password": "x\\u0000"}', "password"),
        (b'{"reason": {"nested": ["ok", "x\\u0000"]}}', "reason.nested.1"),
    ],
)
def test_nul_in_a_json_string_is_a_422_naming_the_field(
    client: TestClient[Litestar], body: bytes, field: str
) -> None:
    response = client.post("/api/v1/auth/login", content=body, headers=JSON)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a\xff@example.nl", "password": "x"}',
        b'{"email": "a\x00@example.nl", "password": "x"}',
    ],
)
def test_nul_or_invalid_utf8_in_json_is_a_400(client: TestClient[Litestar], body: bytes) -> None:
    response = client.post("/api/v1/auth/login", content=body, headers=JSON)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_escaped_backslash_before_u0000_is_not_a_nul(client: TestClient[Litestar]) -> None:
    # "\\u0000" in JSON is a backslash followed by the text u0000: allowed (a wrong password: 401).
    body = b'{"email": "a@example.nl", "password": "\\\\u0000-lang-genoeg"}'
    assert client.post("/api/v1/auth/login", content=body, headers=JSON).status_code == 401


@pytest.mark.parametrize("value", [b"a%00b", b"%FF%FE", b"\xff"])
def test_nul_or_invalid_utf8_in_a_form_is_a_400(client: TestClient[Litestar], value: bytes) -> None:
    token = csrf_token(client).encode()
    body = b"email=" + value + b"&password=x&next_path=%2F&_csrf_token=" + token
    response = client.post("/inloggen", content=body, headers=FORM)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/static/a%00b.css",
        "/voorstellen?q=a%00b",
        "/api/v1/rounds?x=%FF",
        "/api/v1/rounds/1/proposals?q=%00",
    ],
)
def test_nul_or_invalid_utf8_in_path_or_query_is_a_400(
    client: TestClient[Litestar], path: str
) -> None:
    assert client.get(path).status_code == 400


@pytest.mark.parametrize("query", [b"q=a%00b", b"x=%FF", b"a%00=1", b"q=%C0%AF"])
def test_nul_or_invalid_utf8_in_the_query_string_is_refused_apart_from_the_path(
    query: bytes,
) -> None:
    """Uvicorn's ``raw_path`` holds the path only; the test client's holds the query string too,
    so the path check alone made the requests above look covered. The query string is checked
    on its own (the clean path and query are the control)."""

    def scope(query_string: bytes) -> Any:
        return {
            "type": "http",
            "path": "/voorstellen",
            "raw_path": b"/voorstellen",
            "query_string": query_string,
        }

    limits.check_query_and_path(scope(b"q=ab&x=%C3%A9"))
    with pytest.raises(limits.RequestRefused) as refused:
        limits.check_query_and_path(scope(query))
    assert refused.value.status_code == 400


def test_query_id_beyond_the_column_range_is_a_400(
    client: TestClient[Litestar], settings: Settings
) -> None:
    moderator = make_user(settings, "toetser@example.nl", roles={Role.MODERATOR})
    headers = bearer(settings, moderator, staff=True)
    for value in ("2147483648", "-2147483649", "+2147483648"):
        response = client.get(f"/api/v1/review/proposals?round={value}", headers=headers)
        assert response.status_code == 400, value
        assert response.json()["detail"] == "Een getal in het adres is te groot."
    # The largest id the column holds is simply not found.
    assert (
        client.get("/api/v1/review/proposals?round=2147483647", headers=headers).status_code == 200
    )


@pytest.mark.parametrize("field", ["theme_id", "district_id"])
@pytest.mark.parametrize("value", [2**31, 2**63])
def test_body_id_beyond_the_column_range_is_a_4xx_naming_the_field(
    client: TestClient[Litestar], settings: Settings, field: str, value: int
) -> None:
    """An id in a JSON body is range-checked by its type (``db.Id``) before any query: on
    PostgreSQL a value beyond the int4 column reached the driver (a 500)."""
    people = make_people(settings)
    ids = make_round(settings)
    url = f"/api/v1/rounds/{ids.round_id}/proposals"
    headers = people.headers(settings, "resident")
    response = client.post(url, json=valid_body(ids, **{field: value}), headers=headers)
    assert response.status_code in {400, 422}, response.text
    assert field in response.text
    assert count_rows(settings, "proposals") == 0
    # The control: the same body with the largest id the column holds is simply not found.
    response = client.post(url, json=valid_body(ids, **{field: 2**31 - 1}), headers=headers)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("sub", ["²", "99999999999999999999", "١٢"])
def test_token_with_a_strange_subject_is_a_401(
    client: TestClient[Litestar], settings: Settings, sub: str
) -> None:
    """Anyone can sign a token with the public development secret: ``sub`` is outside input."""
    now = datetime.now(UTC)
    payload = {
        "iss": settings.base_url,
        "aud": tokens.SESSION_AUDIENCE,
        "sub": sub,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": "j",
        "sid": "s",
        "auth_time": int(now.timestamp()),
    }
    encoded = jwt.encode(payload, tokens.session_key(settings), algorithm=tokens.ALGORITHM)
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {encoded}"})
    assert response.status_code == 401
