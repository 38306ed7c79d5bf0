"""The booth: what a voter sees (the projects they may choose, the rules, their current ballot and
draft), the check of a ballot against the voter's rules, and the draft kept while choosing.

The draft is the booth's unconfirmed choices, stored server-side so a lost connection loses
nothing: never counted, never logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.rounds.models import Theme
from burgerbegroting.voting import ballots as rules_mod
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.context import VoterContext
from burgerbegroting.voting.messages import ballot_problem_message
from burgerbegroting.voting.models import Ballot, Voter
from burgerbegroting.voting.round_access import require_voting


@dataclass(frozen=True, slots=True)
class BoothProject:
    id: int
    title: str
    summary: str
    cost_cents: int
    theme_id: int | None
    theme: str | None
    district_id: int | None
    district: str | None


@dataclass(frozen=True, slots=True)
class Booth:
    round_id: int
    round_title: str
    election_key: int | None
    district_name: str | None
    ballot_type: str
    budget_cents: int
    min_projects: int
    max_projects: int | None
    min_budget_share_permille: int
    approval_max_k: int | None
    cumulative_points: int | None
    blank_allowed: bool
    theme_caps: dict[int, int]
    projects: list[BoothProject]
    current: dict[str, Any] | None
    receipt: str | None
    draft: dict[str, Any] | None
    closes_at: datetime | None


async def booth(session: AsyncSession, ctx: VoterContext) -> Booth:
    """What the voter sees: the projects they may choose, the rules, their current ballot."""
    ids = sorted(ctx.rules.projects)
    details: dict[int, Proposal] = {}
    if ids:
        rows = (await session.execute(select(Proposal).where(Proposal.id.in_(ids)))).scalars()
        details = {p.id: p for p in rows}
    themes = {
        t.id: t.name
        for t in (
            await session.execute(select(Theme).where(Theme.round_id == ctx.round.id))
        ).scalars()
    }
    districts = {d["id"]: d["name"] for d in ctx.definition["districts"]}
    projects = [
        BoothProject(
            id=pid,
            title=str(ctx.rules.projects[pid]["title"]),
            summary=details[pid].summary if pid in details else "",
            cost_cents=int(ctx.rules.projects[pid]["cost_cents"]),
            theme_id=ctx.rules.projects[pid].get("theme_id"),
            theme=themes.get(ctx.rules.projects[pid].get("theme_id") or 0),
            district_id=ctx.rules.projects[pid].get("district_id"),
            district=districts.get(ctx.rules.projects[pid].get("district_id") or 0),
        )
        for pid in ids
    ]
    current: dict[str, Any] | None = None
    receipt: str | None = None
    if ctx.voter.current_ballot_id is not None:
        ballot = await session.get(Ballot, ctx.voter.current_ballot_id)
        if ballot is not None:
            current = json.loads(ballot.content)
            receipt = ballot.receipt
    draft = json.loads(ctx.voter.draft) if ctx.voter.draft else None
    return Booth(
        round_id=ctx.round.id,
        round_title=ctx.round.title,
        election_key=ctx.election_key,
        district_name=districts.get(ctx.voter.district_id or 0),
        ballot_type=ctx.rules.ballot_type,
        budget_cents=ctx.rules.budget_cents,
        min_projects=ctx.rules.min_projects,
        max_projects=ctx.rules.max_projects,
        min_budget_share_permille=ctx.rules.min_budget_share_permille,
        approval_max_k=ctx.rules.approval_max_k,
        cumulative_points=ctx.rules.cumulative_points,
        blank_allowed=ctx.rules.blank_allowed,
        theme_caps=dict(ctx.rules.theme_caps),
        projects=projects,
        current=current,
        receipt=receipt,
        draft=draft,
        closes_at=ctx.round.closes_at,
    )


def check_ballot(ctx: VoterContext, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content of ``raw`` under the voter's rules, or ``ValidationFailed`` (422)
    naming the rule broken, with the field pointer as the field name."""
    try:
        return rules_mod.normalise(ctx.rules, raw)
    except rules_mod.BallotProblem as problem:
        message = ballot_problem_message(problem)
        raise ValidationFailed(message, fields={problem.pointer: message}) from problem


async def save_draft(session: AsyncSession, ctx: VoterContext, raw: Mapping[str, Any]) -> None:
    """Keep the booth's unconfirmed choices server-side (never counted, never logged)."""
    require_voting(ctx.round)
    text = canonical_json(dict(raw)).decode("utf-8")
    if len(text) > 20_000:
        raise ValidationFailed(_("Te veel keuzes."))
    await session.execute(
        update(Voter)
        .where(Voter.id == ctx.voter.id)
        .values(draft=text)
        .execution_options(synchronize_session=False)
    )
    ctx.voter.draft = text
