"""The app-wide error handlers: msgspec's English decoding messages become Dutch (or English
through the catalogue), each under the key Litestar gives."""

from __future__ import annotations

import enum
import logging
from datetime import date, datetime
from typing import Annotated

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting import i18n
from burgerbegroting.accounts import service
from burgerbegroting.web.errors import validation_message


class Colour(enum.Enum):
    RED = "rood"


class Sample(msgspec.Struct, forbid_unknown_fields=True):
    needed: int
    count: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    share: Annotated[float, msgspec.Meta(gt=0.5, lt=2)] = 1.0
    name: Annotated[str, msgspec.Meta(min_length=2, max_length=3)] = "ab"
    ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=1)] = msgspec.field(
        default_factory=lambda: [1]
    )
    colour: Colour = Colour.RED
    code: Annotated[str, msgspec.Meta(pattern="^[A-Z]+$")] = "A"
    starts: datetime | None = None
    day: date | None = None
    maybe: int | None = None


def _message(body: str) -> str:
    """msgspec's own message for decoding ``body``, cut as Litestar cuts it (before " - at")."""
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(body, type=Sample)
    return str(caught.value).split(" - ", maxsplit=1)[0]


@pytest.mark.parametrize(
    ("body", "dutch"),
    [
        ('{"needed": "x"}', "Verkeerd soort waarde: hier hoort een geheel getal."),
        ('{"needed": 1, "maybe": "x"}', "Verkeerd soort waarde: hier hoort een geheel getal."),
        ('{"needed": true}', "Verkeerd soort waarde: hier hoort een geheel getal."),
        ('{"needed": 1, "ids": "abc"}', "Verkeerd soort waarde: hier hoort een lijst."),
        ("[1]", "Verkeerd soort waarde: hier hoort een object."),
        ('{"needed": 1, "count": 0}', "Moet minstens 1 zijn."),
        ('{"needed": 1, "count": 11}', "Mag hoogstens 10 zijn."),
        ('{"needed": 1, "share": 0.5}', "Moet groter zijn dan 0.5."),
        ('{"needed": 1, "share": 2}', "Moet kleiner zijn dan 2.0."),
        ('{"needed": 1, "name": "a"}', "Moet minstens 2 tekens lang zijn."),
        ('{"needed": 1, "name": "abcd"}', "Mag hoogstens 3 tekens lang zijn."),
        ('{"needed": 1, "ids": []}', "Moet minstens 1 element bevatten."),
        ('{"needed": 1, "ids": [1, 2]}', "Mag hoogstens 1 element bevatten."),
        ("{}", "Dit veld ontbreekt: needed."),
        ('{"needed": 1, "extra": 1}', "Dit veld kennen wij niet: extra."),
        ('{"needed": 1, "colour": "blauw"}', "Ongeldige keuze."),
        ('{"needed": 1, "code": "abc"}', "Heeft niet de juiste vorm."),
        ('{"needed": 1, "starts": "gisteren"}', "Ongeldige datum en tijd."),
        ('{"needed": 1, "day": "gisteren"}', "Ongeldige datum."),
        ('{"needed": 1e400}', "Dit getal valt buiten het toegestane bereik."),
    ],
)
def test_each_kind_of_msgspec_error_gets_a_dutch_message(body: str, dutch: str) -> None:
    english = _message(body)
    assert validation_message(english) == dutch


def test_the_english_ui_gets_english_messages() -> None:
    with i18n.language("en"):
        assert validation_message("Expected `int` >= 0") == "Must be at least 0."
        assert validation_message("Expected `array | null`, got `str`") == (
            "Wrong kind of value: expected a list."
        )
        assert validation_message("Expected `str` of length <= 3") == (
            "Must be at most 3 characters long."
        )
        assert validation_message("something msgspec says one day") == "Invalid value."


@given(st.text(max_size=80))
def test_no_english_framework_text_gets_through(message: str) -> None:
    # Whatever the framework says, the answer is one of our sentences: at worst the generic one,
    # and the only thing copied from the input is a field name or a number.
    answer = validation_message(message)
    if not any(
        word in message for word in ("Expected", "Object", "Invalid", "Number", "regex", "encoded")
    ):
        assert answer == "Ongeldige waarde."
    assert answer.endswith(".")


def test_an_unexpected_error_is_a_dutch_500_logged_without_query_values_or_body(
    client: TestClient[Litestar],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The error log names the exception type, method and path; never the query string (one-time
    tokens) or the body (passwords, codes, ballots)."""

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("kapot")

    monkeypatch.setattr(service, "confirm_email", broken)
    with caplog.at_level(logging.ERROR, logger="burgerbegroting.web"):
        response = client.post(
            "/api/v1/auth/confirm?token=GEHEIM-IN-ADRES", json={"token": "GEHEIM-IN-BODY"}
        )
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "GEHEIM" not in response.text
    (record,) = [r for r in caplog.records if r.name == "burgerbegroting.web"]
    assert record.getMessage() == "unhandled RuntimeError on POST /api/v1/auth/confirm"
    assert "GEHEIM" not in caplog.text
