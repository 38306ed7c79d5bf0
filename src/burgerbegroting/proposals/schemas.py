"""Request and response bodies of the proposals API (msgspec; unknown request fields are a 400).

Length and range rules live in the service (one place, Dutch field messages); the types here keep
out what cannot be meant (a cost that is not a whole number, a title that is a list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from burgerbegroting.db import Id


class ProposalCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: str
    summary: str = ""
    description: str = ""
    theme_id: Id | None = None
    district_id: Id | None = None
    estimated_cost_cents: int | None = None
    societal_effect: str = ""
    target_group: str = ""
    location: str | None = None
    organisation_name: str | None = None
    submit: bool = False
    """False saves a draft; True submits at once (all fields required then)."""


class ProposalUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    title: str | msgspec.UnsetType = msgspec.UNSET
    summary: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    theme_id: Id | msgspec.UnsetType = msgspec.UNSET
    district_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    """``null`` makes the proposal city-wide."""
    estimated_cost_cents: int | msgspec.UnsetType = msgspec.UNSET
    societal_effect: str | msgspec.UnsetType = msgspec.UNSET
    target_group: str | msgspec.UnsetType = msgspec.UNSET
    location: str | msgspec.UnsetType | None = msgspec.UNSET
    organisation_name: str | msgspec.UnsetType | None = msgspec.UNSET


class ReviewRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    decision: Literal["in_review", "accepted", "rejected", "changes_requested"]
    municipal_cost_cents: int | None = None
    feasibility_notes: str | None = None
    public_reasoning: str | None = None


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    into_id: Id
    reason: str


class CoauthorInvite(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    message: str | None = None
    """A short personal note quoted in the invitation mail (at most 500 characters)."""


class InvitationAccept(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Give ``token`` (from the mailed link) or, for an invitation sent to your own account
    address, its ``invitation_id``. The token is only ever sent in a body, never in a URL."""

    token: str | None = None
    invitation_id: Id | None = None
    organisation_name: str | None = None
    """Accept on behalf of an organisation working on the same theme: credited beside you."""


class InvitationDecline(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: str | None = None
    invitation_id: Id | None = None


class InvitationOut(msgspec.Struct):
    id: int
    proposal_id: int
    proposal_title: str
    email: str
    invited_by: str
    message: str | None
    status: str
    """pending, accepted, declined, revoked or expired."""
    created_at: datetime
    expires_at: datetime
    usable: bool
    problem: str | None
    """Why it can no longer be accepted, in Dutch (None while it can)."""


class CreditOut(msgspec.Struct):
    user_id: int
    display_name: str
    role: str
    organisation_name: str | None = None


class SupportOut(msgspec.Struct):
    proposal_id: int
    supported: bool
    support_count: int


class ProposalSummaryOut(msgspec.Struct):
    id: int
    round_id: int
    title: str
    summary: str
    status: str
    theme_id: int | None
    theme: str | None
    district_id: int | None
    district: str | None
    city_wide: bool
    estimated_cost_cents: int | None
    municipal_cost_cents: int | None
    organisation_name: str | None
    right_to_challenge: bool
    support_count: int
    created_at: datetime
    submitted_at: datetime | None


class ProposalOut(msgspec.Struct):
    id: int
    round_id: int
    title: str
    summary: str
    description: str
    description_html: str
    """The description as sanitised HTML (the Markdown subset); safe to embed as is."""
    societal_effect: str
    societal_effect_html: str
    target_group: str
    location: str | None
    status: str
    theme_id: int | None
    theme: str | None
    district_id: int | None
    district: str | None
    city_wide: bool
    estimated_cost_cents: int | None
    municipal_cost_cents: int | None
    public_reasoning: str | None
    organisation_name: str | None
    right_to_challenge: bool
    merged_into_id: int | None
    credits: list[CreditOut]
    support_count: int
    supported_by_me: bool
    can_edit: bool
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    reviewed_at: datetime | None
    feasibility_notes: str | None = None
    """Internal: present only for moderators."""


class ProposalListOut(msgspec.Struct):
    items: list[ProposalSummaryOut]
    total: int
    page: int
    pages: int
    page_size: int


class ProposalExportItem(msgspec.Struct, kw_only=True):
    """One proposal in a staff export. Names only: no e-mail addresses, no user ids, no supporters."""

    id: int
    status: str
    """The status code (``submitted``, ``accepted``, …); ``status_label`` is its Dutch name."""
    status_label: str
    title: str
    summary: str
    description: str
    """As the residents wrote it (plain text or the Markdown subset), never rendered HTML."""
    societal_effect: str
    target_group: str
    theme: str | None
    district: str | None
    """``null`` when the proposal is city-wide (``city_wide`` is then true)."""
    city_wide: bool
    location: str | None
    organisation_name: str | None
    """Set when an organisation submitted under the Right to Challenge (uitdaagrecht)."""
    right_to_challenge: bool
    authors: list[str]
    """Display names of the credited authors: the author first, then co-authors; a co-author who
    joined for an organisation has it in parentheses: ``"Bram Jansen (Stichting Buurtwerk)"``."""
    estimated_cost_cents: int | None
    estimated_cost_euro: str | None
    """The same amount in euros as an exact decimal string (``"12500.00"``)."""
    municipal_cost_cents: int | None
    municipal_cost_euro: str | None
    support_count: int
    feasibility_notes: str | None
    """Internal notes of the moderators: only in exports made by a moderator, ``null`` otherwise."""
    public_reasoning: str | None
    reviewed_at: datetime | None
    """Time of the last decision (review or merge), UTC."""
    merged_into_id: int | None
    submitted_at: datetime | None
    """UTC (RFC 3339 with ``Z``)."""


class ProposalExportOut(msgspec.Struct, kw_only=True):
    """``GET /api/v1/rounds/{id}/proposals/export?format=json``: every non-draft proposal of a
    round in id order. The same data gives the same bytes."""

    round_id: int
    round_title: str
    includes_feasibility_notes: bool
    items: list[ProposalExportItem]
