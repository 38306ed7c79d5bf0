"""The admin round form: from posted strings to the service's data, and back for re-display.

Money is typed in euros (``450.000`` or ``1.250,50``), the minimum budget share in percent (one
decimal), times from ``datetime-local`` inputs (``2027-03-01T09:00``) in Europe/Amsterdam; everything is converted exactly
(Decimal, integer cents / per-mille, UTC). Districts and themes are rows ``district_name_0``,
``district_budget_0``, … with a hidden id for existing rows: a blank new row is ignored, a blank
name on an existing row removes it. Without JavaScript, more rows come from saving and editing again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from burgerbegroting.i18n import _
from burgerbegroting.rounds.counting import parse_order, parse_scores
from burgerbegroting.rounds.models import Round
from burgerbegroting.rounds.service import EDITABLE_WHEN_FROZEN, SCHEDULE_FIELDS

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
EXTRA_ROWS = 3
MAX_ROWS = 100
SCHEDULE_NAMES = tuple(name for _, name in SCHEDULE_FIELDS)
BOOLEAN_FIELDS = (
    "blank_ballot_allowed",
    "vote_by_code",
    "vote_by_account",
    "supports_enabled",
    "greedy_no_skip",
)
INT_FIELDS = (
    "approval_max_k",
    "cumulative_points",
    "min_projects",
    "max_projects",
    "min_age",
    "support_threshold",
    "greedy_threshold",
)
CHOICE_FIELDS = ("budget_scope", "ballot_type", "counting_rule", "tie_break", "leftover")
# Lists of whole numbers typed as "12, 7, 9": the explicit tie-break order, points per place.
LIST_FIELDS = ("tie_break_order", "ranked_scores")
TEXT_FIELDS = ("tie_break_seed",)
# Editable after the freeze too (not part of the count), so read in both forms.
EXPORT_FIELD = "export_public"
_LIST_SEPARATOR = re.compile(r"[,;\s]+")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")
# ASCII digits only, everywhere: Python's ``\d`` also matches other scripts' digits, and
# ``"²".isdigit()`` is True while ``int("²")`` raises (a 500).
_ROW = re.compile(r"^(district|theme)_(id|name|budget|eligible|cap)_([0-9]{1,3})$")
_ID = re.compile(r"[0-9]{1,12}")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(\.[0-9]{3})+$")

# Service field name -> form field id, for error messages next to the right input.
FORM_ID = {"total_budget_cents": "total_budget", "min_budget_share_permille": "min_budget_share"}


@dataclass
class ParsedForm:
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    district_rows: list[int] = field(default_factory=list)  # service index -> form row
    theme_rows: list[int] = field(default_factory=list)


def parse_euros(text: str) -> int | None:
    """``"450.000"`` / ``"1.250,50"`` / ``"€ 99"`` → cents; None when it is not an amount."""
    cleaned = text.replace("€", "").replace(" ", "").replace("\u00a0", "").strip()
    if not cleaned:
        return None
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif _THOUSANDS.match(cleaned):
        cleaned = cleaned.replace(".", "")
    if not re.fullmatch(r"[0-9]{1,15}(\.[0-9]{1,2})?", cleaned):
        return None
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        return None


def format_euros(cents: int | None) -> str:
    if cents is None:
        return ""
    euros, rest = divmod(cents, 100)
    whole = f"{euros:,}".replace(",", ".")
    return f"{whole},{rest:02d}" if rest else whole


_DUTCH_DATE = re.compile(r"^([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})[ T]([0-9]{1,2}):([0-9]{2})$")
_ISO_LOCAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
)


class NonexistentLocalTime(ValueError):
    """A wall time skipped by the change to summer time (e.g. 2027-03-28 02:30)."""


def parse_local_time(text: str) -> datetime | None:
    """A time in Amsterdam → an aware datetime; ``ValueError`` when it is not a date and time.

    The form uses ``<input type="datetime-local">``, which sends ``2027-03-01T09:00`` (with
    ``:00`` seconds in some browsers); a browser without the widget shows a text field, so
    ``2027-03-01 09:00`` and the Dutch ``1-3-2027 09:00`` are accepted too. A wall time that does
    not exist in Amsterdam (the hour skipped when summer time starts) is refused rather than
    silently moved; of the hour that happens twice in October, the first (summer time) is taken.
    """
    match = _DUTCH_DATE.match(text)
    if match:
        day, month, year, hour, minute = (int(g) for g in match.groups())
        naive = datetime(year, month, day, hour, minute)  # noqa: DTZ001 - zone set below
    else:
        if not _ISO_LOCAL.fullmatch(text):
            raise ValueError("not a date and time")
        naive = datetime.fromisoformat(text).replace(second=0, microsecond=0)
    aware = naive.replace(tzinfo=AMSTERDAM)
    if aware.astimezone(UTC).astimezone(AMSTERDAM).replace(tzinfo=None) != naive:
        raise NonexistentLocalTime(text)
    return aware


def format_local_time(value: datetime | None) -> str:
    """The value of a ``datetime-local`` input: ``2027-03-01T09:00`` in Amsterdam time."""
    return value.astimezone(AMSTERDAM).strftime("%Y-%m-%dT%H:%M") if value else ""


def _money(form: ParsedForm, name: str, key: str, text: str, *, required: bool) -> None:
    if not text.strip():
        if required:
            form.errors[name] = _("Vul een bedrag in.")
        else:
            form.data[key] = None
        return
    cents = parse_euros(text)
    if cents is None:
        form.errors[name] = _("Vul een bedrag in euro's in, bijvoorbeeld 450.000 of 1.250,50.")
    else:
        form.data[key] = cents


def parse_round_form(raw: dict[str, str], *, frozen: bool) -> ParsedForm:
    """Turn the posted fields into service data; a frozen round's form only has its editable
    fields, so nothing else is read (and nothing else can be changed)."""
    form = ParsedForm(values=dict(raw))
    data = form.data
    data["title"] = raw.get("title", "")
    data["description"] = raw.get("description", "")
    for name in SCHEDULE_NAMES:
        if frozen and name not in EDITABLE_WHEN_FROZEN:
            continue
        text = raw.get(name, "").strip()
        try:
            data[name] = parse_local_time(text) if text else None
        except NonexistentLocalTime:
            form.errors[name] = _(
                "Dit tijdstip bestaat niet in Nederlandse tijd: de klok gaat die nacht een uur "
                "vooruit. Kies een ander tijdstip."
            )
        except ValueError:
            form.errors[name] = _("Vul een datum en tijd in, bijvoorbeeld 01-03-2027 09:00.")
    data[EXPORT_FIELD] = raw.get(EXPORT_FIELD) == "1"
    if frozen:
        return form

    _money(form, "total_budget", "total_budget_cents", raw.get("total_budget", ""), required=True)
    for name in CHOICE_FIELDS:
        data[name] = raw.get(name, "")
    # Keeping leftover money is the default and only greedy with theme caps offers another
    # choice: a form without the field (an older page) keeps it.
    data["leftover"] = data["leftover"] or "keep"
    for name in BOOLEAN_FIELDS:
        data[name] = raw.get(name) == "1"
    for name in INT_FIELDS:
        text = raw.get(name, "").strip()
        if not text:
            data[name] = 0 if name == "min_projects" else None
        elif re.fullmatch(r"-?[0-9]{1,9}", text):
            data[name] = int(text)
        else:
            form.errors[name] = _("Vul een geheel getal in.")
    for name in TEXT_FIELDS:
        data[name] = raw.get(name, "").strip() or None
    for name in LIST_FIELDS:
        parts = [part for part in _LIST_SEPARATOR.split(raw.get(name, "")) if part]
        if not parts:
            data[name] = None
        elif all(_WHOLE_NUMBER.fullmatch(part) for part in parts):
            data[name] = [int(part) for part in parts]
        else:
            form.errors[name] = _(
                "Vul hele getallen in, gescheiden door komma's, bijvoorbeeld 3, 2, 1."
            )
    share = raw.get("min_budget_share", "").strip().replace(",", ".")
    if not share:
        data["min_budget_share_permille"] = 0
    elif re.fullmatch(r"[0-9]{1,3}(\.[0-9])?", share):
        data["min_budget_share_permille"] = int(Decimal(share) * 10)
    else:
        form.errors["min_budget_share"] = _("Vul een percentage in, bijvoorbeeld 50 of 12,5.")

    districts: list[dict[str, Any]] = []
    themes: list[dict[str, Any]] = []
    rows = sorted({int(m.group(3)) for key in raw if (m := _ROW.match(key))})
    for row in rows[:MAX_ROWS]:
        for kind, items, row_map in (
            ("district", districts, form.district_rows),
            ("theme", themes, form.theme_rows),
        ):
            raw_id = raw.get(f"{kind}_id_{row}", "").strip()
            name = raw.get(f"{kind}_name_{row}", "").strip()
            if not name:
                continue  # a blank row: new and empty, or an existing one being removed
            if raw_id and not _ID.fullmatch(raw_id):
                # The hidden id was tampered with: refuse rather than silently add a new row.
                form.errors[f"{kind}_name_{row}"] = (
                    _("Onbekende wijk.") if kind == "district" else _("Onbekend thema.")
                )
                continue
            item: dict[str, Any] = {"name": name, "id": int(raw_id) if raw_id else None}
            money_field = "budget" if kind == "district" else "cap"
            money_key = "budget_cents" if kind == "district" else "max_spend_cents"
            text = raw.get(f"{kind}_{money_field}_{row}", "").strip()
            if text:
                cents = parse_euros(text)
                if cents is None:
                    form.errors[f"{kind}_{money_field}_{row}"] = _(
                        "Vul een bedrag in euro's in, bijvoorbeeld 50.000."
                    )
                item[money_key] = cents
            else:
                item[money_key] = None
            if kind == "district":
                item["eligible"] = raw.get(f"district_eligible_{row}") == "1"
            items.append(item)
            row_map.append(row)
    data["districts"] = districts
    data["themes"] = themes
    return form


def form_errors(form: ParsedForm, fields: dict[str, str]) -> dict[str, str]:
    """The service's field errors under the form's field ids."""
    out: dict[str, str] = {}
    for key, message in fields.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] in {"districts", "themes"} and parts[1].isdigit():
            kind = "district" if parts[0] == "districts" else "theme"
            rows = form.district_rows if kind == "district" else form.theme_rows
            index = int(parts[1])
            row = rows[index] if index < len(rows) else index
            suffix = {"name": "name", "budget_cents": "budget", "max_spend_cents": "cap"}.get(
                parts[2], "name"
            )
            out[f"{kind}_{suffix}_{row}"] = message
        elif key in {"districts", "themes"}:
            out[key] = message
        else:
            out[FORM_ID.get(key, key)] = message
    return out


def values_from_round(round_: Round | None) -> dict[str, str]:
    """The form's initial values: a round's settings, or the defaults for a new round."""
    if round_ is None:
        return {
            "budget_scope": "city",
            "ballot_type": "knapsack",
            "counting_rule": "greedy",
            "tie_break": "lowest-cost",
            "min_projects": "0",
            "blank_ballot_allowed": "1",
            "vote_by_code": "1",
            "leftover": "keep",
        }
    values: dict[str, str] = {
        "title": round_.title,
        "description": round_.description,
        "total_budget": format_euros(round_.total_budget_cents),
        "min_budget_share": _percent(round_.min_budget_share_permille),
    }
    for name in CHOICE_FIELDS:
        values[name] = str(getattr(round_, name))
    for name in INT_FIELDS:
        value = getattr(round_, name)
        values[name] = "" if value is None else str(value)
    for name in BOOLEAN_FIELDS:
        values[name] = "1" if getattr(round_, name) else ""
    for name in SCHEDULE_NAMES:
        values[name] = format_local_time(getattr(round_, name))
    values["tie_break_seed"] = round_.tie_break_seed or ""
    values["tie_break_order"] = ", ".join(map(str, parse_order(round_.tie_break_order) or []))
    values["ranked_scores"] = ", ".join(map(str, parse_scores(round_.ranked_scores) or []))
    values[EXPORT_FIELD] = "1" if round_.export_public else ""
    for row, district in enumerate(round_.districts):
        values[f"district_id_{row}"] = str(district.id)
        values[f"district_name_{row}"] = district.name
        values[f"district_budget_{row}"] = format_euros(district.budget_cents)
        values[f"district_eligible_{row}"] = "1" if district.eligible else ""
    for row, theme in enumerate(round_.themes):
        values[f"theme_id_{row}"] = str(theme.id)
        values[f"theme_name_{row}"] = theme.name
        values[f"theme_cap_{row}"] = format_euros(theme.max_spend_cents)
    return values


def _percent(permille: int) -> str:
    whole, tenth = divmod(permille, 10)
    return f"{whole},{tenth}" if tenth else str(whole)


def row_count(values: dict[str, str], kind: str) -> int:
    """Rows to show: every filled row plus a few blank ones for additions."""
    used = [
        int(m.group(3))
        for key in values
        if (m := _ROW.match(key)) and m.group(1) == kind and values[key]
    ]
    return min(MAX_ROWS, (max(used) + 1 if used else 0) + EXTRA_ROWS)


# --- adding and removing district and theme rows without saving ---------------------------------

_ROW_COMMAND = re.compile(r"^(add|remove)_(district|theme)(?:_([0-9]{1,3}))?$")
_ROW_PARTS = {"district": ("id", "name", "budget", "eligible"), "theme": ("id", "name", "cap")}


def rows_shown(values: dict[str, str], kind: str) -> int:
    """How many rows of ``kind`` the submitted form had (blank ones included)."""
    indices = [int(m.group(3)) for key in values if (m := _ROW.match(key)) and m.group(1) == kind]
    return max(indices, default=-1) + 1


def apply_row_command(
    raw: dict[str, str], command: str
) -> tuple[dict[str, str], dict[str, int]] | None:
    """The form after "add a row" or "remove row i" (buttons named ``action``), not saved.

    Returns the values to show again and the number of rows per kind, or None when ``command``
    is not a row command. Removing shifts the later rows up, hidden ids included, so a saved row
    that is removed here is simply left out when the form is saved (and the service removes it).
    """
    match = _ROW_COMMAND.fullmatch(command)
    if match is None:
        return None
    verb, kind, index = match.group(1), match.group(2), match.group(3)
    values = dict(raw)
    counts = {k: rows_shown(values, k) for k in _ROW_PARTS}
    if verb == "add" and index is None:
        counts[kind] = min(MAX_ROWS, counts[kind] + 1)
    elif verb == "remove" and index is not None and int(index) < counts[kind]:
        last = counts[kind] - 1
        for row in range(int(index), last + 1):
            for part in _ROW_PARTS[kind]:
                source = f"{kind}_{part}_{row + 1}"
                target = f"{kind}_{part}_{row}"
                if row < last and source in values:
                    values[target] = values[source]
                else:
                    values.pop(target, None)
        counts[kind] = last
    else:
        return None
    counts = {k: max(1, n) for k, n in counts.items()}
    return values, counts
