"""Admin overrides after the vote: a decision that departs from the computed outcome (a funded
project found infeasible), recorded with who, when and why beside the outcome, never in it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import User
from burgerbegroting.audit.service import record
from burgerbegroting.db import MAX_ID
from burgerbegroting.errors import Conflict, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.results.models import ResultOverride, RoundResult
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase

OVERRIDE_DECISIONS = ("not-funded", "funded")
REASON_MAX_LENGTH = 2000


def project_titles(definition: Mapping[str, Any]) -> dict[int, str]:
    return {int(p["id"]): str(p["title"]) for p in definition.get("projects", [])}


@dataclass(frozen=True, slots=True)
class OverrideView:
    id: int
    project_id: int
    project_title: str
    decision: str
    reason: str
    actor_id: int
    actor_name: str
    created_at: datetime


async def load_overrides(
    session: AsyncSession, round_id: int, definition: Mapping[str, Any]
) -> tuple[OverrideView, ...]:
    titles = project_titles(definition)
    rows = (
        await session.execute(
            select(ResultOverride, User.display_name)
            .join(User, User.id == ResultOverride.actor_id)
            .where(ResultOverride.round_id == round_id)
            .order_by(ResultOverride.id)
        )
    ).all()
    return tuple(
        OverrideView(
            id=o.id,
            project_id=o.project_id,
            project_title=titles.get(o.project_id, ""),
            decision=o.decision,
            reason=o.reason,
            actor_id=o.actor_id,
            actor_name=name,
            created_at=o.created_at,
        )
        for o, name in rows
    )


def _check_override(
    definition: Mapping[str, Any], project_id: object, decision: object, reason: object
) -> tuple[int, str, str]:
    """Every field error at once, under the API's field names."""
    errors: dict[str, str] = {}
    ids = {int(p["id"]) for p in definition.get("projects", [])}
    if (
        isinstance(project_id, bool)
        or not isinstance(project_id, int)
        or not 0 < project_id <= MAX_ID
        or project_id not in ids
    ):
        errors["project_id"] = _("Kies een project dat op het stembiljet van deze ronde stond.")
    if decision not in OVERRIDE_DECISIONS:
        errors["decision"] = _("Kies 'niet gefinancierd' of 'gefinancierd'.")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        errors["reason"] = _("Geef de reden van de correctie: die staat naast de uitslag.")
    elif any((ord(ch) < 0x20 and ch not in "\n\r\t") or ord(ch) == 0x7F for ch in text):
        # PostgreSQL refuses NUL in text; other control characters have no place in a reason.
        errors["reason"] = _("De reden bevat tekens die niet zijn toegestaan.")
    elif len(text) > REASON_MAX_LENGTH:
        errors["reason"] = _(
            "De reden is te lang (hoogstens %(max)s tekens).", max=REASON_MAX_LENGTH
        )
    if errors:
        raise ValidationFailed(
            _("De correctie is niet opgeslagen. Controleer de velden."), fields=errors
        )
    assert isinstance(project_id, int)
    assert isinstance(decision, str)
    return project_id, decision, text


async def add_override(
    session: AsyncSession,
    round_id: int,
    *,
    project_id: object,
    decision: object,
    reason: object,
    actor_id: int,
) -> OverrideView:
    """Record an admin's decision after the vote that departs from the computed outcome (for
    example a funded project found infeasible). Stored beside the outcome, never in it; written to
    the staff action log in the same transaction. Only once voting has closed."""
    round_ = await rounds.get_round(session, round_id)
    if round_.phase not in (Phase.CLOSED.value, Phase.PUBLISHED.value):
        raise Conflict(_("Een correctie op de uitslag kan pas als het stemmen gesloten is."))
    definition: dict[str, Any] = json.loads(round_.frozen_definition or "{}")
    pid, chosen, text = _check_override(definition, project_id, decision, reason)
    if await session.get(RoundResult, round_id) is None:
        raise Conflict(
            _("De telling van deze ronde is niet gevonden. Neem contact op met de beheerder.")
        )
    override = ResultOverride(
        round_id=round_id, project_id=pid, decision=chosen, reason=text, actor_id=actor_id
    )
    session.add(override)
    await session.flush()
    await record(
        session,
        actor_id=actor_id,
        action="results.override",
        subject_type="round",
        subject_id=round_id,
        details={"project_id": pid, "decision": chosen, "override_id": override.id},
        reason=text,
    )
    actor = await session.get(User, actor_id)
    return OverrideView(
        id=override.id,
        project_id=pid,
        project_title=project_titles(definition).get(pid, ""),
        decision=chosen,
        reason=text,
        actor_id=actor_id,
        actor_name=actor.display_name if actor is not None else "",
        created_at=override.created_at,
    )
