"""Language choice, formatting and the translation catalogue."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from burgerbegroting import i18n

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "burgerbegroting" / "locale"
PO = LOCALE / "en" / "LC_MESSAGES" / "messages.po"
MO = LOCALE / "en" / "LC_MESSAGES" / "messages.mo"
NBSP = "\u00a0"


def _read_po() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle, locale="en")


# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "lang", "expected"),
    [
        (123450, "nl", f"€{NBSP}1.234,50"),
        (123450, "en", "€1,234.50"),
        (0, "nl", f"€{NBSP}0,00"),
        (5, "nl", f"€{NBSP}0,05"),
        (45_000_000, "nl", f"€{NBSP}450.000,00"),
        (-250, "en", "-€2.50"),
        (10**15 + 1, "en", "€10,000,000,000,000.01"),
    ],
)
def test_format_money_per_language(cents: int, lang: str, expected: str) -> None:
    assert i18n.format_money(cents, lang) == expected


@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_format_money_is_exact_for_any_number_of_cents(cents: int) -> None:
    # Strip the formatting and get exactly the cents back: no float rounding anywhere.
    text = i18n.format_money(cents, "en")
    digits = text.replace("€", "").replace(",", "").replace(".", "").replace("-", "")
    assert int(digits) == abs(cents)
    assert text.startswith("-") == (cents < 0)


@pytest.mark.parametrize("bad", [12.5, "100", True])
def test_format_money_refuses_non_integer_cents(bad: object) -> None:
    with pytest.raises(TypeError):
        i18n.format_money(bad, "nl")  # type: ignore[arg-type]


def test_format_money_follows_the_current_language() -> None:
    with i18n.language("en"):
        assert i18n.format_money(100) == "€1.00"
    assert i18n.format_money(100) == f"€{NBSP}1,00"


# --- dates and times ---------------------------------------------------------------------------


def test_datetimes_are_shown_in_amsterdam_time_across_daylight_saving() -> None:
    summer = datetime(2027, 7, 1, 10, 0, tzinfo=UTC)  # CEST, UTC+2
    winter = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)  # CET, UTC+1
    assert i18n.format_datetime(summer, lang="nl") == "1 jul 2027, 12:00"
    assert i18n.format_datetime(winter, lang="nl") == "15 jan 2027, 11:00"
    assert i18n.format_datetime(winter, "long", lang="nl") == "15 januari 2027 om 11:00"
    assert i18n.format_datetime(winter, "long", lang="en") == "15 January 2027 at 11:00"


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert i18n.format_datetime(datetime(2027, 1, 15, 23, 30), lang="nl") == "16 jan 2027, 00:30"  # noqa: DTZ001


def test_format_date_uses_the_amsterdam_calendar_day() -> None:
    late_utc = datetime(2027, 3, 1, 23, 30, tzinfo=UTC)  # already 2 March in Amsterdam
    assert i18n.format_date(late_utc, lang="nl") == "2 maart 2027"
    assert i18n.format_date(date(2027, 3, 1), lang="en") == "1 March 2027"
    assert i18n.format_date(None) == ""


# --- choosing the language ---------------------------------------------------------------------


def test_the_cookie_chooses_the_language_and_dutch_is_the_default() -> None:
    assert i18n.choose_language("nl") == "nl"
    assert i18n.choose_language("en") == "en"
    assert i18n.choose_language("en-GB") == "en"
    assert i18n.choose_language(None) == "nl"
    assert i18n.choose_language("klingon") == "nl"


@given(st.text(max_size=200))
def test_any_cookie_value_gives_a_supported_language(value: str) -> None:
    assert i18n.choose_language(value) in i18n.LANGUAGES


def test_gettext_follows_the_current_language() -> None:
    assert i18n.gettext("Uitloggen") == "Uitloggen"
    with i18n.language("en"):
        assert i18n.gettext("Uitloggen") == "Log out"
        assert i18n.gettext("Foutcode %(status)s", status=404) == "Error code 404"
    assert i18n.get_language() == "nl"


# --- the catalogue -----------------------------------------------------------------------------


def _entries(messages: Any) -> dict[object, object]:
    # Plural entries have tuple/list ids and strings; make them comparable.
    def norm(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {norm(m.id): norm(m.string) for m in messages if m.id}


def test_compiled_catalogue_is_up_to_date_with_the_po_file() -> None:
    catalog = _read_po()
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    fresh = _entries(read_mo(buffer))
    with MO.open("rb") as handle:
        shipped = _entries(read_mo(handle))
    assert shipped == fresh, "run: .venv/bin/pybabel compile -d src/burgerbegroting/locale"


def test_catalogue_has_no_fuzzy_or_broken_entries() -> None:
    catalog = _read_po()
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy
    # Babel's checkers: the same %(name)s placeholders in the translation as in the source.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems


def _extracted_ids() -> set[str]:
    method_map = [
        ("src/burgerbegroting/**.py", "python"),
        ("frontend/templates/**.html", "jinja2"),
    ]
    options = {"frontend/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}
    ids: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_message_in_templates_and_code_has_an_english_translation() -> None:
    catalog = _read_po()
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}
    missing = sorted(_extracted_ids() - translated)
    assert not missing, (
        f"{len(missing)} messages without English translation, e.g. {missing[:5]}; run "
        "pybabel extract/update (see babel.cfg) and translate them"
    )


def test_english_translations_are_actually_english() -> None:
    # A copied Dutch source text would pass the "translated" check; catch the obvious cases.
    catalog = _read_po()
    identical = [
        m.id
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string == m.id and len(m.id.split()) > 2
    ]
    assert not identical
