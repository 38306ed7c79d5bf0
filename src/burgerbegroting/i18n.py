"""Translations and locale-aware formatting.

Dutch is the source language: every user-facing string is written in Dutch and wrapped in ``_()``
(Python) or ``{% trans %}`` / ``_()`` (templates). English comes from the Babel catalogue in
``burgerbegroting/locale``. The language of a request is Dutch unless the ``taal`` cookie (set by the
language switch) asks for another: a municipality's pages are Dutch first, also in a browser whose
own language is English (as Dutch government sites do; ``Accept-Language`` is not followed).

``gettext``/``ngettext``/``_`` follow a context variable that the language middleware sets for
each request, so services and controllers can translate without passing the request around.
Times are stored in UTC and always shown in Europe/Amsterdam; money is integer cents.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

DEFAULT_LANGUAGE = "nl"
LANGUAGES: tuple[str, ...] = ("nl", "en")
"""Supported languages, source language first."""
LANGUAGE_NAMES: Mapping[str, str] = {"nl": "Nederlands", "en": "English"}
LANGUAGE_COOKIE = "taal"
TIMEZONE = ZoneInfo("Europe/Amsterdam")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"

_BABEL_LOCALES: Mapping[str, str] = {"nl": "nl_NL", "en": "en_GB"}

_current_language: ContextVar[str] = ContextVar(
    "burgerbegroting_language", default=DEFAULT_LANGUAGE
)


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalogue for ``language``, loaded once per process.

    Dutch needs no catalogue (it is the source language), so it gets ``NullTranslations``.
    """
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [language], domain=DOMAIN)


def normalise_language(value: str | None) -> str | None:
    """``"en-GB"`` → ``"en"``; ``None`` for anything we do not support."""
    if not value:
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def choose_language(cookie: str | None) -> str:
    """The language for a request: the one the ``taal`` cookie names if we have it, else Dutch."""
    return normalise_language(cookie) or DEFAULT_LANGUAGE


def get_language() -> str:
    """The language of the current request (Dutch outside a request)."""
    return _current_language.get()


def set_language(language: str) -> Token[str]:
    """Make ``language`` current; returns the token for :func:`reset_language`."""
    return _current_language.set(normalise_language(language) or DEFAULT_LANGUAGE)


def reset_language(token: Token[str]) -> None:
    _current_language.reset(token)


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Run a block in ``lang`` (for mails, CLI output and tests)."""
    token = set_language(lang)
    try:
        yield
    finally:
        reset_language(token)


def gettext(message: str, **variables: Any) -> str:
    """Translate ``message`` into the current language; ``%(name)s`` placeholders are filled."""
    translated = translations(get_language()).gettext(message)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """Plural-aware :func:`gettext`; ``%(num)d`` is available as the count."""
    translated = translations(get_language()).ngettext(singular, plural, n)
    return translated % {"num": n, **variables}


_ = gettext


def lazy_gettext(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (module-level constants).

    Translate at use time with ``gettext(message)``.
    """
    return message


def translated_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(value, Dutch label) pairs, such as a select's options, with the labels translated now."""
    return [(value, gettext(label)) for value, label in pairs]


def translated_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """A mapping of names to Dutch labels, such as a form's field labels, translated now."""
    return {name: gettext(label) for name, label in labels.items()}


def babel_locale(lang: str | None = None) -> Locale:
    return Locale.parse(_BABEL_LOCALES.get(lang or get_language(), "nl_NL"))


def to_local(value: datetime) -> datetime:
    """A UTC (or any aware) datetime in Europe/Amsterdam; naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(TIMEZONE)


def format_datetime(value: datetime | None, fmt: str = "medium", lang: str | None = None) -> str:
    """E.g. ``3 mrt 2027, 14:05`` (nl) / ``3 Mar 2027, 14:05`` (en), in Europe/Amsterdam."""
    if value is None:
        return ""
    pattern = {"medium": "d MMM y, HH:mm", "long": "d MMMM y 'om' HH:mm"}.get(fmt, fmt)
    if fmt == "long" and (lang or get_language()) == "en":
        pattern = "d MMMM y 'at' HH:mm"
    return _babel_format_datetime(to_local(value), pattern, locale=babel_locale(lang))


def format_date(value: date | datetime | None, fmt: str = "long", lang: str | None = None) -> str:
    """E.g. ``3 maart 2027`` (nl) / ``3 March 2027`` (en); datetimes are taken in Amsterdam."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value).date()
    pattern = {"long": "d MMMM y", "medium": "d MMM y", "short": "dd-MM-y"}.get(fmt, fmt)
    return _babel_format_date(value, pattern, locale=babel_locale(lang))


def format_money(cents: int | None, lang: str | None = None) -> str:
    """Integer cents as euros: ``€ 1.234,50`` (nl) / ``€1,234.50`` (en). Exact (Decimal)."""
    if cents is None:
        return ""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError("money is integer cents")
    amount = Decimal(cents).scaleb(-2)
    return format_currency(amount, "EUR", locale=babel_locale(lang))


def format_number(value: int | Decimal, lang: str | None = None) -> str:
    """A number with the locale's grouping: ``12.345`` (nl) / ``12,345`` (en)."""
    return format_decimal(value, locale=babel_locale(lang))
