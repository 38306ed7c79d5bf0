"""Request and response bodies of the results API (explicit ``msgspec.Struct`` types).

Money is integer cents; exact MES amounts are "p/q" strings of cents next to a rounded figure for
display; percentages are display strings ("12.5"). Participation counts under 10 are ``"<10"``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class OverrideIn(msgspec.Struct, forbid_unknown_fields=True):
    # Optional here so the service can answer every missing or wrong field at once, in Dutch.
    project_id: int | None = None
    decision: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None


class OverrideOut(msgspec.Struct):
    id: int
    project_id: int
    project_title: str
    decision: str
    reason: str
    actor_id: int
    actor_name: str
    created_at: datetime


class FundedOut(msgspec.Struct):
    project_id: int
    title: str
    votes: int
    cost_cents: int
    budget_share_percent: str | None
    price_per_voter: str | None
    price_per_voter_cents: int | None
    overrides: list[OverrideOut]
    # MES on cumulative ballots: the price of one point ("p/q" cents, and rounded); a supporter
    # pays it for every point they gave, so there is no single price per supporter.
    price_per_point: str | None
    price_per_point_cents: int | None
    # Funded by Amsterdam's leftover pass: with money the theme caps left, outside the caps.
    funded_by_leftover: bool


class NotFundedOut(msgspec.Struct):
    project_id: int
    title: str
    votes: int
    cost_cents: int
    reason: str
    reason_text: str
    overrides: list[OverrideOut]


class ComparisonOut(msgspec.Struct):
    rule: str
    funded: list[int]
    only_mes: list[int]
    only_greedy: list[int]
    cost_cents: int
    voters: int
    voters_with_funded_mes: int
    voters_with_funded_greedy: int
    share_with_funded_mes_percent: str | None
    share_with_funded_greedy_percent: str | None


class ElectionOut(msgspec.Struct):
    district_id: int | None
    district_name: str | None
    budget_cents: int
    ballots: int
    blank: int
    budget_used_cents: int
    budget_left_cents: int
    funded: list[FundedOut]
    not_funded: list[NotFundedOut]
    tie_break_order: list[int]
    seed: str | None
    ties: list[list[int]]
    ties_decided_by_lot: list[list[int]]
    per_voter_budget: str | None
    per_voter_budget_cents: int | None
    greedy_comparison: ComparisonOut | None


class ParticipationRowOut(msgspec.Struct):
    label: str
    codes_issued: int | None
    ballots: int | str
    turnout_percent: str | None


class ParticipationOut(msgspec.Struct):
    ballots: int | str
    codes_issued: int
    turnout_percent: str | None
    districts: list[ParticipationRowOut]
    channels: list[ParticipationRowOut]
    age_bands: list[ParticipationRowOut]


class ResultsOut(msgspec.Struct):
    round_id: int
    title: str
    phase: str
    published: bool
    rule: str
    tie_break: str
    seed: str | None
    fingerprint: str
    log_head: str
    log_height: int
    engine_version: str
    results_digest: str
    counted_at: datetime
    elections: list[ElectionOut]
    participation: ParticipationOut
    overrides: list[OverrideOut]
