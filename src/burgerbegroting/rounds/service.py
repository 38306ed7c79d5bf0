"""Round business rules: validation, phases, freezing and the fingerprint.

Plain async functions over an ``AsyncSession``; they raise domain errors with Dutch messages and
never import Litestar.

Input for ``create_round`` / ``update_round`` is a mapping of field names (the API's names) to
already-typed values; only the keys present are changed (PATCH semantics). ``districts`` and
``themes`` are full lists: items with an ``id`` update that row, items without one are new, rows
left out are removed (refused while a proposal still points at them).

**Freezing.** When voting opens, everything that affects the count is frozen: the budget and its
scope, districts (names, budgets, eligibility), themes and their caps, the ballot settings, the
counting rule and tie-break, eligibility, and the accepted projects with their municipal costs.
Their canonical JSON (sorted keys, no whitespace, integer cents, no floats) is stored on the round
with its SHA-256. Afterwards only ``EDITABLE_WHEN_FROZEN`` may change (texts and the closing and
publication times, which do not change what is counted); any other change is a ``Conflict``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from burgerbegroting.audit.service import record
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds.models import (
    MAX_BUDGET_CENTS,
    NAME_MAX_LENGTH,
    PHASE_ORDER,
    TITLE_MAX_LENGTH,
    BallotType,
    BudgetScope,
    CountingRule,
    District,
    Phase,
    Round,
    Theme,
    TieBreak,
)

logger = logging.getLogger("burgerbegroting.rounds")

DEFINITION_FORMAT = "burgerbegroting-round/1"
DESCRIPTION_MAX_LENGTH = 20_000
MAX_DISTRICTS = 100
MAX_THEMES = 50
MAX_PROJECTS_LIMIT = 1_000
MAX_POINTS = 1_000_000
MAX_SUPPORT_THRESHOLD = 1_000_000

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
    "min_age",
    "vote_by_code",
    "vote_by_account",
    "supports_enabled",
    "support_threshold",
)
ALL_FIELDS: frozenset[str] = frozenset((*SCALAR_FIELDS, "districts", "themes"))

EDITABLE_WHEN_FROZEN: frozenset[str] = frozenset(
    {"title", "description", "closed_starts_at", "published_starts_at"}
)
"""Fields that do not change what is counted, so they stay editable after voting opened.

The voting start is moot once voting is open; supports and the support threshold only matter
before review, so they are frozen too (changing them afterwards could only confuse)."""

FIELD_LABELS: dict[str, str] = {
    "title": "Titel",
    "description": "Beschrijving",
    "total_budget_cents": "Totaal budget",
    "budget_scope": "Budget per wijk of voor de hele stad",
    "submission_starts_at": "Start indienen",
    "review_starts_at": "Start toetsing",
    "voting_starts_at": "Start stemmen",
    "closed_starts_at": "Einde stemmen",
    "published_starts_at": "Publicatie uitslag",
    "ballot_type": "Soort stembiljet",
    "approval_max_k": "Maximaal aantal keuzes",
    "cumulative_points": "Aantal punten",
    "min_projects": "Minimaal aantal projecten",
    "max_projects": "Maximaal aantal projecten",
    "min_budget_share_permille": "Minimaal te besteden deel van het budget",
    "blank_ballot_allowed": "Blanco stemmen toegestaan",
    "counting_rule": "Telregel",
    "tie_break": "Beslissing bij gelijke stand",
    "min_age": "Minimumleeftijd",
    "vote_by_code": "Stemmen met stemcode",
    "vote_by_account": "Stemmen met geverifieerd account",
    "supports_enabled": "Steunbetuigingen verzamelen",
    "support_threshold": "Drempel steunbetuigingen",
    "districts": "Wijken",
    "themes": "Thema's",
}


# --- reading -------------------------------------------------------------------------------------


async def get_round(session: AsyncSession, round_id: int) -> Round:
    """The round with its districts and themes loaded; ``NotFound`` when it does not exist."""
    result = await session.execute(
        select(Round)
        .where(Round.id == round_id)
        .options(selectinload(Round.districts), selectinload(Round.themes))
        .execution_options(populate_existing=True)
    )
    round_ = result.scalar_one_or_none()
    if round_ is None:
        raise NotFound(_("Deze begrotingsronde bestaat niet."))
    return round_


async def get_visible_round(session: AsyncSession, round_id: int, *, include_drafts: bool) -> Round:
    """Like ``get_round``, but a draft is ``NotFound`` for anyone who may not see drafts."""
    round_ = await get_round(session, round_id)
    if round_.phase == Phase.DRAFT and not include_drafts:
        raise NotFound(_("Deze begrotingsronde bestaat niet."))
    return round_


async def list_rounds(session: AsyncSession, *, include_drafts: bool) -> list[Round]:
    """All rounds, newest first, with districts and themes; drafts only for staff who set them up."""
    query = (
        select(Round)
        .options(selectinload(Round.districts), selectinload(Round.themes))
        .order_by(Round.id.desc())
    )
    if not include_drafts:
        query = query.where(Round.phase != Phase.DRAFT.value)
    return list((await session.execute(query)).scalars())


def assert_phase(round_: Round, *phases: Phase) -> None:
    """Raise ``Conflict`` (Dutch) unless ``round_`` is in one of ``phases``."""
    if round_.phase not in {p.value for p in phases}:
        allowed = ", ".join(PHASE_NAMES_NL[p] for p in phases)
        raise Conflict(
            _(
                "Dit kan niet in de huidige fase van de ronde (%(current)s); alleen in: %(allowed)s.",
                current=PHASE_NAMES_NL[Phase(round_.phase)],
                allowed=allowed,
            )
        )


PHASE_NAMES_NL: dict[Phase, str] = {
    Phase.DRAFT: "in voorbereiding",
    Phase.SUBMISSION: "indienen",
    Phase.REVIEW: "toetsing",
    Phase.VOTING: "stemmen",
    Phase.CLOSED: "gesloten",
    Phase.PUBLISHED: "gepubliceerd",
}


@dataclass(frozen=True, slots=True)
class RoundSummary:
    """What the phase banner on every page shows."""

    id: int
    title: str
    phase: Phase
    phase_ends_at: datetime | None
    budget_cents: int


# The round the site is "about": an active one (submission … closed) before a published one,
# newest first. Drafts are never shown to the public.
_PHASE_PRIORITY = case(
    (Round.phase.in_([Phase.SUBMISSION.value, Phase.REVIEW.value, Phase.VOTING.value]), 0),
    (Round.phase == Phase.CLOSED.value, 1),
    else_=2,
)


async def current_round(session: AsyncSession) -> Round | None:
    """The public round most relevant now, or None when there is none (only drafts)."""
    result = await session.execute(
        select(Round)
        .where(Round.phase != Phase.DRAFT.value)
        .order_by(_PHASE_PRIORITY, Round.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def current_round_summary(session: AsyncSession) -> RoundSummary | None:
    """The phase banner's data: the current public round, its phase and when that phase ends."""
    round_ = await current_round(session)
    if round_ is None:
        return None
    phase = Phase(round_.phase)
    return RoundSummary(
        id=round_.id,
        title=round_.title,
        phase=phase,
        phase_ends_at=phase_ends_at(round_),
        budget_cents=round_.total_budget_cents,
    )


def next_phase(phase: Phase) -> Phase | None:
    index = PHASE_ORDER.index(phase)
    return PHASE_ORDER[index + 1] if index + 1 < len(PHASE_ORDER) else None


def phase_ends_at(round_: Round) -> datetime | None:
    """The scheduled start of the next phase, which is when the current one ends (or None)."""
    following = next_phase(Phase(round_.phase))
    if following is None:
        return None
    value: datetime | None = getattr(round_, SCHEDULE_FIELD_FOR[following])
    return value


# --- validation ----------------------------------------------------------------------------------


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
        }:
            clean[key] = _check_bool(errors, key, value)
        elif key == "districts":
            clean[key] = _normalise_districts(errors, value)
        elif key == "themes":
            clean[key] = _normalise_themes(errors, value)
    return clean


def _merged_view(round_: Round | None, clean: Mapping[str, Any]) -> dict[str, Any]:
    """The round's settings after the change: current values overlaid with ``clean``."""
    view: dict[str, Any] = {}
    for key in SCALAR_FIELDS:
        if key in clean:
            view[key] = clean[key]
        elif round_ is not None:
            view[key] = getattr(round_, key)
        else:
            view[key] = _DEFAULTS.get(key)
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


_DEFAULTS: dict[str, Any] = {
    "description": "",
    "budget_scope": BudgetScope.CITY.value,
    "ballot_type": BallotType.KNAPSACK.value,
    "min_projects": 0,
    "min_budget_share_permille": 0,
    "blank_ballot_allowed": True,
    "counting_rule": CountingRule.GREEDY.value,
    "tie_break": TieBreak.LOWEST_COST.value,
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
    if ballot_type == BallotType.CHOOSE_ONE.value and _is_int(min_projects) and min_projects > 1:
        errors.add("min_projects", _("Bij één keuze is het minimum hoogstens 1."))
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


# --- writing -------------------------------------------------------------------------------------


def _frozen_value(round_: Round, key: str) -> Any:
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
    changed = [
        key
        for key, value in clean.items()
        if key not in EDITABLE_WHEN_FROZEN
        and _comparable(key, value) != _comparable(key, _frozen_value(round_, key))
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


async def _apply_children(session: AsyncSession, round_: Round, clean: Mapping[str, Any]) -> None:
    if "districts" in clean:
        round_.districts = await _merge_rows(
            session,
            round_,
            round_.districts,
            clean["districts"],
            District,
            "district_id",
            ("name", "budget_cents", "eligible"),
            _("De wijk '%(name)s' kan niet weg: er zijn voorstellen in deze wijk."),
            "districts",
        )
    if "themes" in clean:
        round_.themes = await _merge_rows(
            session,
            round_,
            round_.themes,
            clean["themes"],
            Theme,
            "theme_id",
            ("name", "max_spend_cents"),
            _("Het thema '%(name)s' kan niet weg: er zijn voorstellen met dit thema."),
            "themes",
        )


async def _merge_rows(  # noqa: PLR0917 - one private helper for two near-identical lists
    session: AsyncSession,
    round_: Round,
    existing: Sequence[Any],
    items: Sequence[Mapping[str, Any]],
    model: type[Any],
    proposal_column: str,
    attributes: tuple[str, ...],
    in_use_message: str,
    field: str,
) -> list[Any]:
    by_id = {row.id: row for row in existing}
    kept: list[Any] = []
    for position, item in enumerate(items):
        if item["id"] is not None:
            row = by_id.pop(item["id"], None)
            if row is None:
                raise ValidationFailed(
                    _("Onbekende wijk of thema in de lijst."),
                    fields={f"{field}.{position}.name": _("Hoort niet bij deze ronde.")},
                )
        else:
            row = model(round_id=round_.id) if round_.id is not None else model()
        for attribute in attributes:
            setattr(row, attribute, item[attribute])
        row.position = position
        kept.append(row)
    for removed in by_id.values():
        in_use = (
            await session.execute(
                select(func.count())
                .select_from(Proposal)
                .where(getattr(Proposal, proposal_column) == removed.id)
            )
        ).scalar_one()
        if in_use:
            raise Conflict(
                in_use_message % {"name": removed.name},
                fields={field: in_use_message % {"name": removed.name}},
            )
    # Renames that swap names between rows would clash with UNIQUE(round_id, name) mid-flush;
    # the flush order is not ours to choose, so refuse nothing here and let the savepoint in the
    # caller turn such a rare clash into a Conflict.
    return kept


async def create_round(
    session: AsyncSession, data: Mapping[str, Any], *, actor_id: int | None
) -> Round:
    """Create a round in the draft phase from ``data`` (validated); logged as ``round.create``."""
    clean = validate(None, data)
    round_ = Round(phase=Phase.DRAFT.value, phase_changed_at=utcnow(), districts=[], themes=[])
    for key, value in _DEFAULTS.items():
        setattr(round_, key, value)
    for key in SCALAR_FIELDS:
        if key in clean:
            setattr(round_, key, clean[key])
    await _apply_children(session, round_, clean)
    session.add(round_)
    await _flush(session)
    await record(
        session,
        actor_id=actor_id,
        action="round.create",
        subject_type="round",
        subject_id=round_.id,
        details={"fields": _audit_values(clean)},
    )
    return await get_round(session, round_.id)


async def update_round(
    session: AsyncSession,
    round_id: int,
    data: Mapping[str, Any],
    *,
    actor_id: int | None,
    reason: str | None = None,
) -> Round:
    """Change the fields in ``data``; ``Conflict`` for count-affecting fields once frozen."""
    round_ = await _locked_round(session, round_id)
    clean = validate(round_, data)
    before = {key: _frozen_value(round_, key) for key in clean}
    for key in SCALAR_FIELDS:
        if key in clean:
            setattr(round_, key, clean[key])
    await _apply_children(session, round_, clean)
    round_.updated_at = utcnow()
    await _flush(session)
    await record(
        session,
        actor_id=actor_id,
        action="round.update",
        subject_type="round",
        subject_id=round_.id,
        details={"before": _audit_values(before), "after": _audit_values(clean)},
        reason=reason,
    )
    return await get_round(session, round_.id)


async def _flush(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        logger.info("round write refused by a constraint: %s", type(exc.orig).__name__)
        raise Conflict(
            _("Deze wijziging botst met bestaande gegevens (bijvoorbeeld een dubbele naam).")
        ) from exc


def _audit_values(values: Mapping[str, Any]) -> dict[str, object]:
    return {key: _jsonable(value) for key, value in values.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


async def _locked_round(session: AsyncSession, round_id: int) -> Round:
    # FOR UPDATE on PostgreSQL serialises concurrent edits and phase moves of one round; SQLite
    # ignores it, but there every write transaction already holds the database lock (BEGIN
    # IMMEDIATE).
    result = await session.execute(
        select(Round)
        .where(Round.id == round_id)
        .with_for_update()
        .options(selectinload(Round.districts), selectinload(Round.themes))
        .execution_options(populate_existing=True)
    )
    round_ = result.scalar_one_or_none()
    if round_ is None:
        raise NotFound(_("Deze begrotingsronde bestaat niet."))
    return round_


# --- phases --------------------------------------------------------------------------------------


async def move_phase(
    session: AsyncSession,
    round_id: int,
    target: Phase,
    *,
    actor_id: int | None,
    reason: str | None,
    now: datetime | None = None,
) -> Round:
    """Move the round one step forward to ``target`` (which must be the next phase).

    Naming the target, rather than "next", makes a repeated click harmless: the second request
    finds the round already there and gets a ``Conflict`` instead of skipping a phase. Opening
    voting freezes and fingerprints the round. Logged as ``round.phase`` with the reason.
    """
    round_ = await _locked_round(session, round_id)
    await _move(session, round_, target, actor_id=actor_id, reason=reason, now=now or utcnow())
    return await get_round(session, round_id)


async def _move(
    session: AsyncSession,
    round_: Round,
    target: Phase,
    *,
    actor_id: int | None,
    reason: str | None,
    now: datetime,
) -> None:
    current = Phase(round_.phase)
    expected = next_phase(current)
    if expected != target:
        if expected is None:
            raise Conflict(_("Deze ronde is al gepubliceerd; er is geen volgende fase."))
        raise Conflict(
            _(
                "De ronde staat in de fase '%(current)s'; de volgende fase is '%(next)s'. "
                "Een ronde gaat alleen stap voor stap vooruit.",
                current=PHASE_NAMES_NL[current],
                next=PHASE_NAMES_NL[expected],
            )
        )
    if current == Phase.DRAFT and not round_.themes:
        raise Conflict(
            _("Voeg eerst minstens één thema toe: voorstellen worden per thema ingediend."),
            fields={"themes": _("Voeg minstens één thema toe.")},
        )
    details: dict[str, object] = {"from": current.value, "to": target.value}
    if target == Phase.VOTING:
        definition = await build_definition(session, round_)
        encoded = canonical_json(definition)
        round_.frozen_definition = encoded.decode("utf-8")
        round_.fingerprint = hashlib.sha256(encoded).hexdigest()
        round_.frozen_at = now
        details["fingerprint"] = round_.fingerprint
        details["projects"] = len(definition["projects"])
    round_.phase = target.value
    round_.phase_changed_at = now
    round_.updated_at = now
    await session.flush()
    await record(
        session,
        actor_id=actor_id,
        action="round.phase",
        subject_type="round",
        subject_id=round_.id,
        details=details,
        reason=reason,
    )


@dataclass(frozen=True, slots=True)
class PhaseMove:
    round_id: int
    from_phase: Phase
    to_phase: Phase


async def advance_due_phases(session: AsyncSession, now: datetime) -> list[PhaseMove]:
    """Move every round whose next phase's scheduled start has passed, as far as is due.

    Run by the app's background task and by ``burgerbegroting rounds tick`` (cron). A round that
    missed several starts (the server was down) catches up step by step, so opening voting still
    freezes it on the way. A move the rules refuse (a draft without themes) is logged and skipped;
    the caller commits.
    """
    moves: list[PhaseMove] = []
    candidates = (
        (
            await session.execute(
                select(Round.id).where(Round.phase != Phase.PUBLISHED.value).order_by(Round.id)
            )
        )
        .scalars()
        .all()
    )
    for round_id in candidates:
        round_ = await _locked_round(session, round_id)
        while True:
            current = Phase(round_.phase)
            following = next_phase(current)
            if following is None:
                break
            due: datetime | None = getattr(round_, SCHEDULE_FIELD_FOR[following])
            if due is None or due > now:
                break
            try:
                async with session.begin_nested():
                    await _move(
                        session,
                        round_,
                        following,
                        actor_id=None,
                        reason=_("Volgens planning"),
                        now=now,
                    )
            except Conflict as exc:
                logger.warning("round %s not moved to %s: %s", round_id, following, exc.message)
                await session.refresh(round_)
                break
            moves.append(PhaseMove(round_id, current, following))
    return moves


# --- the frozen definition -----------------------------------------------------------------------


def iso_utc(value: datetime) -> str:
    """``2027-03-01T09:00:00Z``: the one time format of canonical JSON."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8. Floats are refused: money is integer cents."""

    def refuse(obj: object) -> object:
        raise TypeError(f"not canonical: {type(obj).__name__}")

    def check(obj: object) -> None:
        if isinstance(obj, float):
            raise TypeError("floats are not allowed in the canonical definition")
        if isinstance(obj, dict):
            for item in obj.values():
                check(item)
        elif isinstance(obj, list):
            for item in obj:
                check(item)

    check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=refuse
    ).encode("utf-8")


async def accepted_projects(session: AsyncSession, round_id: int) -> list[Proposal]:
    """The round's accepted proposals: the projects on the ballot."""
    result = await session.execute(
        select(Proposal)
        .where(Proposal.round_id == round_id, Proposal.status == ProposalStatus.ACCEPTED.value)
        .order_by(Proposal.id)
        # Read what the database holds now, not what this session cached: verifying a fingerprint
        # must see a change made behind the session's back.
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def build_definition(session: AsyncSession, round_: Round) -> dict[str, Any]:
    """Everything that affects the count, as plain JSON values (see the module docstring)."""
    projects = await accepted_projects(session, round_.id)
    return {
        "format": DEFINITION_FORMAT,
        "round_id": round_.id,
        "budget": {"total_cents": round_.total_budget_cents, "scope": round_.budget_scope},
        "districts": [
            {"id": d.id, "name": d.name, "budget_cents": d.budget_cents, "eligible": d.eligible}
            for d in sorted(round_.districts, key=lambda d: d.id)
        ],
        "themes": [
            {"id": t.id, "name": t.name, "max_spend_cents": t.max_spend_cents}
            for t in sorted(round_.themes, key=lambda t: t.id)
        ],
        "ballot": {
            "type": round_.ballot_type,
            "approval_max_k": round_.approval_max_k,
            "cumulative_points": round_.cumulative_points,
            "min_projects": round_.min_projects,
            "max_projects": round_.max_projects,
            "min_budget_share_permille": round_.min_budget_share_permille,
            "blank_allowed": round_.blank_ballot_allowed,
        },
        "counting": {"rule": round_.counting_rule, "tie_break": round_.tie_break},
        "eligibility": {
            "min_age": round_.min_age,
            "districts": sorted(d.id for d in round_.districts if d.eligible),
            "vote_by_code": round_.vote_by_code,
            "vote_by_account": round_.vote_by_account,
        },
        "supports": {
            "enabled": round_.supports_enabled,
            "threshold": round_.support_threshold,
        },
        "projects": [
            {
                "id": p.id,
                "title": p.title,
                "cost_cents": p.municipal_cost_cents,
                "theme_id": p.theme_id,
                "district_id": p.district_id,
            }
            for p in projects
        ],
    }


async def fingerprint_now(session: AsyncSession, round_: Round) -> str:
    """SHA-256 of the definition as it stands now (equal to the stored one if nothing changed)."""
    return hashlib.sha256(canonical_json(await build_definition(session, round_))).hexdigest()


async def verify_fingerprint(session: AsyncSession, round_: Round) -> bool:
    """True when the frozen round's current definition still has its stored fingerprint."""
    if round_.fingerprint is None:
        return False
    return await fingerprint_now(session, round_) == round_.fingerprint
