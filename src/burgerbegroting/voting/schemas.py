"""Request and response bodies of the voting API (explicit ``msgspec.Struct`` types)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from burgerbegroting.db import Id
from burgerbegroting.voting.models import ReceiptStatus

CodeText = Annotated[str, msgspec.Meta(max_length=64)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]


class IssueCodesIn(msgspec.Struct, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=200_000)]
    district_id: Id | None = None
    age_band: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class IssuedCodesOut(msgspec.Struct):
    batch_id: int
    round_id: int
    district_id: int | None
    age_band: str | None
    codes: list[str]


class BatchOut(msgspec.Struct):
    id: int
    district_id: int | None
    district_name: str | None
    age_band: str | None
    count: int
    redeemed: int
    created_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class RevokeBatchIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class RevokeCodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: CodeText
    reason: Reason
    void_ballot: bool = False


class RevokeCodeOut(msgspec.Struct):
    revoked: bool
    ballot_voided: bool


class RedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    code: CodeText


class VoterSessionOut(msgspec.Struct):
    token: str
    token_type: str
    round_id: int
    district_id: int | None
    expires_at: datetime


class ProjectOut(msgspec.Struct):
    id: int
    title: str
    summary: str
    cost_cents: int
    theme_id: int | None
    theme: str | None
    district_id: int | None
    district: str | None


class BallotRulesOut(msgspec.Struct):
    ballot_type: str
    budget_cents: int
    min_projects: int
    max_projects: int | None
    min_budget_share_permille: int
    approval_max_k: int | None
    cumulative_points: int | None
    blank_allowed: bool
    theme_caps: dict[str, int]


class BoothOut(msgspec.Struct):
    round_id: int
    round_title: str
    district_id: int | None
    district: str | None
    rules: BallotRulesOut
    projects: list[ProjectOut]
    ballot: dict[str, Any] | None
    receipt: str | None
    closes_at: datetime | None


class BallotIn(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of the fields, by the round's ballot type (see the voting issue)."""

    projects: list[Id] | None = None
    points: (
        dict[
            Annotated[str, msgspec.Meta(max_length=12)],
            Annotated[int, msgspec.Meta(ge=0, le=1_000_000)],
        ]
        | None
    ) = None
    ranking: list[Id] | None = None
    blank: bool | None = None
    district_id: Id | None = None  # account voting: the resident's district, on the first cast
    # Account voting in a round with a minimum age: the resident's declared age band, on the first
    # cast (one of voting.models.AGE_BANDS).
    age_band: Annotated[str, msgspec.Meta(max_length=8)] | None = None

    def raw(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("projects", "points", "ranking", "blank"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class CastOut(msgspec.Struct):
    receipt: str
    ballot: dict[str, Any]
    supersedes: str | None


class PaperBallotIn(msgspec.Struct, forbid_unknown_fields=True):
    code: CodeText
    ballot: BallotIn


class ReceiptStatusOut(msgspec.Struct):
    status: ReceiptStatus


class LogHeadOut(msgspec.Struct):
    round_id: int
    height: int
    head: str
    closed: bool
