"""Checking round settings: each field on its own, then the rules that span fields (budgets add
up, dates in order, ballot settings fit together), and the refusal to change what the count depends
on once the round is frozen. Messages are Dutch and keyed by the API's field names
(``districts.1.budget_cents`` for a row of a list)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeGuard

from burgerbegroting.errors import Conflict, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.rounds.counting import (
    BALLOTS_FOR_RULE,
    RULES_WITH_CAPS,
    format_order,
    format_scores,
    label,
    parse_scores,
)
from burgerbegroting.rounds.models import (
    MAX_BUDGET_CENTS,
    NAME_MAX_LENGTH,
    RANKED_SCORES_MAX_LENGTH,
    SEED_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    BallotType,
    BudgetScope,
    CountingRule,
    Leftover,
    Phase,
    Round,
    TieBreak,
)

DESCRIPTION_MAX_LENGTH = 20_000
MAX_DISTRICTS = 100
MAX_THEMES = 50
MAX_PROJECTS_LIMIT = 1_000
MAX_POINTS = 1_000_000
MAX_SUPPORT_THRESHOLD = 1_000_000
MAX_GREEDY_THRESHOLD = 1_000_000_000  # fits the INTEGER column on PostgreSQL
MAX_ID = 2**31 - 1

SCHEDULE_FIELDS: tuple[tuple[Phase, str], ...] = (
    (Phase.SUBMISSION, "submission_starts_at"),
    (Phase.REVIEW, "review_starts_at"),
    (Phase.VOTING, "voting_starts_at"),
    (Phase.CLOSED, "closed_starts_at"),
    (Phase.PUBLISHED, "published_starts_at"),
)
SCHEDULE_FIELD_FOR: dict[Phase, str] = dict(SCHEDULE_FIELDS)

SCALAR_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "total_budget_cents",
    "budget_scope",
    *(name for _, name in SCHEDULE_FIELDS),
    "ballot_type",
    "approval_max_k",
    "cumulative_points",
    "min_projects",
    "max_projects",
    "min_budget_share_permille",
    "blank_ballot_allowed",
    "counting_rule",
    "tie_break",
    "tie_break_seed",
    "tie_break_order",
    "greedy_threshold",
    "greedy_no_skip",
    "leftover",
    "ranked_scores",
    "min_age",
    "vote_by_code",
    "vote_by_account",
    "supports_enabled",
    "support_threshold",
    "export_public",
)
ALL_FIELDS: frozenset[str] = frozenset((*SCALAR_FIELDS, "districts", "themes"))

EDITABLE_WHEN_FROZEN: frozenset[str] = frozenset(
    {"title", "description", "closed_starts_at", "published_starts_at", "export_public"}
)
"""Fields that do not change what is counted, so they stay editable after voting opened.

The voting start is moot once voting is open; supports and the support threshold only matter
before review, so they are frozen too (changing them afterwards could only confuse). Whether the
audit export is public may change until the result is published (then it is part of what was
published)."""

FIELD_LABELS: dict[str, str] = {
    "title": N_("Titel"),
    "description": N_("Beschrijving"),
    "total_budget_cents": N_("Totaal budget"),
    "budget_scope": N_("Budget per wijk of voor de hele stad"),
    "submission_starts_at": N_("Start indienen"),
    "review_starts_at": N_("Start toetsing"),
    "voting_starts_at": N_("Start stemmen"),
    "closed_starts_at": N_("Einde stemmen"),
    "published_starts_at": N_("Publicatie uitslag"),
    "ballot_type": N_("Soort stembiljet"),
    "approval_max_k": N_("Maximaal aantal keuzes"),
    "cumulative_points": N_("Aantal punten"),
    "min_projects": N_("Minimaal aantal projecten"),
    "max_projects": N_("Maximaal aantal projecten"),
    "min_budget_share_permille": N_("Minimaal te besteden deel van het budget"),
    "blank_ballot_allowed": N_("Blanco stemmen toegestaan"),
    "counting_rule": N_("Telregel"),
    "tie_break": N_("Beslissing bij gelijke stand"),
    "tie_break_seed": N_("Zaad van de loting"),
    "tie_break_order": N_("Vaste volgorde bij gelijke stand"),
    "greedy_threshold": N_("Minimumscore"),
    "greedy_no_skip": N_("Stoppen bij het eerste project dat niet past"),
    "leftover": N_("Geld dat over blijft door thema-maxima"),
    "ranked_scores": N_("Punten per plaats"),
    "export_public": N_("Controle-export openbaar na publicatie"),
    "min_age": N_("Minimumleeftijd"),
    "vote_by_code": N_("Stemmen met stemcode"),
    "vote_by_account": N_("Stemmen met geverifieerd account"),
    "supports_enabled": N_("Steunbetuigingen verzamelen"),
    "support_threshold": N_("Drempel steunbetuigingen"),
    "districts": N_("Wijken"),
    "themes": N_("Thema's"),
}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, message)


def _check_text(
    errors: _Errors, field: str, value: object, *, max_length: int, required: bool
) -> str:
    if not isinstance(value, str):
        errors.add(field, _("Vul tekst in."))
        return ""
    text = value.strip()
    if required and not text:
        errors.add(field, _("Vul dit veld in."))
    elif len(text) > max_length:
        errors.add(field, _("Te lang: hoogstens %(max)s tekens.", max=max_length))
    elif any(ord(ch) < 32 and ch not in "\n\r\t" for ch in text):
        errors.add(field, _("Bevat tekens die niet zijn toegestaan."))
    return text


def _check_int(
    errors: _Errors,
    field: str,
    value: object,
    *,
    minimum: int,
    maximum: int,
    nullable: bool,
    message: str | None = None,
) -> int | None:
    if value is None:
        if not nullable:
            errors.add(field, _("Vul dit veld in."))
        return None
    if not _is_int(value):
        errors.add(field, _("Vul een geheel getal in."))
        return None
    assert isinstance(value, int)
    if not minimum <= value <= maximum:
        errors.add(
            field,
            message
            or _("Vul een getal in van %(min)s tot en met %(max)s.", min=minimum, max=maximum),
        )
        return None
    return value


def _check_choice(errors: _Errors, field: str, value: object, enum: type[Any]) -> str | None:
    allowed = [m.value for m in enum]
    if value not in allowed:
        errors.add(field, _("Kies een van: %(allowed)s.", allowed=", ".join(allowed)))
        return None
    return str(value)


def _check_bool(errors: _Errors, field: str, value: object) -> bool | None:
    if not isinstance(value, bool):
        errors.add(field, _("Kies ja of nee."))
        return None
    return value


def _check_time(errors: _Errors, field: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors.add(field, _("Vul een tijdstip in met tijdzone."))
        return None
    if not 2000 <= value.year <= 2200:
        errors.add(field, _("Vul een tijdstip in tussen 2000 en 2200."))
        return None
    return value


def _budget_message() -> str:
    return _(
        "Vul een bedrag in groter dan € 0 en hoogstens € %(max)s.",
        max=f"{MAX_BUDGET_CENTS // 100:,}".replace(",", "."),
    )


def _normalise_districts(errors: _Errors, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        errors.add("districts", _("Geef een lijst van wijken."))
        return []
    if len(value) > MAX_DISTRICTS:
        errors.add("districts", _("Hoogstens %(max)s wijken.", max=MAX_DISTRICTS))
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            errors.add(f"districts.{index}.name", _("Ongeldige wijk."))
            continue
        prefix = f"districts.{index}"
        name = _check_text(
            errors, f"{prefix}.name", item.get("name"), max_length=NAME_MAX_LENGTH, required=True
        )
        if name and name.casefold() in seen:
            errors.add(f"{prefix}.name", _("Deze wijk staat er al in."))
        seen.add(name.casefold())
        budget = _check_int(
            errors,
            f"{prefix}.budget_cents",
            item.get("budget_cents"),
            minimum=1,
            maximum=MAX_BUDGET_CENTS,
            nullable=True,
            message=_budget_message(),
        )
        eligible = item.get("eligible", True)
        if not isinstance(eligible, bool):
            errors.add(f"{prefix}.eligible", _("Kies ja of nee."))
            eligible = True
        district_id = item.get("id")
        if district_id is not None and not _is_int(district_id):
            errors.add(f"{prefix}.name", _("Onbekende wijk."))
            district_id = None
        out.append({"id": district_id, "name": name, "budget_cents": budget, "eligible": eligible})
    return out


def _normalise_themes(errors: _Errors, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        errors.add("themes", _("Geef een lijst van thema's."))
        return []
    if len(value) > MAX_THEMES:
        errors.add("themes", _("Hoogstens %(max)s thema's.", max=MAX_THEMES))
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            errors.add(f"themes.{index}.name", _("Ongeldig thema."))
            continue
        prefix = f"themes.{index}"
        name = _check_text(
            errors, f"{prefix}.name", item.get("name"), max_length=NAME_MAX_LENGTH, required=True
        )
        if name and name.casefold() in seen:
            errors.add(f"{prefix}.name", _("Dit thema staat er al in."))
        seen.add(name.casefold())
        cap = _check_int(
            errors,
            f"{prefix}.max_spend_cents",
            item.get("max_spend_cents"),
            minimum=1,
            maximum=MAX_BUDGET_CENTS,
            nullable=True,
            message=_budget_message(),
        )
        theme_id = item.get("id")
        if theme_id is not None and not _is_int(theme_id):
            errors.add(f"{prefix}.name", _("Onbekend thema."))
            theme_id = None
        out.append({"id": theme_id, "name": name, "max_spend_cents": cap})
    return out


def _normalise(data: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    """Check every present field on its own; returns the cleaned values."""
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key not in ALL_FIELDS:
            errors.add(key, _("Onbekend veld."))
            continue
        if key == "title":
            clean[key] = _check_text(errors, key, value, max_length=TITLE_MAX_LENGTH, required=True)
        elif key == "description":
            clean[key] = _check_text(
                errors,
                key,
                value if value is not None else "",
                max_length=DESCRIPTION_MAX_LENGTH,
                required=False,
            )
        elif key == "total_budget_cents":
            clean[key] = _check_int(
                errors,
                key,
                value,
                minimum=1,
                maximum=MAX_BUDGET_CENTS,
                nullable=False,
                message=_budget_message(),
            )
        elif key == "budget_scope":
            clean[key] = _check_choice(errors, key, value, BudgetScope)
        elif key in SCHEDULE_FIELD_FOR.values():
            clean[key] = _check_time(errors, key, value)
        elif key == "ballot_type":
            clean[key] = _check_choice(errors, key, value, BallotType)
        elif key == "counting_rule":
            clean[key] = _check_choice(errors, key, value, CountingRule)
        elif key == "tie_break":
            clean[key] = _check_choice(errors, key, value, TieBreak)
        elif key == "leftover":
            clean[key] = _check_choice(errors, key, value, Leftover)
        elif key == "tie_break_seed":
            seed = (
                None
                if value is None
                else _check_text(errors, key, value, max_length=SEED_MAX_LENGTH, required=False)
            )
            clean[key] = seed or None
        elif key == "tie_break_order":
            clean[key] = _check_order(errors, key, value)
        elif key == "ranked_scores":
            clean[key] = _check_scores(errors, key, value)
        elif key == "greedy_threshold":
            clean[key] = _check_int(
                errors, key, value, minimum=1, maximum=MAX_GREEDY_THRESHOLD, nullable=True
            )
        elif key == "approval_max_k":
            clean[key] = _check_int(
                errors,
                key,
                value,
                minimum=1,
                maximum=MAX_PROJECTS_LIMIT,
                nullable=True,
                message=_(
                    "Het maximum aantal keuzes is minstens 1 (en hoogstens %(max)s).",
                    max=MAX_PROJECTS_LIMIT,
                ),
            )
        elif key == "cumulative_points":
            clean[key] = _check_int(
                errors, key, value, minimum=1, maximum=MAX_POINTS, nullable=True
            )
        elif key == "min_projects":
            clean[key] = _check_int(
                errors,
                key,
                value if value is not None else 0,
                minimum=0,
                maximum=MAX_PROJECTS_LIMIT,
                nullable=False,
            )
        elif key == "max_projects":
            clean[key] = _check_int(
                errors, key, value, minimum=1, maximum=MAX_PROJECTS_LIMIT, nullable=True
            )
        elif key == "min_budget_share_permille":
            clean[key] = _check_int(
                errors,
                key,
                value if value is not None else 0,
                minimum=0,
                maximum=1000,
                nullable=False,
                message=_("Vul een promillage in van 0 tot en met 1000 (1000 = het hele budget)."),
            )
        elif key == "min_age":
            clean[key] = _check_int(errors, key, value, minimum=0, maximum=120, nullable=True)
        elif key == "support_threshold":
            clean[key] = _check_int(
                errors, key, value, minimum=0, maximum=MAX_SUPPORT_THRESHOLD, nullable=True
            )
        elif key in {
            "blank_ballot_allowed",
            "vote_by_code",
            "vote_by_account",
            "supports_enabled",
            "greedy_no_skip",
            "export_public",
        }:
            clean[key] = _check_bool(errors, key, value)
        elif key == "districts":
            clean[key] = _normalise_districts(errors, value)
        elif key == "themes":
            clean[key] = _normalise_themes(errors, value)
    return clean


def _check_order(errors: _Errors, field: str, value: object) -> str | None:
    """An explicit tie-break order: a list of distinct project ids (stored as JSON)."""
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        errors.add(field, _("Geef een lijst van projectnummers."))
        return None
    if not value:
        return None
    if len(value) > MAX_PROJECTS_LIMIT * 10:
        errors.add(field, _("Te veel projectnummers."))
        return None
    ids: list[int] = []
    for item in value:
        if not _is_int(item) or not 0 < item <= MAX_ID:
            errors.add(field, _("Geef alleen projectnummers (hele getallen groter dan 0)."))
            return None
        ids.append(item)
    if len(set(ids)) != len(ids):
        errors.add(field, _("Elk project mag maar één keer in de volgorde staan."))
        return None
    return format_order(ids)


def _check_scores(errors: _Errors, field: str, value: object) -> str | None:
    """Points per place of a ranked ballot: descending positive integers (stored "3,2,1")."""
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        errors.add(field, _("Geef de punten per plaats als lijst, bijvoorbeeld 3, 2, 1."))
        return None
    if not value:
        return None
    message = _("Geef aflopende hele getallen groter dan 0, één per plaats, bijvoorbeeld 3, 2, 1.")
    if not all(_is_int(item) and 0 < item <= MAX_POINTS for item in value):
        errors.add(field, message)
        return None
    scores = [int(item) for item in value]
    if any(later >= earlier for earlier, later in itertools.pairwise(scores)):
        errors.add(field, message)
        return None
    text = format_scores(scores)
    if len(text) > RANKED_SCORES_MAX_LENGTH:
        errors.add(
            field, _("Te veel plaatsen: hoogstens %(max)s tekens.", max=RANKED_SCORES_MAX_LENGTH)
        )
        return None
    return text


def _merged_view(round_: Round | None, clean: Mapping[str, Any]) -> dict[str, Any]:
    """The round's settings after the change: current values overlaid with ``clean``."""
    view: dict[str, Any] = {}
    for key in SCALAR_FIELDS:
        if key in clean:
            view[key] = clean[key]
        elif round_ is not None:
            view[key] = getattr(round_, key)
        else:
            view[key] = DEFAULTS.get(key)
    if "districts" in clean:
        view["districts"] = clean["districts"]
    else:
        view["districts"] = (
            [
                {"id": d.id, "name": d.name, "budget_cents": d.budget_cents, "eligible": d.eligible}
                for d in round_.districts
            ]
            if round_ is not None
            else []
        )
    if "themes" in clean:
        view["themes"] = clean["themes"]
    else:
        view["themes"] = (
            [
                {"id": t.id, "name": t.name, "max_spend_cents": t.max_spend_cents}
                for t in round_.themes
            ]
            if round_ is not None
            else []
        )
    return view


DEFAULTS: dict[str, Any] = {
    "description": "",
    "budget_scope": BudgetScope.CITY.value,
    "ballot_type": BallotType.KNAPSACK.value,
    "min_projects": 0,
    "min_budget_share_permille": 0,
    "blank_ballot_allowed": True,
    "counting_rule": CountingRule.GREEDY.value,
    "tie_break": TieBreak.LOWEST_COST.value,
    "greedy_no_skip": False,
    "leftover": Leftover.KEEP.value,
    "export_public": False,
    "vote_by_code": True,
    "vote_by_account": False,
    "supports_enabled": False,
}


def _check_consistency(view: Mapping[str, Any], errors: _Errors) -> None:
    """Rules that span fields: budgets add up, dates in order, ballot settings fit together."""
    total = view.get("total_budget_cents")
    if total is None and "total_budget_cents" not in errors.fields:
        errors.add("total_budget_cents", _("Vul het totale budget in."))
    if not view.get("title") and "title" not in errors.fields:
        errors.add("title", _("Vul dit veld in."))

    districts = view["districts"]
    if view.get("budget_scope") == BudgetScope.DISTRICTS.value:
        if not districts:
            errors.add("districts", _("Voeg wijken toe met elk een eigen budget."))
        for index, district in enumerate(districts):
            if district["budget_cents"] is None:
                errors.add(
                    f"districts.{index}.budget_cents",
                    _("Vul het budget van deze wijk in (budget per wijk)."),
                )
        budgets = [d["budget_cents"] for d in districts if d["budget_cents"] is not None]
        if (
            _is_int(total)
            and len(budgets) == len(districts)
            and districts
            and sum(budgets) != total
        ):
            errors.add(
                "districts",
                _(
                    "De budgetten van de wijken tellen op tot %(sum)s cent; dat moet gelijk zijn "
                    "aan het totale budget (%(total)s cent).",
                    sum=sum(budgets),
                    total=total,
                ),
            )
    else:
        for index, district in enumerate(districts):
            if district["budget_cents"] is not None:
                errors.add(
                    f"districts.{index}.budget_cents",
                    _("Bij één budget voor de hele stad hebben wijken geen eigen budget."),
                )

    for index, theme in enumerate(view["themes"]):
        cap = theme["max_spend_cents"]
        if _is_int(total) and cap is not None and cap > total:
            errors.add(
                f"themes.{index}.max_spend_cents",
                _("Het maximum voor een thema mag niet hoger zijn dan het totale budget."),
            )

    previous: tuple[str, datetime] | None = None
    for _phase, field in SCHEDULE_FIELDS:
        moment = view.get(field)
        if moment is None or field in errors.fields:
            continue
        if previous is not None and moment <= previous[1]:
            errors.add(
                field,
                _(
                    "Dit tijdstip moet na '%(previous)s' liggen.",
                    previous=_(FIELD_LABELS[previous[0]]),
                ),
            )
        previous = (field, moment)

    ballot_type = view.get("ballot_type")
    if ballot_type == BallotType.APPROVAL.value and view.get("approval_max_k") is None:
        errors.add(
            "approval_max_k", _("Vul in hoeveel projecten iemand hoogstens mag kiezen (k ≥ 1).")
        )
    if ballot_type == BallotType.CUMULATIVE.value and view.get("cumulative_points") is None:
        errors.add("cumulative_points", _("Vul in hoeveel punten iemand mag verdelen."))
    min_projects = view.get("min_projects")
    max_projects = view.get("max_projects")
    if _is_int(min_projects) and _is_int(max_projects) and min_projects > max_projects:
        errors.add(
            "max_projects",
            _(
                "Het maximum aantal projecten moet minstens het minimum (%(min)s) zijn.",
                min=min_projects,
            ),
        )
    if ballot_type == BallotType.CHOOSE_ONE.value:
        if _is_int(min_projects) and min_projects > 1:
            errors.add("min_projects", _("Bij één keuze is het minimum hoogstens 1."))
        if _is_int(max_projects) and max_projects != 1:
            errors.add(
                "max_projects", _("Bij één keuze is het maximum 1; laat het veld leeg of vul 1 in.")
            )
    approval_k = view.get("approval_max_k")
    if ballot_type != BallotType.APPROVAL.value and approval_k is not None:
        # A stray k would end up in the fingerprinted definition and confuse every reader of it.
        errors.add(
            "approval_max_k",
            _("Alleen bij goedkeuren (hoogstens k projecten) in te vullen; laat het veld leeg."),
        )
    if (
        ballot_type == BallotType.APPROVAL.value
        and _is_int(approval_k)
        and _is_int(max_projects)
        and approval_k > max_projects
    ):
        errors.add(
            "approval_max_k",
            _(
                "Het aantal keuzes (k) mag niet hoger zijn dan het maximum aantal projecten "
                "(%(max)s).",
                max=max_projects,
            ),
        )
    if (
        ballot_type == BallotType.APPROVAL.value
        and _is_int(approval_k)
        and _is_int(min_projects)
        and min_projects > approval_k
    ):
        # No ballot could be valid: at least min_projects choices, at most k.
        errors.add(
            "min_projects",
            _(
                "Met hoogstens %(k)s keuzes kan niemand %(min)s projecten kiezen; verlaag het "
                "minimum.",
                k=approval_k,
                min=min_projects,
            ),
        )
    points = view.get("cumulative_points")
    if ballot_type != BallotType.CUMULATIVE.value and points is not None:
        errors.add(
            "cumulative_points",
            _("Alleen bij punten verdelen in te vullen; laat het veld leeg."),
        )
    if (
        ballot_type == BallotType.CUMULATIVE.value
        and _is_int(points)
        and _is_int(min_projects)
        and min_projects > points
    ):
        errors.add(
            "min_projects",
            _(
                "Met %(points)s punten kan iemand hoogstens %(points)s projecten kiezen; "
                "verlaag het minimum.",
                points=points,
            ),
        )
    if districts and not any(d["eligible"] for d in districts):
        errors.add(
            "districts",
            _("Minstens één wijk moet mogen stemmen; anders kan niemand stemmen."),
        )
    if view.get("vote_by_code") is False and view.get("vote_by_account") is False:
        errors.add(
            "vote_by_code",
            _("Kies minstens één manier van stemmen: met stemcode of met geverifieerd account."),
        )
    if view.get("supports_enabled") is False and view.get("support_threshold") is not None:
        errors.add(
            "support_threshold",
            _(
                "Een drempel voor steunbetuigingen kan alleen als steunbetuigingen worden verzameld."
            ),
        )
    _check_counting(view, errors)


def _check_counting(view: Mapping[str, Any], errors: _Errors) -> None:
    """Refuse every combination the counting engine cannot count (``rounds.counting``), and
    settings that belong to another rule or tie-break (they would sit in the frozen definition
    doing nothing, and confuse every reader of it)."""
    rule = view.get("counting_rule")
    ballot_type = view.get("ballot_type")
    allowed = BALLOTS_FOR_RULE.get(str(rule))
    known_ballot = ballot_type in {b.value for b in BallotType}
    if allowed is not None and known_ballot and ballot_type not in allowed:
        errors.add(
            "counting_rule",
            _(
                "De telregel '%(rule)s' kan dit soort stembiljet (%(ballot)s) niet tellen. "
                "Kies een andere telregel of een ander stembiljet.",
                rule=label("counting_rule", rule),
                ballot=label("ballot_type", ballot_type),
            ),
        )
    capped = [t for t in view["themes"] if t.get("max_spend_cents") is not None]
    if rule in BALLOTS_FOR_RULE and rule not in RULES_WITH_CAPS and capped:
        errors.add(
            "counting_rule",
            _(
                "De telregel '%(rule)s' kent geen maximum per thema. Kies 'meeste stemmen eerst' "
                "of haal de maxima bij de thema's weg.",
                rule=label("counting_rule", rule),
            ),
        )
    greedy = rule == CountingRule.GREEDY.value
    if not greedy:
        for field, unset in (
            ("greedy_threshold", None),
            ("greedy_no_skip", False),
            ("leftover", Leftover.KEEP.value),
        ):
            if view.get(field) is not None and view.get(field) != unset:
                errors.add(
                    field,
                    _("Hoort alleen bij de telregel 'meeste stemmen eerst'; laat het leeg."),
                )
    elif view.get("leftover") == Leftover.FUND_BY_SCORE.value and not capped:
        errors.add(
            "leftover",
            _(
                "Alleen zinvol als minstens één thema een maximum heeft: zonder maxima blijft "
                "er geen geld over dat nog past."
            ),
        )
    scores = view.get("ranked_scores")
    if scores is not None:
        if ballot_type != BallotType.RANKED.value or not greedy:
            errors.add(
                "ranked_scores",
                _(
                    "Punten per plaats horen alleen bij een rangorde-stembiljet met de telregel "
                    "'meeste stemmen eerst'; laat het veld leeg."
                ),
            )
        else:
            places = len(parse_scores(str(scores)) or [])
            max_projects = view.get("max_projects")
            if not _is_int(max_projects) or max_projects > places:
                errors.add(
                    "max_projects",
                    _(
                        "Met %(places)s punten-plaatsen mag iemand hoogstens %(places)s projecten "
                        "rangschikken: vul dat maximum in.",
                        places=places,
                    ),
                )
    tie_break = view.get("tie_break")
    if view.get("tie_break_seed") is not None and tie_break != TieBreak.LOWEST_COST.value:
        errors.add(
            "tie_break_seed",
            _("Alleen de loting (laagste kosten eerst) gebruikt een zaad; laat het veld leeg."),
        )
    if view.get("tie_break_order") is not None and tie_break != TieBreak.EXPLICIT.value:
        errors.add(
            "tie_break_order",
            _("Alleen bij een vaste volgorde in te vullen; laat het veld leeg."),
        )


def validate(round_: Round | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """Clean and check ``data`` against ``round_`` (None when creating); ``ValidationFailed``
    with a Dutch message per field when anything is wrong. Returns the cleaned values."""
    errors = _Errors()
    clean = _normalise(data, errors)
    if round_ is not None:
        # A frozen round answers a change to the count's inputs with 409 whatever the value:
        # the reason the edit fails is that it is too late, not what was typed.
        _refuse_frozen_changes(round_, {k: v for k, v in clean.items() if k not in errors.fields})
    view = _merged_view(round_, clean)
    _check_consistency(view, errors)
    if errors.fields:
        raise ValidationFailed(
            _("De instellingen van de ronde kloppen niet. Controleer de gemarkeerde velden."),
            fields=errors.fields,
        )
    return clean


def current_value(round_: Round, key: str) -> Any:
    """The round's current value for a field name of the API (lists as plain dicts)."""
    if key == "districts":
        return [
            {"id": d.id, "name": d.name, "budget_cents": d.budget_cents, "eligible": d.eligible}
            for d in round_.districts
        ]
    if key == "themes":
        return [
            {"id": t.id, "name": t.name, "max_spend_cents": t.max_spend_cents}
            for t in round_.themes
        ]
    return getattr(round_, key)


def _comparable(key: str, value: Any) -> Any:
    if key in {"districts", "themes"}:
        # Items without an id are new rows, which is a change by definition.
        return sorted(
            (json.dumps(item, sort_keys=True, default=str) for item in value),
        )
    return value


def _refuse_frozen_changes(round_: Round, clean: Mapping[str, Any]) -> None:
    if not round_.is_frozen:
        return
    _refuse_changes_after_publication(round_, clean)
    changed = [
        key
        for key, value in clean.items()
        if key not in EDITABLE_WHEN_FROZEN
        and _comparable(key, value) != _comparable(key, current_value(round_, key))
    ]
    if changed:
        raise Conflict(
            _(
                "Het stemmen is geopend: de instellingen die de telling bepalen liggen vast en "
                "kunnen niet meer worden gewijzigd. Alleen titel, beschrijving en de tijdstippen "
                "van sluiten en publiceren zijn nog aan te passen."
            ),
            fields={key: _("Ligt vast sinds het stemmen is geopend.") for key in changed},
        )


def _refuse_changes_after_publication(round_: Round, clean: Mapping[str, Any]) -> None:
    if (
        round_.phase == Phase.PUBLISHED.value
        and "export_public" in clean
        and clean["export_public"] != round_.export_public
    ):
        raise Conflict(
            _(
                "De uitslag is gepubliceerd: of de controle-export openbaar is, hoort bij wat is "
                "gepubliceerd en verandert niet meer."
            ),
            fields={"export_public": _("Ligt vast sinds de publicatie.")},
        )
