"""Proposals: submission, editing, withdrawal, co-authors and supports, and the rules and loaders
the other proposal modules share.

Plain async functions over an ``AsyncSession``. They raise domain errors with Dutch messages and
never know about HTTP. Who may do what is decided here (authors edit, moderators review) on top of
the role guards on the controllers, because "is this user an author of this proposal" needs the
database. Review and merging live in ``review.py``, the gallery and the proposal page's data in
``gallery.py``; both build on this module, never the other way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.proposals.models import (
    MAX_COST_CENTS,
    AuthorRole,
    Proposal,
    ProposalAuthor,
    ProposalStatus,
    ProposalSupport,
)
from burgerbegroting.proposals.text import has_control_characters
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import BudgetScope, District, Phase, Round, Theme

S = ProposalStatus

# Maximum lengths (characters). The database columns are at least this wide.
LIMITS: dict[str, int] = {
    "title": 200,
    "summary": 500,
    "description": 10_000,
    "societal_effect": 3_000,
    "target_group": 300,
    "location": 300,
    "organisation_name": 200,
    "feasibility_notes": 10_000,
    "public_reasoning": 5_000,
}
MIN_TITLE = 5

PUBLIC_STATUSES: frozenset[str] = frozenset(
    {S.SUBMITTED, S.IN_REVIEW, S.CHANGES_REQUESTED, S.ACCEPTED, S.REJECTED, S.MERGED}
)
SUPPORTABLE: frozenset[str] = frozenset({S.SUBMITTED, S.IN_REVIEW, S.CHANGES_REQUESTED, S.ACCEPTED})
WITHDRAWABLE: frozenset[str] = frozenset(
    {S.DRAFT, S.SUBMITTED, S.IN_REVIEW, S.CHANGES_REQUESTED, S.ACCEPTED}
)
FROZEN_PHASES: frozenset[str] = frozenset({Phase.VOTING, Phase.CLOSED, Phase.PUBLISHED})
STATUS_LABELS: dict[str, str] = {
    S.DRAFT: N_("Concept"),
    S.SUBMITTED: N_("Ingediend"),
    S.IN_REVIEW: N_("In toetsing"),
    S.CHANGES_REQUESTED: N_("Aanpassing gevraagd"),
    S.ACCEPTED: N_("Goedgekeurd"),
    S.REJECTED: N_("Afgewezen"),
    S.WITHDRAWN: N_("Ingetrokken"),
    S.MERGED: N_("Samengevoegd"),
}
_ID = re.compile(r"^[0-9]{1,12}$")


def is_id(raw: str) -> bool:
    """True for a plain ASCII id ("²".isdigit() is True too, but int("²") fails)."""
    return bool(_ID.match(raw))


class Actor(Protocol):
    """The user doing something (``accounts.auth.CurrentUser`` fits; no web import needed)."""

    @property
    def id(self) -> int: ...

    def has(self, *roles: Role) -> bool: ...


@dataclass(slots=True)
class ProposalInput:
    """Fields a resident fills in. ``None`` means "not given" (kept as is on an edit)."""

    title: str | None = None
    summary: str | None = None
    description: str | None = None
    theme_id: int | None = None
    district_id: int | None = None
    city_wide: bool | None = None
    estimated_cost_cents: int | None = None
    societal_effect: str | None = None
    target_group: str | None = None
    location: str | None = None
    organisation_name: str | None = None
    given: frozenset[str] = field(default_factory=frozenset)
    """Names of fields explicitly present (so a PATCH can clear ``location`` with ``null``)."""


# --- helpers ------------------------------------------------------------------------------------


def _phase(round_: Round) -> str:
    return str(round_.phase)


def round_is_frozen(round_: Round) -> bool:
    return round_.is_frozen or _phase(round_) in FROZEN_PHASES


def supports_enabled(round_: Round) -> bool:
    return bool(round_.supports_enabled)


def support_threshold(round_: Round) -> int | None:
    """How many supports a proposal needs before it is reviewed (None: no threshold).

    The municipality's rule: a proposal that does not reach the round's threshold is not put to
    the moderators and cannot be accepted onto the ballot; it stays visible, can still collect
    support, and can be merged into another proposal or rejected."""
    if not round_.supports_enabled or not round_.support_threshold:
        return None
    return int(round_.support_threshold)


def assert_not_frozen(round_: Round) -> None:
    if round_is_frozen(round_):
        raise Conflict(
            _(
                "De stemming is geopend: voorstellen in deze ronde kunnen niet meer worden gewijzigd."
            )
        )


def clean(name: str, value: str | None, errors: dict[str, str]) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if has_control_characters(value):
        errors[name] = _("Bevat tekens die niet zijn toegestaan.")
    elif len(value) > LIMITS[name]:
        errors[name] = _("Maximaal %(max)s tekens (nu %(n)s).", max=LIMITS[name], n=len(value))
    return value


def validate_cost(
    name: str,
    cents: int | None,
    errors: dict[str, str],
    *,
    budget: int | None,
    district: str | None = None,
) -> None:
    """Costs are whole cents, positive, and not above the budget the project competes for (its
    district's in a round with a budget per district, else the round's total; see
    ``competing_budget``), nor above a hard ceiling."""
    if cents is None:
        return
    if isinstance(cents, bool) or not isinstance(cents, int):
        errors[name] = _("Geef een bedrag in hele centen.")
    elif cents <= 0:
        errors[name] = _("Het bedrag moet groter zijn dan nul.")
    elif cents > MAX_COST_CENTS:
        errors[name] = _("Dit bedrag is onrealistisch hoog.")
    elif budget is not None and cents > budget and district is not None:
        errors[name] = _(
            "Het bedrag is hoger dan het budget van de wijk %(district)s (%(budget)s).",
            district=district,
            budget=euros(budget),
        )
    elif budget is not None and cents > budget:
        errors[name] = _("Het bedrag is hoger dan het totale budget van de ronde.")


def euros(cents: int) -> str:
    """``€ 150.000`` or ``€ 1.250,50``: money in a Dutch message."""
    whole, rest = divmod(cents, 100)
    text = f"{whole:,}".replace(",", ".")
    return f"€ {text},{rest:02d}" if rest else f"€ {text}"


def round_budget(round_: Round) -> int | None:
    return round_.total_budget_cents


def districts_scope(round_: Round) -> bool:
    return str(round_.budget_scope) == BudgetScope.DISTRICTS.value


def competing_budget(round_: Round, district_id: int | None) -> tuple[int, str | None]:
    """The budget a project competes for, and the district's name when it is a district's.

    In a round with a budget per district each district is its own election over the projects
    located in it (``rounds.readiness``), so a project competes for its district's budget; in a
    city-wide round every project competes for the total. ``round_.districts`` must be loaded."""
    if districts_scope(round_) and district_id is not None:
        for district in round_.districts:
            if district.id == district_id and district.budget_cents is not None:
                return district.budget_cents, district.name
    return round_.total_budget_cents, None


def city_wide_refused() -> str:
    return _(
        "In deze ronde heeft elke wijk een eigen budget en stemmen inwoners alleen over hun eigen "
        "wijk: kies de wijk waar het voorstel over gaat. Stedelijke voorstellen kunnen niet."
    )


async def load(session: AsyncSession, proposal_id: int) -> Proposal:
    proposal = await session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(_("Dit voorstel bestaat niet."))
    return proposal


async def load_for_update(session: AsyncSession, proposal_id: int) -> Proposal:
    # Row lock on PostgreSQL (SQLite already holds the write lock: BEGIN IMMEDIATE).
    result = await session.execute(
        select(Proposal).where(Proposal.id == proposal_id).with_for_update()
    )
    proposal = result.scalar_one_or_none()
    if proposal is None:
        raise NotFound(_("Dit voorstel bestaat niet."))
    return proposal


async def load_with_round(session: AsyncSession, proposal_id: int) -> tuple[Proposal, Round]:
    """The proposal, locked, and its round, held against a phase move (``rounds.get_round_held``):
    for writes that can change which proposals are on the ballot. The round is locked first, in
    the order a phase move takes them, so the two cannot deadlock."""
    round_id = await session.scalar(select(Proposal.round_id).where(Proposal.id == proposal_id))
    if round_id is None:
        raise NotFound(_("Dit voorstel bestaat niet."))
    round_ = await rounds.get_round_held(session, round_id)
    return await load_for_update(session, proposal_id), round_


async def author_ids(session: AsyncSession, proposal_id: int) -> set[int]:
    rows = await session.scalars(
        select(ProposalAuthor.user_id).where(ProposalAuthor.proposal_id == proposal_id)
    )
    return set(rows)


async def _is_author(session: AsyncSession, proposal: Proposal, user: Actor | None) -> bool:
    if user is None:
        return False
    if proposal.author_id == user.id:
        return True
    return user.id in await author_ids(session, proposal.id)


def may_edit_in(round_: Round, proposal: Proposal) -> bool:
    phase = _phase(round_)
    if phase == Phase.SUBMISSION:
        return proposal.status in {S.DRAFT, S.SUBMITTED, S.CHANGES_REQUESTED}
    if phase == Phase.REVIEW:
        return proposal.status == S.CHANGES_REQUESTED
    return False


async def _check_theme_district(
    session: AsyncSession, round_id: int, data: ProposalInput, errors: dict[str, str]
) -> None:
    if data.theme_id is not None:
        theme = await session.get(Theme, data.theme_id)
        if theme is None or theme.round_id != round_id:
            errors["theme_id"] = _("Kies een thema van deze ronde.")
    if data.district_id is not None:
        district = await session.get(District, data.district_id)
        if district is None or district.round_id != round_id:
            errors["district_id"] = _("Kies een wijk van deze ronde, of stedelijk.")


def _incomplete(values: Proposal | _Draft) -> dict[str, str]:
    """What a submitted proposal still lacks (``values`` has the proposal's attributes)."""
    errors: dict[str, str] = {}
    if len(values.title or "") < MIN_TITLE:
        errors["title"] = _("Geef een titel van minstens %(min)s tekens.", min=MIN_TITLE)
    if not values.summary:
        errors["summary"] = _("Geef een korte samenvatting.")
    if not values.description:
        errors["description"] = _("Beschrijf uw voorstel.")
    if values.theme_id is None:
        errors["theme_id"] = _("Kies een thema.")
    if values.estimated_cost_cents is None:
        errors["estimated_cost_cents"] = _("Geef een schatting van de kosten.")
    if not values.societal_effect:
        errors["societal_effect"] = _("Beschrijf het beoogde maatschappelijk effect.")
    if not values.target_group:
        errors["target_group"] = _("Geef de doelgroep.")
    return errors


def _require_complete(proposal: Proposal, round_: Round) -> None:
    """A submitted proposal has every field a moderator needs (drafts may be incomplete), a
    district when the round has a budget per district, and an estimate within the budget it
    competes for."""
    errors: dict[str, str] = {}
    if districts_scope(round_) and proposal.district_id is None:
        errors["district_id"] = city_wide_refused()
    budget, district = competing_budget(round_, proposal.district_id)
    validate_cost(
        "estimated_cost_cents",
        proposal.estimated_cost_cents,
        errors,
        budget=budget,
        district=district,
    )
    for name, message in _incomplete(proposal).items():
        errors.setdefault(name, message)
    if errors:
        raise ValidationFailed(_("Het voorstel is nog niet compleet."), fields=errors)


async def _apply(
    session: AsyncSession,
    round_: Round,
    proposal: Proposal,
    data: ProposalInput,
    *,
    new: bool,
    require_complete: bool = False,
) -> None:
    """Check ``data`` and write it onto ``proposal``. With ``require_complete`` (submitting, or
    editing a submitted proposal) what the result would still lack is reported in the same
    ``ValidationFailed`` as the rest, so a form shows every problem after one submit."""
    errors: dict[str, str] = {}
    texts = {
        name: clean(name, getattr(data, name), errors)
        for name in (
            "title",
            "summary",
            "description",
            "societal_effect",
            "target_group",
            "location",
            "organisation_name",
        )
    }
    if new and not texts["title"]:
        errors["title"] = _("Geef een titel.")
    elif texts["title"] is not None and len(texts["title"]) < MIN_TITLE:
        errors["title"] = _("Geef een titel van minstens %(min)s tekens.", min=MIN_TITLE)
    await _check_theme_district(session, round_.id, data, errors)
    if data.city_wide and data.district_id is not None:
        errors["district_id"] = _("Kies een wijk of stedelijk, niet allebei.")
    elif (
        data.district_id is None
        and (data.city_wide or "district_id" in data.given)
        and districts_scope(round_)
    ):
        errors["district_id"] = city_wide_refused()
    # The estimate is checked against the budget of the district the proposal will have.
    district_after = (
        data.district_id
        if data.district_id is not None
        else None
        if data.city_wide or "district_id" in data.given
        else proposal.district_id
    )
    budget, district_name = competing_budget(round_, district_after)
    validate_cost(
        "estimated_cost_cents",
        data.estimated_cost_cents,
        errors,
        budget=budget,
        district=district_name,
    )
    if require_complete:
        missing = _incomplete(_would_be(proposal, data, texts))
        if missing and not errors:
            raise ValidationFailed(_("Het voorstel is nog niet compleet."), fields=missing)
        for name, message in missing.items():
            errors.setdefault(name, message)
    if errors:
        raise ValidationFailed(_("Controleer de gemarkeerde velden."), fields=errors)

    for name in ("title", "summary", "description", "societal_effect", "target_group"):
        value = texts[name]
        if value is not None:
            setattr(proposal, name, value)
    for name in ("location", "organisation_name"):
        if name in data.given or texts[name] is not None:
            setattr(proposal, name, texts[name] or None)
    if data.theme_id is not None:
        proposal.theme_id = data.theme_id
    if data.district_id is not None:
        proposal.district_id = data.district_id
    elif data.city_wide or "district_id" in data.given:
        proposal.district_id = None
    if data.estimated_cost_cents is not None:
        proposal.estimated_cost_cents = data.estimated_cost_cents


@dataclass(frozen=True, slots=True)
class _Draft:
    title: str | None
    summary: str | None
    description: str | None
    theme_id: int | None
    estimated_cost_cents: int | None
    societal_effect: str | None
    target_group: str | None


def _would_be(proposal: Proposal, data: ProposalInput, texts: dict[str, str | None]) -> _Draft:
    """The proposal as it would be after ``data`` is applied (what is not sent stays)."""

    def text(name: str) -> str | None:
        value = texts[name]
        return value if value is not None else getattr(proposal, name)

    return _Draft(
        title=text("title"),
        summary=text("summary"),
        description=text("description"),
        theme_id=data.theme_id if data.theme_id is not None else proposal.theme_id,
        estimated_cost_cents=data.estimated_cost_cents
        if data.estimated_cost_cents is not None
        else proposal.estimated_cost_cents,
        societal_effect=text("societal_effect"),
        target_group=text("target_group"),
    )


# --- residents ----------------------------------------------------------------------------------


async def create_proposal(
    session: AsyncSession, *, round_id: int, user: Actor, data: ProposalInput, submit: bool
) -> Proposal:
    """Save a new proposal as a draft, or submit it at once (submission phase only)."""
    round_ = await rounds.get_round(session, round_id)
    assert_not_frozen(round_)
    rounds.assert_phase(round_, Phase.SUBMISSION)
    now = utcnow()
    proposal = Proposal(
        round_id=round_.id,
        author_id=user.id,
        status=S.DRAFT.value,
        title="",
        summary="",
        description="",
        societal_effect="",
        target_group="",
        created_at=now,
        updated_at=now,
    )
    await _apply(session, round_, proposal, data, new=True, require_complete=submit)
    if submit:
        _require_complete(proposal, round_)
        proposal.status = S.SUBMITTED.value
        proposal.submitted_at = now
    session.add(proposal)
    await session.flush()
    session.add(
        ProposalAuthor(proposal_id=proposal.id, user_id=user.id, role=AuthorRole.AUTHOR.value)
    )
    await session.flush()
    return proposal


async def editable(session: AsyncSession, proposal_id: int, user: Actor) -> tuple[Proposal, Round]:
    proposal, round_ = await load_with_round(session, proposal_id)
    if not await _is_author(session, proposal, user):
        if proposal.status in PUBLIC_STATUSES:
            raise Forbidden(_("Alleen de indieners van dit voorstel kunnen het wijzigen."))
        raise NotFound(_("Dit voorstel bestaat niet."))
    assert_not_frozen(round_)
    return proposal, round_


async def update_proposal(
    session: AsyncSession,
    *,
    proposal_id: int,
    user: Actor,
    data: ProposalInput,
    submitting: bool = False,
) -> Proposal:
    """Edit a proposal: authors only, in the submission phase (or when changes were requested).

    ``submitting``: the edit is followed by ``submit_proposal``, so its completeness is checked
    together with the edit's own errors (one answer that lists everything)."""
    proposal, round_ = await editable(session, proposal_id, user)
    if not may_edit_in(round_, proposal):
        raise Conflict(
            _("Dit voorstel kan in deze fase of met deze status niet meer worden gewijzigd.")
        )
    await _apply(
        session,
        round_,
        proposal,
        data,
        new=False,
        require_complete=submitting or proposal.status != S.DRAFT,
    )
    if proposal.status != S.DRAFT:
        _require_complete(proposal, round_)
    proposal.updated_at = utcnow()
    await session.flush()
    return proposal


async def submit_proposal(session: AsyncSession, *, proposal_id: int, user: Actor) -> Proposal:
    """Submit a draft (submission phase) or resubmit after a moderator asked for changes."""
    proposal, round_ = await editable(session, proposal_id, user)
    phase = _phase(round_)
    if proposal.status == S.DRAFT:
        if phase != Phase.SUBMISSION:
            raise Conflict(_("Indienen kan alleen in de indieningsfase."))
    elif proposal.status == S.CHANGES_REQUESTED:
        if phase not in {Phase.SUBMISSION, Phase.REVIEW}:
            raise Conflict(_("Opnieuw indienen kan alleen in de indienings- of toetsingsfase."))
    else:
        raise Conflict(_("Dit voorstel is al ingediend."))
    _require_complete(proposal, round_)
    proposal.status = S.SUBMITTED.value
    proposal.submitted_at = utcnow()
    proposal.updated_at = proposal.submitted_at
    await session.flush()
    return proposal


async def withdraw_proposal(session: AsyncSession, *, proposal_id: int, user: Actor) -> Proposal:
    """An author withdraws a proposal (not after voting opened)."""
    proposal, _round = await editable(session, proposal_id, user)
    if proposal.status not in WITHDRAWABLE:
        raise Conflict(_("Dit voorstel kan niet meer worden ingetrokken."))
    proposal.status = S.WITHDRAWN.value
    proposal.updated_at = utcnow()
    await session.flush()
    return proposal


async def remove_coauthor(
    session: AsyncSession, *, proposal_id: int, user: Actor, coauthor_id: int
) -> None:
    """The author removes a co-author, or a co-author removes themselves."""
    proposal = await load_for_update(session, proposal_id)
    if user.id not in {proposal.author_id, coauthor_id}:
        raise Forbidden(_("Alleen de indiener kan mede-indieners verwijderen."))
    round_ = await rounds.get_round(session, proposal.round_id)
    assert_not_frozen(round_)
    if coauthor_id == proposal.author_id:
        raise Conflict(_("De indiener zelf kan niet worden verwijderd."))
    result = await session.execute(
        delete(ProposalAuthor).where(
            ProposalAuthor.proposal_id == proposal_id,
            ProposalAuthor.user_id == coauthor_id,
            ProposalAuthor.role == AuthorRole.COAUTHOR.value,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(_("Deze mede-indiener staat niet bij dit voorstel."))


# --- supports -----------------------------------------------------------------------------------


SUPPORT_PHASES: frozenset[str] = frozenset({Phase.SUBMISSION, Phase.REVIEW})
# Moderators decide (and merge) while proposals come in and during review; voting freezes them.
REVIEW_PHASES: frozenset[str] = frozenset({Phase.SUBMISSION, Phase.REVIEW})


def review_open(round_: Round) -> bool:
    """Whether moderators can decide on and merge the round's proposals now."""
    return _phase(round_) in REVIEW_PHASES and not round_is_frozen(round_)


def supports_open(round_: Round, proposal: Proposal) -> bool:
    """Supports count towards the review threshold, so they are collected only before voting."""
    return (
        supports_enabled(round_)
        and _phase(round_) in SUPPORT_PHASES
        and proposal.status in SUPPORTABLE
    )


async def _supportable(session: AsyncSession, proposal_id: int) -> Proposal:
    proposal = await load(session, proposal_id)
    if proposal.status not in PUBLIC_STATUSES:
        raise NotFound(_("Dit voorstel bestaat niet."))
    round_ = await rounds.get_round(session, proposal.round_id)
    if supports_open(round_, proposal):
        return proposal
    if not supports_enabled(round_):
        raise Conflict(_("In deze ronde worden geen steunbetuigingen verzameld."))
    if _phase(round_) not in SUPPORT_PHASES:
        raise Conflict(_("Steunen kan alleen tijdens de indienings- en toetsingsfase."))
    raise Conflict(_("Dit voorstel kan niet (meer) worden gesteund."))


async def add_support(session: AsyncSession, *, proposal_id: int, user: Actor) -> bool:
    """Support a proposal; idempotent. Returns True when a new support was stored.

    Not one's own: authors and co-authors are refused (``Conflict``).

    The UNIQUE(proposal_id, user_id) constraint decides under concurrency: a second simultaneous
    insert fails inside a savepoint and is reported as "already supported", not as an error.
    """
    proposal = await _supportable(session, proposal_id)
    if await _is_author(session, proposal, user):
        # Supports show that *other* residents back a plan (they decide whether it is reviewed
        # at all), so the author and co-authors cannot add theirs. See docs/architecture.md.
        raise Conflict(_("U kunt uw eigen voorstel niet steunen: steun komt van andere inwoners."))
    already = await session.scalar(
        select(ProposalSupport.id).where(
            ProposalSupport.proposal_id == proposal_id, ProposalSupport.user_id == user.id
        )
    )
    if already is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(ProposalSupport(proposal_id=proposal_id, user_id=user.id))
    except IntegrityError:
        return False
    return True


async def remove_support(session: AsyncSession, *, proposal_id: int, user: Actor) -> bool:
    """Withdraw a support; idempotent. Returns True when a support was removed."""
    await _supportable(session, proposal_id)
    result = await session.execute(
        delete(ProposalSupport).where(
            ProposalSupport.proposal_id == proposal_id, ProposalSupport.user_id == user.id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def support_count(session: AsyncSession, proposal_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ProposalSupport)
        .where(ProposalSupport.proposal_id == proposal_id)
    )
    return int(count or 0)


async def ensure_logged_in(user: Actor | None) -> Actor:
    if user is None:
        raise NotAuthenticated(_("U bent niet ingelogd. Log in en probeer het opnieuw."))
    return user
