"""The round form's schedule: native ``datetime-local`` inputs in Amsterdam time, read exactly by
the server (which still accepts typed text from browsers without the widget), errors in Dutch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.rounds.forms import (
    NonexistentLocalTime,
    format_local_time,
    parse_local_time,
)
from burgerbegroting.settings import Settings
from tests.rounds.factories import db_counts
from tests.rounds.test_pages import NEW_ROUND, _form, admin

__all__ = ["admin"]  # the fixture, shared with test_pages.py

Client = TestClient[Litestar]
SCHEDULE = (
    "submission_starts_at",
    "review_starts_at",
    "voting_starts_at",
    "closed_starts_at",
    "published_starts_at",
)


@pytest.mark.parametrize(
    "text",
    [
        "2028-02-01T09:00",
        "2028-02-01T09:00:00",
        "2028-02-01T09:00:00.000",
        "2028-02-01 09:00",
        "1-2-2028 09:00",
        "01-02-2028 09:00",
    ],
)
def test_what_browsers_send_and_what_people_type_is_read_in_amsterdam_time(text: str) -> None:
    parsed = parse_local_time(text)
    assert parsed is not None
    assert parsed.astimezone(UTC) == datetime(2028, 2, 1, 8, 0, tzinfo=UTC)  # CET = UTC+1


def test_summer_time_is_utc_plus_two_and_values_round_trip() -> None:
    parsed = parse_local_time("2028-07-01T09:30")
    assert parsed is not None
    assert parsed.astimezone(UTC) == datetime(2028, 7, 1, 7, 30, tzinfo=UTC)
    assert format_local_time(parsed) == "2028-07-01T09:30"
    assert format_local_time(datetime(2028, 2, 1, 8, 0, tzinfo=UTC)) == "2028-02-01T09:00"


def test_the_hour_skipped_in_spring_is_refused_and_octobers_double_hour_is_summer_time() -> None:
    with pytest.raises(NonexistentLocalTime):
        parse_local_time("2028-03-26T02:30")  # clocks go from 02:00 to 03:00
    doubled = parse_local_time("2028-10-29T02:30")  # happens twice: the first is CEST
    assert doubled is not None
    assert doubled.astimezone(UTC) == datetime(2028, 10, 29, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["morgen", "2028-02-30T09:00", "2028-02-01", "09:00", "2028-2-1T9:00"]
)
def test_other_text_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the form turns any ValueError into its message
        parse_local_time(text)


def test_the_form_has_native_inputs_with_the_zone_stated(
    client: Client, admin: dict[str, str]
) -> None:
    page = client.get("/beheer/rondes/nieuw", headers=admin)
    assert page.status_code == 200
    for name in SCHEDULE:
        (tag,) = re.findall(rf'<input[^>]*\bid="{name}"[^>]*>', page.text)
        assert 'type="datetime-local"' in tag
        assert f'aria-describedby="{name}-beschrijving"' in tag
    assert page.text.count("Nederlandse tijd (Europe/Amsterdam)") >= len(SCHEDULE)


def test_posting_the_inputs_values_saves_utc_and_shows_them_back(
    client: Client, admin: dict[str, str]
) -> None:
    values = {
        **NEW_ROUND,
        "submission_starts_at": "2028-02-01T09:00:00",  # with seconds, as some browsers send
        "closed_starts_at": "2028-04-15T17:00",  # summer time
    }
    response = client.post(
        "/beheer/rondes/nieuw", data=_form(client, **values), headers=admin, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    (created,) = client.get("/api/v1/rounds", headers=admin).json()
    assert created["submission_starts_at"] == "2028-02-01T08:00:00Z"
    assert created["closed_starts_at"] == "2028-04-15T15:00:00Z"
    edit = client.get(f"/beheer/rondes/{created['id']}/bewerken", headers=admin).text
    assert 'value="2028-02-01T09:00"' in edit
    assert 'value="2028-04-15T17:00"' in edit


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("morgen", "Vul een datum en tijd in, bijvoorbeeld 01-03-2027 09:00."),
        ("2028-03-26T02:30", "Dit tijdstip bestaat niet in Nederlandse tijd"),
    ],
)
def test_a_bad_time_is_a_dutch_field_error_and_nothing_is_written(
    client: Client, settings: Settings, admin: dict[str, str], value: str, message: str
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw",
        data=_form(client, **{**NEW_ROUND, "voting_starts_at": value}),
        headers=admin,
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert 'href="#voting_starts_at"' in response.text
    assert message in response.text
    assert 'id="voting_starts_at-fout"' in response.text
    assert db_counts(settings, "rounds")["rounds"] == 0
