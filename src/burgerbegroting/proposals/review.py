"""Proposals: the moderators' review, merging duplicates, and the review queue.

Plain async functions over an ``AsyncSession``, on the rules and loaders of ``service.py``. They
raise domain errors with Dutch messages and never know about HTTP; the authors are told of a
decision by e-mail and the audit log keeps every decision and merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import mail
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service as audit
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, Forbidden, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.proposals.gallery import (
    GalleryRow,
    gallery_row,
    rows_query,
    support_count_column,
)
from burgerbegroting.proposals.models import (
    AuthorRole,
    Proposal,
    ProposalAuthor,
    ProposalStatus,
    ProposalSupport,
)
from burgerbegroting.proposals.service import (
    REVIEW_PHASES,
    STATUS_LABELS,
    Actor,
    assert_not_frozen,
    author_ids,
    city_wide_refused,
    clean,
    competing_budget,
    districts_scope,
    load_with_round,
    review_open,
    support_count,
    support_threshold,
    validate_cost,
)
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Round
from burgerbegroting.settings import Settings

S = ProposalStatus

# Statuses a moderator can still decide on (before voting freezes the round).
REVIEWABLE: frozenset[str] = frozenset(
    {S.SUBMITTED, S.IN_REVIEW, S.CHANGES_REQUESTED, S.ACCEPTED, S.REJECTED}
)
DECISIONS: frozenset[str] = frozenset({S.IN_REVIEW, S.ACCEPTED, S.REJECTED, S.CHANGES_REQUESTED})


# --- moderators ---------------------------------------------------------------------------------


async def _notify_authors(
    session: AsyncSession, settings: Settings, proposal: Proposal, subject: str, body: str
) -> None:
    emails = await session.scalars(
        select(User.email)
        .join(ProposalAuthor, ProposalAuthor.user_id == User.id)
        .where(ProposalAuthor.proposal_id == proposal.id)
        .order_by(User.id)
    )
    for address in emails:
        await mail.send_mail(settings, to=address, subject=subject, body=body)


@dataclass(frozen=True, slots=True)
class ReviewInput:
    decision: str
    municipal_cost_cents: int | None = None
    feasibility_notes: str | None = None
    public_reasoning: str | None = None


async def review_proposal(
    session: AsyncSession,
    settings: Settings,
    *,
    proposal_id: int,
    moderator: Actor,
    data: ReviewInput,
) -> Proposal:
    """Record a moderator's decision; the authors are told by e-mail; the audit log keeps it."""
    if not moderator.has(Role.MODERATOR):
        raise Forbidden(_("Alleen toetsers kunnen voorstellen beoordelen."))
    proposal, round_ = await load_with_round(session, proposal_id)
    assert_not_frozen(round_)
    errors: dict[str, str] = {}
    if data.decision not in DECISIONS:
        errors["decision"] = _("Kies goedkeuren, afwijzen of aanpassing vragen.")
    notes = clean("feasibility_notes", data.feasibility_notes, errors)
    reasoning = clean("public_reasoning", data.public_reasoning, errors)
    # The municipal cost is the cost on the ballot: it must fit the budget the project competes
    # for (its district's in a round with a budget per district).
    budget, district = competing_budget(round_, proposal.district_id)
    validate_cost(
        "municipal_cost_cents",
        data.municipal_cost_cents,
        errors,
        budget=budget,
        district=district,
    )
    if data.decision == S.ACCEPTED and data.municipal_cost_cents is None:
        errors["municipal_cost_cents"] = _(
            "Een goedgekeurd voorstel heeft een gemeentelijke kostenraming nodig."
        )
    if data.decision in {S.REJECTED, S.CHANGES_REQUESTED, S.ACCEPTED} and not reasoning:
        errors["public_reasoning"] = _("Geef een openbare toelichting bij het besluit.")
    if errors:
        raise ValidationFailed(_("Controleer de gemarkeerde velden."), fields=errors)
    if not review_open(round_):
        raise Conflict(_("Toetsen kan alleen tijdens de indienings- en toetsingsfase."))
    if proposal.status not in REVIEWABLE:
        raise Conflict(
            _("Dit voorstel kan niet worden getoetst (concept, ingetrokken of samengevoegd).")
        )
    threshold = support_threshold(round_)
    if threshold is not None and data.decision in {S.ACCEPTED, S.IN_REVIEW}:
        supports = await support_count(session, proposal.id)
        if supports < threshold:
            raise Conflict(
                _(
                    "Dit voorstel heeft %(supports)s van de %(threshold)s steunbetuigingen die "
                    "nodig zijn om getoetst te worden. Afwijzen of samenvoegen kan wel.",
                    supports=supports,
                    threshold=threshold,
                )
            )

    if data.decision == S.ACCEPTED and districts_scope(round_) and proposal.district_id is None:
        # A city-wide project has no election in a round with a budget per district.
        raise Conflict(city_wide_refused(), fields={"district_id": city_wide_refused()})

    previous = proposal.status
    proposal.status = data.decision
    if data.municipal_cost_cents is not None:
        proposal.municipal_cost_cents = data.municipal_cost_cents
    if notes is not None:
        proposal.feasibility_notes = notes or None
    if reasoning is not None:
        proposal.public_reasoning = reasoning or None
    proposal.reviewed_by_id = moderator.id
    proposal.reviewed_at = utcnow()
    proposal.updated_at = proposal.reviewed_at
    await session.flush()
    await audit.record(
        session,
        actor_id=moderator.id,
        action="proposal.review",
        subject_type="proposal",
        subject_id=proposal.id,
        details={
            "from": previous,
            "to": proposal.status,
            "municipal_cost_cents": proposal.municipal_cost_cents,
        },
        reason=reasoning,
    )
    if data.decision != S.IN_REVIEW:
        label = STATUS_LABELS[data.decision].lower()
        await _notify_authors(
            session,
            settings,
            proposal,
            subject=f"Uw voorstel is beoordeeld: {label}",
            body=(
                f"Uw voorstel \u201c{proposal.title}\u201d is beoordeeld: {label}.\n\n"
                f"Toelichting:\n{proposal.public_reasoning or ''}\n\n"
                f"Bekijk het voorstel: {settings.base_url}/voorstellen/{proposal.id}\n"
            ),
        )
    return proposal


async def merge_proposals(
    session: AsyncSession,
    settings: Settings,
    *,
    source_id: int,
    target_id: int,
    moderator: Actor,
    reason: str,
) -> Proposal:
    """Merge duplicate ``source`` into ``target``: every author of the source is credited on the
    target, supports move over (one per resident still), and the source points at the target."""
    if not moderator.has(Role.MODERATOR):
        raise Forbidden(_("Alleen toetsers kunnen voorstellen samenvoegen."))
    errors: dict[str, str] = {}
    reason_clean = clean("public_reasoning", reason, errors) or ""
    if not reason_clean:
        errors["reason"] = _("Geef een reden voor het samenvoegen.")
    if source_id == target_id:
        errors["into_id"] = _("Een voorstel kan niet met zichzelf worden samengevoegd.")
    if errors:
        raise ValidationFailed(_("Controleer de gemarkeerde velden."), fields=errors)
    # The source's round first (held against a phase move, as in ``load_with_round``), then both
    # rows in id order so two opposite merges cannot deadlock.
    source_round = await session.scalar(select(Proposal.round_id).where(Proposal.id == source_id))
    if source_round is not None:
        await rounds.get_round_held(session, source_round)
    locked = {
        p.id: p
        for p in (
            await session.scalars(
                select(Proposal)
                .where(Proposal.id.in_([source_id, target_id]))
                .order_by(Proposal.id)
                .with_for_update()
            )
        )
    }
    if source_id not in locked:
        raise NotFound(_("Dit voorstel bestaat niet."))
    if target_id not in locked:
        raise ValidationFailed(
            _("Het doelvoorstel bestaat niet."), fields={"into_id": _("Dit voorstel bestaat niet.")}
        )
    source, target = locked[source_id], locked[target_id]
    if source.round_id != target.round_id:
        raise ValidationFailed(
            _("Alleen voorstellen uit dezelfde ronde kunnen worden samengevoegd."),
            fields={"into_id": _("Kies een voorstel uit dezelfde ronde.")},
        )
    round_ = await rounds.get_round(session, source.round_id)
    assert_not_frozen(round_)
    if not review_open(round_):
        raise Conflict(_("Samenvoegen kan alleen tijdens de indienings- en toetsingsfase."))
    for p in (source, target):
        if p.status not in REVIEWABLE:
            raise Conflict(
                _(
                    "Voorstel %(id)s kan niet worden samengevoegd (concept, ingetrokken of al "
                    "samengevoegd).",
                    id=p.id,
                )
            )

    target_authors = await author_ids(session, target.id)
    for user_id in sorted(await author_ids(session, source.id)):
        if user_id not in target_authors:
            session.add(
                ProposalAuthor(
                    proposal_id=target.id, user_id=user_id, role=AuthorRole.COAUTHOR.value
                )
            )
    target_supporters = set(
        await session.scalars(
            select(ProposalSupport.user_id).where(ProposalSupport.proposal_id == target.id)
        )
    )
    moved = 0
    for user_id in await session.scalars(
        select(ProposalSupport.user_id).where(ProposalSupport.proposal_id == source.id)
    ):
        if user_id not in target_supporters:
            session.add(ProposalSupport(proposal_id=target.id, user_id=user_id))
            moved += 1
    await session.execute(delete(ProposalSupport).where(ProposalSupport.proposal_id == source.id))
    previous = source.status
    source.status = S.MERGED.value
    source.merged_into_id = target.id
    source.public_reasoning = reason_clean
    source.reviewed_by_id = moderator.id
    source.reviewed_at = utcnow()
    source.updated_at = source.reviewed_at
    await session.flush()
    await audit.record(
        session,
        actor_id=moderator.id,
        action="proposal.merge",
        subject_type="proposal",
        subject_id=source.id,
        details={"from": previous, "into": target.id, "supports_moved": moved},
        reason=reason_clean,
    )
    await _notify_authors(
        session,
        settings,
        source,
        subject="Uw voorstel is samengevoegd",
        body=(
            f"Uw voorstel \u201c{source.title}\u201d is samengevoegd met \u201c{target.title}\u201d. "
            "U staat als indiener bij dat voorstel.\n\n"
            f"Toelichting:\n{reason_clean}\n\n"
            f"Bekijk het voorstel: {settings.base_url}/voorstellen/{target.id}\n"
        ),
    )
    return target


async def review_queue(
    session: AsyncSession,
    *,
    round_id: int | None = None,
    threshold: Literal["any", "reached", "below"] = "any",
) -> list[GalleryRow]:
    """Proposals waiting for a moderator (submitted, in review, changes requested), oldest first,
    in rounds where moderators can still decide (``review_open``).

    ``threshold``: ``"reached"`` keeps only proposals that have the support their round asks for
    (the moderators' queue), ``"below"`` only those still short of it, ``"any"`` both (merge
    candidates: merging is how small duplicates pool their support)."""
    stmt = (
        rows_query()
        .join(Round, Round.id == Proposal.round_id)
        .where(
            Proposal.status.in_([S.SUBMITTED.value, S.IN_REVIEW.value, S.CHANGES_REQUESTED.value]),
            Round.phase.in_(REVIEW_PHASES),
            Round.frozen_at.is_(None),
        )
    )
    if round_id is not None:
        stmt = stmt.where(Proposal.round_id == round_id)
    if threshold != "any":
        no_threshold = or_(
            Round.supports_enabled.is_(False),
            Round.support_threshold.is_(None),
            Round.support_threshold == 0,
        )
        reached = or_(no_threshold, support_count_column() >= Round.support_threshold)
        stmt = stmt.where(reached if threshold == "reached" else ~reached)
    stmt = stmt.order_by(Proposal.submitted_at.asc(), Proposal.id.asc()).limit(500)
    return [gallery_row(r) for r in (await session.execute(stmt)).all()]
