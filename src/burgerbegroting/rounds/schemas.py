"""Request and response shapes of the rounds API (``/api/v1/rounds``).

Requests forbid unknown fields (400). Enumerated values (ballot type, rule, …) are plain strings
here so that the service answers an unknown value with a Dutch, field-level 422 instead of a
generic decoding error. Money is integer cents, times are ISO 8601 with an offset (stored UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from burgerbegroting.rounds import readiness
from burgerbegroting.rounds.counting import parse_order, parse_scores
from burgerbegroting.rounds.models import District, Round, Theme
from burgerbegroting.rounds.service import EDITABLE_WHEN_FROZEN, phase_ends_at


class DistrictIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    id: int | None = None
    budget_cents: int | None = None
    eligible: bool = True


class ThemeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    id: int | None = None
    max_spend_cents: int | None = None


class RoundCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    total_budget_cents: int
    description: str = ""
    budget_scope: str = "city"
    districts: list[DistrictIn] = msgspec.field(default_factory=list)
    themes: list[ThemeIn] = msgspec.field(default_factory=list)
    submission_starts_at: datetime | None = None
    review_starts_at: datetime | None = None
    voting_starts_at: datetime | None = None
    closed_starts_at: datetime | None = None
    published_starts_at: datetime | None = None
    ballot_type: str = "knapsack"
    approval_max_k: int | None = None
    cumulative_points: int | None = None
    min_projects: int = 0
    max_projects: int | None = None
    min_budget_share_permille: int = 0
    blank_ballot_allowed: bool = True
    counting_rule: str = "greedy"
    tie_break: str = "lowest-cost"
    tie_break_seed: str | None = None
    tie_break_order: list[int] | None = None
    greedy_threshold: int | None = None
    greedy_no_skip: bool = False
    leftover: str = "keep"
    ranked_scores: list[int] | None = None
    min_age: int | None = None
    vote_by_code: bool = True
    vote_by_account: bool = False
    supports_enabled: bool = False
    support_threshold: int | None = None
    export_public: bool = False


class RoundPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields sent are changed; ``null`` clears an optional field."""

    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    total_budget_cents: int | UnsetType = UNSET
    budget_scope: str | UnsetType = UNSET
    districts: list[DistrictIn] | UnsetType = UNSET
    themes: list[ThemeIn] | UnsetType = UNSET
    submission_starts_at: datetime | UnsetType | None = UNSET
    review_starts_at: datetime | UnsetType | None = UNSET
    voting_starts_at: datetime | UnsetType | None = UNSET
    closed_starts_at: datetime | UnsetType | None = UNSET
    published_starts_at: datetime | UnsetType | None = UNSET
    ballot_type: str | UnsetType = UNSET
    approval_max_k: int | UnsetType | None = UNSET
    cumulative_points: int | UnsetType | None = UNSET
    min_projects: int | UnsetType = UNSET
    max_projects: int | UnsetType | None = UNSET
    min_budget_share_permille: int | UnsetType = UNSET
    blank_ballot_allowed: bool | UnsetType = UNSET
    counting_rule: str | UnsetType = UNSET
    tie_break: str | UnsetType = UNSET
    tie_break_seed: str | UnsetType | None = UNSET
    tie_break_order: list[int] | UnsetType | None = UNSET
    greedy_threshold: int | UnsetType | None = UNSET
    greedy_no_skip: bool | UnsetType = UNSET
    leftover: str | UnsetType = UNSET
    ranked_scores: list[int] | UnsetType | None = UNSET
    min_age: int | UnsetType | None = UNSET
    vote_by_code: bool | UnsetType = UNSET
    vote_by_account: bool | UnsetType = UNSET
    supports_enabled: bool | UnsetType = UNSET
    support_threshold: int | UnsetType | None = UNSET
    export_public: bool | UnsetType = UNSET
    reason: str | UnsetType | None = UNSET


class PhaseMoveIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    phase: str
    reason: str


def to_data(body: RoundCreate | RoundPatch) -> dict[str, Any]:
    """The fields that were sent, as the plain mapping ``rounds.service`` takes."""
    data: dict[str, Any] = {}
    for field in body.__struct_fields__:
        if field == "reason":
            continue
        value = getattr(body, field)
        if value is UNSET:
            continue
        if field in {"districts", "themes"}:
            value = [msgspec.structs.asdict(item) for item in value]
        data[field] = value
    return data


class DistrictOut(msgspec.Struct):
    id: int
    name: str
    budget_cents: int | None
    eligible: bool


class ThemeOut(msgspec.Struct):
    id: int
    name: str
    max_spend_cents: int | None


class RoundOut(msgspec.Struct):
    id: int
    title: str
    description: str
    phase: str
    phase_changed_at: datetime
    phase_ends_at: datetime | None
    total_budget_cents: int
    budget_scope: str
    districts: list[DistrictOut]
    themes: list[ThemeOut]
    submission_starts_at: datetime | None
    review_starts_at: datetime | None
    voting_starts_at: datetime | None
    closed_starts_at: datetime | None
    published_starts_at: datetime | None
    ballot_type: str
    approval_max_k: int | None
    cumulative_points: int | None
    min_projects: int
    max_projects: int | None
    min_budget_share_permille: int
    blank_ballot_allowed: bool
    counting_rule: str
    tie_break: str
    tie_break_seed: str | None
    tie_break_order: list[int] | None
    greedy_threshold: int | None
    greedy_no_skip: bool
    leftover: str
    ranked_scores: list[int] | None
    min_age: int | None
    vote_by_code: bool
    vote_by_account: bool
    supports_enabled: bool
    support_threshold: int | None
    export_public: bool
    frozen: bool
    frozen_at: datetime | None
    fingerprint: str | None
    editable_when_frozen: list[str]
    # Allowed settings the municipality should choose knowingly (rounds.readiness.warnings), in the
    # request's language; they never block opening the vote.
    warnings: list[str]


def district_out(district: District) -> DistrictOut:
    return DistrictOut(
        id=district.id,
        name=district.name,
        budget_cents=district.budget_cents,
        eligible=district.eligible,
    )


def theme_out(theme: Theme) -> ThemeOut:
    return ThemeOut(id=theme.id, name=theme.name, max_spend_cents=theme.max_spend_cents)


def round_out(round_: Round) -> RoundOut:
    """The public view of a round (districts and themes must be loaded)."""
    return RoundOut(
        id=round_.id,
        title=round_.title,
        description=round_.description,
        phase=round_.phase,
        phase_changed_at=round_.phase_changed_at,
        phase_ends_at=phase_ends_at(round_),
        total_budget_cents=round_.total_budget_cents,
        budget_scope=round_.budget_scope,
        districts=[district_out(d) for d in round_.districts],
        themes=[theme_out(t) for t in round_.themes],
        submission_starts_at=round_.submission_starts_at,
        review_starts_at=round_.review_starts_at,
        voting_starts_at=round_.voting_starts_at,
        closed_starts_at=round_.closed_starts_at,
        published_starts_at=round_.published_starts_at,
        ballot_type=round_.ballot_type,
        approval_max_k=round_.approval_max_k,
        cumulative_points=round_.cumulative_points,
        min_projects=round_.min_projects,
        max_projects=round_.max_projects,
        min_budget_share_permille=round_.min_budget_share_permille,
        blank_ballot_allowed=round_.blank_ballot_allowed,
        counting_rule=round_.counting_rule,
        tie_break=round_.tie_break,
        tie_break_seed=round_.tie_break_seed,
        tie_break_order=parse_order(round_.tie_break_order),
        greedy_threshold=round_.greedy_threshold,
        greedy_no_skip=round_.greedy_no_skip,
        leftover=round_.leftover,
        ranked_scores=parse_scores(round_.ranked_scores),
        min_age=round_.min_age,
        vote_by_code=round_.vote_by_code,
        vote_by_account=round_.vote_by_account,
        supports_enabled=round_.supports_enabled,
        support_threshold=round_.support_threshold,
        export_public=round_.export_public,
        frozen=round_.is_frozen,
        frozen_at=round_.frozen_at,
        fingerprint=round_.fingerprint,
        editable_when_frozen=sorted(EDITABLE_WHEN_FROZEN),
        warnings=readiness.warnings(
            vote_by_code=round_.vote_by_code,
            vote_by_account=round_.vote_by_account,
            min_age=round_.min_age,
        ),
    )
