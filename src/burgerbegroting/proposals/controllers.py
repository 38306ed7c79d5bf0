"""The proposals JSON API under ``/api/v1``.

Reading is public (drafts and withdrawn proposals only for their authors); writing needs a bearer
token (the session cookie is honoured on the API for safe methods only, see accounts.middleware).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import require_roles, requires_login
from burgerbegroting.accounts.roles import Role
from burgerbegroting.proposals import service
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.proposals.schemas import (
    CoauthorInvite,
    CreditOut,
    MergeRequest,
    ProposalCreate,
    ProposalListOut,
    ProposalOut,
    ProposalSummaryOut,
    ProposalUpdate,
    ReviewRequest,
    SupportOut,
)
from burgerbegroting.proposals.text import render_markdown
from burgerbegroting.settings import Settings
from burgerbegroting.web.deps import DbSession

AnyRequest = Request[Any, Any, Any]
resident_only = require_roles(Role.RESIDENT)
moderator_only = require_roles(Role.MODERATOR)


def _settings(request: AnyRequest) -> Settings:
    settings: Settings = request.app.state["settings"]
    return settings


def _user(request: AnyRequest) -> CurrentUser:
    user = current_user(request)
    assert user is not None  # the guard on the handler guarantees it
    return user


def summary_out(row: service.GalleryRow) -> ProposalSummaryOut:
    p = row.proposal
    return ProposalSummaryOut(
        id=p.id,
        round_id=p.round_id,
        title=p.title,
        summary=p.summary,
        status=p.status,
        theme_id=p.theme_id,
        theme=row.theme_name,
        district_id=p.district_id,
        district=row.district_name,
        city_wide=p.district_id is None,
        estimated_cost_cents=p.estimated_cost_cents,
        municipal_cost_cents=p.municipal_cost_cents,
        organisation_name=p.organisation_name,
        right_to_challenge=p.is_right_to_challenge,
        support_count=row.support_count,
        created_at=p.created_at,
        submitted_at=p.submitted_at,
    )


def proposal_out(view: service.ProposalView) -> ProposalOut:
    p = view.proposal
    return ProposalOut(
        id=p.id,
        round_id=p.round_id,
        title=p.title,
        summary=p.summary,
        description=p.description,
        description_html=str(render_markdown(p.description)),
        societal_effect=p.societal_effect,
        societal_effect_html=str(render_markdown(p.societal_effect)),
        target_group=p.target_group,
        location=p.location,
        status=p.status,
        theme_id=p.theme_id,
        theme=view.theme_name,
        district_id=p.district_id,
        district=view.district_name,
        city_wide=p.district_id is None,
        estimated_cost_cents=p.estimated_cost_cents,
        municipal_cost_cents=p.municipal_cost_cents,
        public_reasoning=p.public_reasoning,
        organisation_name=p.organisation_name,
        right_to_challenge=p.is_right_to_challenge,
        merged_into_id=p.merged_into_id,
        credits=[
            CreditOut(user_id=c.user_id, display_name=c.display_name, role=c.role)
            for c in view.credits
        ],
        support_count=view.support_count,
        supported_by_me=view.supported_by_me,
        can_edit=view.can_edit,
        created_at=p.created_at,
        updated_at=p.updated_at,
        submitted_at=p.submitted_at,
        reviewed_at=p.reviewed_at,
        feasibility_notes=p.feasibility_notes if view.show_internal else None,
    )


async def _view(
    db_session: DbSession, proposal: Proposal | int, user: CurrentUser | None
) -> ProposalOut:
    proposal_id = proposal if isinstance(proposal, int) else proposal.id
    view = await service.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
    return proposal_out(view)


def _update_input(data: JSONBody[ProposalUpdate]) -> service.ProposalInput:
    values = msgspec.structs.asdict(data)
    given = frozenset(k for k, v in values.items() if v is not msgspec.UNSET)
    kwargs = {k: v for k, v in values.items() if v is not msgspec.UNSET and v is not None}
    return service.ProposalInput(**kwargs, given=given)


class RoundProposalsController(Controller):
    """``/api/v1/rounds/{round_id}/proposals``: the gallery (anyone) and submitting (residents)."""

    path = "/api/v1/rounds/{round_id:int}/proposals"
    tags = ("proposals",)

    @get("", summary="List a round's proposals (filters: theme, district, status, q, sort, page)")
    async def list_proposals(
        self,
        *,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        theme: FromQuery[str | None] = None,
        district: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        sort: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> ProposalListOut:
        """``district=stad`` lists city-wide proposals; sort is newest, supports, title or cost."""
        filters = service.parse_filters(
            theme=theme, district=district, status=status, q=q, sort=sort, page=page
        )
        result = await service.list_proposals(
            db_session, round_id=round_id, user=current_user(request), filters=filters
        )
        return ProposalListOut(
            items=[summary_out(r) for r in result.rows],
            total=result.total,
            page=result.page,
            pages=result.pages,
            page_size=service.PAGE_SIZE,
        )

    @post("", guards=[resident_only], status_code=201, summary="Save a draft or submit a proposal")
    async def create(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[ProposalCreate],
    ) -> ProposalOut:
        values = msgspec.structs.asdict(data)
        submit = bool(values.pop("submit"))
        proposal = await service.create_proposal(
            db_session,
            round_id=round_id,
            user=_user(request),
            data=service.ProposalInput(**values, city_wide=data.district_id is None),
            submit=submit,
        )
        return await _view(db_session, proposal, _user(request))


class ProposalController(Controller):
    """``/api/v1/proposals/{id}``: read (anyone who may see it), edit, submit, withdraw (authors)."""

    path = "/api/v1/proposals/{proposal_id:int}"
    tags = ("proposals",)

    @get("", summary="One proposal")
    async def read(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> ProposalOut:
        return await _view(db_session, proposal_id, current_user(request))

    @patch("", guards=[resident_only], summary="Edit a proposal (authors, while allowed)")
    async def edit(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        data: JSONBody[ProposalUpdate],
    ) -> ProposalOut:
        user = _user(request)
        proposal = await service.update_proposal(
            db_session, proposal_id=proposal_id, user=user, data=_update_input(data)
        )
        return await _view(db_session, proposal, user)

    @post("/submit", guards=[resident_only], status_code=200, summary="Submit a draft")
    async def submit(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> ProposalOut:
        user = _user(request)
        proposal = await service.submit_proposal(db_session, proposal_id=proposal_id, user=user)
        return await _view(db_session, proposal, user)

    @post("/withdraw", guards=[resident_only], status_code=200, summary="Withdraw a proposal")
    async def withdraw(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> ProposalOut:
        user = _user(request)
        proposal = await service.withdraw_proposal(db_session, proposal_id=proposal_id, user=user)
        return await _view(db_session, proposal, user)


class SupportController(Controller):
    """``/api/v1/proposals/{id}/supports``: my support for a proposal (PUT gives, DELETE takes)."""

    path = "/api/v1/proposals/{proposal_id:int}/supports"
    tags = ("proposals",)
    guards = [resident_only]  # noqa: RUF012 - Litestar reads a list here

    @put("", status_code=200, summary="Support a proposal (idempotent)")
    async def give(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> SupportOut:
        await service.add_support(db_session, proposal_id=proposal_id, user=_user(request))
        count = await service.support_count(db_session, proposal_id)
        return SupportOut(proposal_id=proposal_id, supported=True, support_count=count)

    @delete("", status_code=200, summary="Withdraw my support (idempotent)")
    async def take(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> SupportOut:
        await service.remove_support(db_session, proposal_id=proposal_id, user=_user(request))
        count = await service.support_count(db_session, proposal_id)
        return SupportOut(proposal_id=proposal_id, supported=False, support_count=count)


class CoauthorController(Controller):
    """``/api/v1/proposals/{id}/coauthors``: credit co-authors (existing accounts, by e-mail)."""

    path = "/api/v1/proposals/{proposal_id:int}/coauthors"
    tags = ("proposals",)
    guards = [requires_login]  # noqa: RUF012

    @post("", guards=[resident_only], status_code=201, summary="Add a co-author by e-mail")
    async def invite(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        data: JSONBody[CoauthorInvite],
    ) -> ProposalOut:
        user = _user(request)
        await service.invite_coauthor(
            db_session, _settings(request), proposal_id=proposal_id, user=user, email=data.email
        )
        return await _view(db_session, proposal_id, user)

    @delete(
        "/{user_id:int}",
        status_code=200,
        summary="Remove a co-author (the author), or yourself (a co-author)",
    )
    async def remove(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        user_id: FromPath[int],
    ) -> ProposalOut:
        user = _user(request)
        await service.remove_coauthor(
            db_session, proposal_id=proposal_id, user=user, coauthor_id=user_id
        )
        return await _view(db_session, proposal_id, user)


class ReviewController(Controller):
    """Moderators: the review queue, decisions and merging duplicates."""

    path = "/api/v1"
    tags = ("review",)
    guards = [moderator_only]  # noqa: RUF012

    @get("/review/proposals", summary="Proposals waiting for review")
    async def queue(
        self,
        db_session: DbSession,
        round_id: Annotated[int | None, QueryParameter(name="round")] = None,
    ) -> list[ProposalSummaryOut]:
        # Proposals short of their round's support threshold are not waiting for review.
        rows = await service.review_queue(db_session, round_id=round_id, threshold="reached")
        return [summary_out(r) for r in rows]

    @post("/proposals/{proposal_id:int}/review", status_code=200, summary="Decide on a proposal")
    async def review(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        data: JSONBody[ReviewRequest],
    ) -> ProposalOut:
        user = _user(request)
        await service.review_proposal(
            db_session,
            _settings(request),
            proposal_id=proposal_id,
            moderator=user,
            data=service.ReviewInput(
                decision=data.decision,
                municipal_cost_cents=data.municipal_cost_cents,
                feasibility_notes=data.feasibility_notes,
                public_reasoning=data.public_reasoning,
            ),
        )
        return await _view(db_session, proposal_id, user)

    @post("/proposals/{proposal_id:int}/merge", status_code=200, summary="Merge into another")
    async def merge(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        data: JSONBody[MergeRequest],
    ) -> ProposalOut:
        """Merge this proposal into ``into_id``; returns the proposal it was merged into."""
        user = _user(request)
        target = await service.merge_proposals(
            db_session,
            _settings(request),
            source_id=proposal_id,
            target_id=data.into_id,
            moderator=user,
            reason=data.reason,
        )
        return await _view(db_session, target, user)


class MyProposalsApiController(Controller):
    path = "/api/v1/me/proposals"
    tags = ("proposals",)
    guards = [requires_login]  # noqa: RUF012

    @get("", summary="Proposals I am credited on (drafts included)")
    async def mine(self, request: AnyRequest, db_session: DbSession) -> list[ProposalSummaryOut]:
        rows = await service.my_proposals(db_session, user=_user(request))
        return [summary_out(r) for r in rows]


API_CONTROLLERS = (
    RoundProposalsController,
    ProposalController,
    SupportController,
    CoauthorController,
    ReviewController,
    MyProposalsApiController,
)
