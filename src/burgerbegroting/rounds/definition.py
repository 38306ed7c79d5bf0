"""The frozen definition of a round: everything that affects the count as canonical JSON
(sorted keys, no whitespace, integer cents, UTC times, no floats) and its SHA-256 fingerprint."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds.counting import parse_order, parse_scores
from burgerbegroting.rounds.models import Round

DEFINITION_FORMAT = "burgerbegroting-round/2"


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


def counting_settings(round_: Round) -> dict[str, Any]:
    """The definition's ``counting`` object: the rule and every option the engine takes.

    ``seed`` is the published seed of the lot (``lowest-cost``; None: the engine's default, the
    election's fingerprint), ``order`` the explicit tie-break order (project ids), ``threshold``
    and ``no_skip`` greedy's options, ``leftover`` what greedy does with money theme caps left
    (``keep`` or ``fund-by-score``), ``ranked_scores`` the points per place of a ranked ballot
    (None: Borda, m, m-1, ...)."""
    return {
        "rule": round_.counting_rule,
        "tie_break": round_.tie_break,
        "seed": round_.tie_break_seed,
        "order": parse_order(round_.tie_break_order),
        "threshold": round_.greedy_threshold,
        "no_skip": round_.greedy_no_skip,
        "leftover": round_.leftover,
        "ranked_scores": parse_scores(round_.ranked_scores),
    }


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
        "counting": counting_settings(round_),
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
