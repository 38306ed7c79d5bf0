"""Round business rules: reading, writing, phases and freezing (checks in ``rounds.validation``,
the canonical definition and fingerprint in ``rounds.definition``).

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
with its SHA-256. Afterwards only ``EDITABLE_WHEN_FROZEN`` may change (texts, the closing and
publication times and whether the audit export becomes public, which do not change what is
counted); any other change is a ``Conflict``, and the database's triggers refuse it too.

**Readiness.** Voting opens only when the round can be voted on (``check_ready_for_voting``,
rules in ``rounds.readiness``): every proposal decided, an accepted project in every election,
``min_projects`` and the minimum budget share reachable, a complete explicit tie-break order.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from burgerbegroting import db
from burgerbegroting.audit.service import record
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds import readiness
from burgerbegroting.rounds.counting import parse_order
from burgerbegroting.rounds.definition import (
    DEFINITION_FORMAT,
    accepted_projects,
    build_definition,
    canonical_json,
    fingerprint_now,
    iso_utc,
    verify_fingerprint,
)
from burgerbegroting.rounds.models import PHASE_ORDER, District, Phase, Round, Theme
from burgerbegroting.rounds.validation import (
    DEFAULTS,
    EDITABLE_WHEN_FROZEN,
    FIELD_LABELS,
    SCALAR_FIELDS,
    SCHEDULE_FIELD_FOR,
    SCHEDULE_FIELDS,
    current_value,
    validate,
)
from burgerbegroting.voting.phases import on_phase

logger = logging.getLogger("burgerbegroting.rounds")

__all__ = [
    "DEFINITION_FORMAT",
    "EDITABLE_WHEN_FROZEN",
    "FIELD_LABELS",
    "PHASE_NAMES_NL",
    "SCHEDULE_FIELDS",
    "SCHEDULE_FIELD_FOR",
    "PhaseMove",
    "RoundSummary",
    "accepted_projects",
    "advance_due_phases",
    "assert_phase",
    "build_definition",
    "canonical_json",
    "create_round",
    "current_round",
    "current_round_summary",
    "fingerprint_now",
    "get_round",
    "get_round_held",
    "get_visible_round",
    "iso_utc",
    "list_rounds",
    "move_phase",
    "next_phase",
    "open_round_summaries",
    "phase_ends_at",
    "timeline",
    "update_round",
    "validate",
    "verify_fingerprint",
]

# --- reading -------------------------------------------------------------------------------------

# The largest id the database holds (``db.MAX_ID``). Path ids are checked once for every route
# (web/middleware.py); ids that arrive otherwise (the scheduler, other services) are checked here.
MAX_ID = db.MAX_ID


def _not_found() -> NotFound:
    return NotFound(_("Deze begrotingsronde bestaat niet."))


async def get_round(session: AsyncSession, round_id: int) -> Round:
    """The round with its districts and themes loaded; ``NotFound`` when it does not exist."""
    if not 0 < round_id <= MAX_ID:
        raise _not_found()
    result = await session.execute(
        select(Round)
        .where(Round.id == round_id)
        .options(selectinload(Round.districts), selectinload(Round.themes))
        .execution_options(populate_existing=True)
    )
    round_ = result.scalar_one_or_none()
    if round_ is None:
        raise _not_found()
    return round_


async def get_round_held(session: AsyncSession, round_id: int) -> Round:
    """Like ``get_round``, for a transaction that changes which of the round's proposals are on
    the ballot (a decision, a merge, a withdrawal): FOR SHARE on PostgreSQL holds off a phase move
    (FOR NO KEY UPDATE) until this transaction ends, and waits for one under way, so the change is
    either in the definition that opening voting freezes or is refused because the round is frozen
    (without it the opening could read the projects before the change commits). Writers of
    different proposals share the lock. SQLite serialises writers anyway (BEGIN IMMEDIATE)."""
    return await _round_with_lock(session, round_id, read=True)


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
class TimelineStep:
    """One phase of a round's timeline: when it starts and whether it is past, now or to come."""

    phase: Phase
    starts_at: datetime | None  # None: the municipality starts it by hand
    state: str  # "done" | "current" | "upcoming"


@dataclass(frozen=True, slots=True)
class RoundSummary:
    """What the phase banner on every page and the home page show."""

    id: int
    title: str
    phase: Phase
    phase_ends_at: datetime | None
    budget_cents: int
    timeline: tuple[TimelineStep, ...] = ()


def timeline(round_: Round) -> tuple[TimelineStep, ...]:
    """The public phases of ``round_`` in order with their scheduled starts (draft left out); the
    current phase with its actual start when that came before the plan (or there was none)."""
    current = PHASE_ORDER.index(Phase(round_.phase))
    steps = []
    for phase, name in SCHEDULE_FIELDS:
        index = PHASE_ORDER.index(phase)
        state = "done" if index < current else "current" if index == current else "upcoming"
        starts_at: datetime | None = getattr(round_, name)
        if state == "current" and (starts_at is None or starts_at > round_.phase_changed_at):
            # Entered before its planned start (an admin closed voting early, say): the step
            # says when it really began, not "(nu) vanaf" a date still to come.
            starts_at = round_.phase_changed_at
        steps.append(TimelineStep(phase=phase, starts_at=starts_at, state=state))
    return tuple(steps)


def _summary(round_: Round) -> RoundSummary:
    return RoundSummary(
        id=round_.id,
        title=round_.title,
        phase=Phase(round_.phase),
        phase_ends_at=phase_ends_at(round_),
        budget_cents=round_.total_budget_cents,
        timeline=timeline(round_),
    )


# Rounds residents can take part in now: submitting, supporting, following the review, voting.
OPEN_PHASES: tuple[Phase, ...] = (Phase.SUBMISSION, Phase.REVIEW, Phase.VOTING)


async def open_round_summaries(session: AsyncSession) -> list[RoundSummary]:
    """Every open round (submission, review or voting), the furthest along first, then newest.

    Several rounds can run at once (a city-wide and a youth round, say); each must be reachable
    from every public page, not only the one ``current_round`` picks.
    """
    order = case(
        (Round.phase == Phase.VOTING.value, 0),
        (Round.phase == Phase.REVIEW.value, 1),
        else_=2,
    )
    result = await session.execute(
        select(Round)
        .where(Round.phase.in_([p.value for p in OPEN_PHASES]))
        .order_by(order, Round.id.desc())
    )
    return [_summary(round_) for round_ in result.scalars()]


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
    return None if round_ is None else _summary(round_)


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


# --- writing -------------------------------------------------------------------------------------


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
    await _check_order_ids(session, None, clean)
    round_ = Round(phase=Phase.DRAFT.value, phase_changed_at=utcnow(), districts=[], themes=[])
    for key, value in DEFAULTS.items():
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
    """Change the fields in ``data``; ``Conflict`` for count-affecting fields once frozen.

    The audit entry names only the fields whose value changed; a request that changes nothing
    (an empty body, a form saved as it was) writes nothing and logs nothing."""
    round_ = await _locked_round(session, round_id)
    clean = validate(round_, data)
    await _check_order_ids(session, round_, clean)
    before = {key: current_value(round_, key) for key in clean}
    changed = [key for key in clean if _jsonable(before[key]) != _jsonable(clean[key])]
    if not changed:
        return round_
    before = {key: before[key] for key in changed}
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
        details={
            "before": _audit_values(before),
            "after": _audit_values({key: clean[key] for key in changed}),
        },
        reason=reason,
    )
    return await get_round(session, round_.id)


async def _check_order_ids(
    session: AsyncSession, round_: Round | None, clean: Mapping[str, Any]
) -> None:
    """An explicit tie-break order names proposals of this round. Which of them are accepted
    may still change until voting opens; then the order must name exactly the accepted ones
    (``rounds.readiness``)."""
    order = parse_order(clean.get("tie_break_order"))
    if not order:
        return
    known: set[int] = set()
    if round_ is not None:
        known = set(
            (
                await session.execute(
                    select(Proposal.id).where(
                        Proposal.round_id == round_.id, Proposal.id.in_(order)
                    )
                )
            ).scalars()
        )
    unknown = [pid for pid in order if pid not in known]
    if unknown:
        message = _(
            "Deze nummers zijn geen voorstellen van deze ronde: %(ids)s.",
            ids=", ".join(str(pid) for pid in unknown),
        )
        raise ValidationFailed(message, fields={"tie_break_order": message})


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
    # FOR NO KEY UPDATE on PostgreSQL serialises concurrent edits and phase moves of one round;
    # SQLite ignores it, but there every write transaction already holds the database lock (BEGIN
    # IMMEDIATE). Not plain FOR UPDATE: that also blocks the KEY SHARE lock every insert referring
    # to the round takes for its foreign key, so a cast holding the log head and inserting its
    # ballot deadlocked with a close holding the round and waiting for the log head.
    return await _round_with_lock(session, round_id, key_share=True)


async def _round_with_lock(
    session: AsyncSession, round_id: int, *, read: bool = False, key_share: bool = False
) -> Round:
    """The round with its districts and themes, read afresh under a row lock: ``read`` is FOR
    SHARE, ``key_share`` FOR NO KEY UPDATE (PostgreSQL; SQLite ignores both)."""
    if not 0 < round_id <= MAX_ID:
        raise _not_found()
    result = await session.execute(
        select(Round)
        .where(Round.id == round_id)
        .with_for_update(read=read, key_share=key_share)
        .options(selectinload(Round.districts), selectinload(Round.themes))
        .execution_options(populate_existing=True)
    )
    round_ = result.scalar_one_or_none()
    if round_ is None:
        raise _not_found()
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
        await check_ready_for_voting(session, round_)
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
    # Opening writes the ballot log's genesis; closing ends the log and counts (voting.phases).
    await on_phase(session, round_, target, now=now)
    await record(
        session,
        actor_id=actor_id,
        action="round.phase",
        subject_type="round",
        subject_id=round_.id,
        details=details,
        reason=reason,
    )


async def round_elections(session: AsyncSession, round_: Round) -> readiness.Elections:
    """The round's elections over its accepted projects (``rounds.readiness.plan_elections``)."""
    projects = [
        readiness.ProjectCost(p.id, p.municipal_cost_cents or 0, p.district_id)
        for p in await accepted_projects(session, round_.id)
    ]
    districts = [readiness.DistrictBudget(d.id, d.name, d.budget_cents) for d in round_.districts]
    return readiness.plan_elections(
        round_.budget_scope, round_.total_budget_cents, districts, projects
    )


async def check_ready_for_voting(session: AsyncSession, round_: Round) -> None:
    """``Conflict`` naming everything that keeps the round from opening for voting (see
    ``rounds.readiness``); nothing is changed."""
    pending = (
        await session.execute(
            select(func.count())
            .select_from(Proposal)
            .where(
                Proposal.round_id == round_.id,
                Proposal.status.in_(
                    [ProposalStatus.SUBMITTED.value, ProposalStatus.IN_REVIEW.value]
                ),
            )
        )
    ).scalar_one()
    found = readiness.problems(
        ballot_type=round_.ballot_type,
        min_projects=round_.min_projects,
        max_projects=round_.max_projects,
        min_budget_share_permille=round_.min_budget_share_permille,
        tie_break=round_.tie_break,
        tie_break_order=parse_order(round_.tie_break_order),
        elections=await round_elections(session, round_),
        pending=pending,
    )
    if found:
        raise Conflict(
            _(
                "Het stemmen kan nog niet worden geopend: %(problems)s",
                problems=" ".join(found.values()),
            ),
            fields=found,
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
