"""The proposals JSON API under ``/api/v1``.

Reading is public (drafts and withdrawn proposals only for their authors); writing needs a bearer
token (the session cookie is honoured on the API for safe methods only, see accounts.middleware).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import (
    require_roles,
    requires_login,
    requires_same_origin_or_bearer,
)
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.mail import send_mail
from burgerbegroting.proposals import export as exports
from burgerbegroting.proposals import gallery, invitations, review, service
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.proposals.schemas import (
    CoauthorInvite,
    CreditOut,
    InvitationAccept,
    InvitationDecline,
    InvitationOut,
    MergeRequest,
    ProposalCreate,
    ProposalExportOut,
    ProposalListOut,
    ProposalOut,
    ProposalSummaryOut,
    ProposalUpdate,
    ReviewRequest,
    SupportOut,
)
from burgerbegroting.proposals.text import render_markdown
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.openapi import ALSO_SERVES
from burgerbegroting.web.request_helpers import settings_of

AnyRequest = Request[Any, Any, Any]
resident_only = require_roles(Role.RESIDENT)
moderator_only = require_roles(Role.MODERATOR)
# Civil servants who work with a round's proposals outside the system (roles are never implied).
export_roles = require_roles(Role.MODERATOR, Role.ADMIN, Role.AUDITOR)


def _user(request: AnyRequest) -> CurrentUser:
    user = current_user(request)
    assert user is not None  # the guard on the handler guarantees it
    return user


def summary_out(row: gallery.GalleryRow) -> ProposalSummaryOut:
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


def proposal_out(view: gallery.ProposalView) -> ProposalOut:
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
            CreditOut(
                user_id=c.user_id,
                display_name=c.display_name,
                role=c.role,
                organisation_name=c.organisation_name,
            )
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
    view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
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
        filters = gallery.parse_filters(
            theme=theme, district=district, status=status, q=q, sort=sort, page=page
        )
        result = await gallery.list_proposals(
            db_session, round_id=round_id, user=current_user(request), filters=filters
        )
        return ProposalListOut(
            items=[summary_out(r) for r in result.rows],
            total=result.total,
            page=result.page,
            pages=result.pages,
            page_size=gallery.PAGE_SIZE,
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

    @get(
        "/export",
        # Writes an audit line: not to be triggered from another site (accounts/guards.py).
        guards=[export_roles, requires_same_origin_or_bearer],
        opt={ALSO_SERVES: {200: ["text/csv"]}},  # documented beside the JSON (web/openapi.py)
        summary="Download every non-draft proposal of a round (format=csv or json; staff)",
        responses={
            200: ResponseSpec(
                data_container=ProposalExportOut,
                description=(
                    "format=json: this document. format=csv (the default): the same fields as "
                    "text/csv for Dutch spreadsheets (UTF-8 with BOM, ';'), as an attachment."
                ),
            )
        },
    )
    async def export(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        export_format: Annotated[str | None, QueryParameter(name="format")] = None,
    ) -> Response[bytes]:
        """Id order, byte-identical for the same data; every download is in the audit log."""
        fmt = exports.parse_format(export_format)
        data = await exports.load_export(
            db_session, round_id=round_id, user=_user(request), fmt=fmt
        )
        # The audit line is committed before the file leaves (web/transactions.py): if that commit
        # fails, the answer is a 503 and no file goes out unlogged.
        return Response(
            content=exports.render(data, fmt),
            media_type=exports.MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="{exports.filename(round_id, fmt)}"'
            },
        )


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


def invitation_out(view: invitations.InvitationView) -> InvitationOut:
    return InvitationOut(
        id=view.id,
        proposal_id=view.proposal_id,
        proposal_title=view.proposal_title,
        email=view.email,
        invited_by=view.invited_by,
        message=view.message,
        status=view.status,
        created_at=view.created_at,
        expires_at=view.expires_at,
        usable=view.usable,
        problem=view.problem,
    )


def _one_of(token: str | None, invitation_id: int | None) -> None:
    if (token is None) == (invitation_id is None):
        raise ValidationFailed(
            _("Geef het token uit de uitnodigingslink, of het nummer van de uitnodiging."),
            fields={"token": _("Geef precies een van token en invitation_id.")},
        )


class CoauthorController(Controller):
    """``/api/v1/proposals/{id}/coauthors``: invite co-authors by e-mail, remove co-authors."""

    path = "/api/v1/proposals/{proposal_id:int}/coauthors"
    tags = ("proposals",)
    guards = [requires_login]  # noqa: RUF012

    @post("", guards=[resident_only], status_code=201, summary="Invite a co-author by e-mail")
    async def invite(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        data: JSONBody[CoauthorInvite],
    ) -> InvitationOut:
        """The same answer whether or not the address has an account; the mail goes out after
        the invitation is stored. The invitee accepts with ``POST /api/v1/invitations/accept``."""
        settings = settings_of(request)
        invitation, mail = await invitations.invite(
            db_session,
            settings,
            proposal_id=proposal_id,
            user=_user(request),
            email=data.email,
            message=data.message,
        )
        view = await invitations.describe(db_session, invitation)
        await db_session.commit()
        await send_mail(settings, to=mail.to, subject=mail.subject, body=mail.body)
        return invitation_out(view)

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


class ProposalInvitationsController(Controller):
    """``/api/v1/proposals/{id}/invitations``: the pending invitations (authors), revoking."""

    path = "/api/v1/proposals/{proposal_id:int}/invitations"
    tags = ("proposals",)
    guards = [resident_only]  # noqa: RUF012

    @get("", summary="Pending co-author invitations of a proposal (its authors)")
    async def pending(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> list[InvitationOut]:
        views = await invitations.pending_for_proposal(
            db_session, proposal_id=proposal_id, user=_user(request)
        )
        return [invitation_out(v) for v in views]

    @delete("/{invitation_id:int}", status_code=204, summary="Revoke a pending invitation")
    async def revoke(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        invitation_id: FromPath[int],
    ) -> None:
        await invitations.revoke(
            db_session, proposal_id=proposal_id, invitation_id=invitation_id, user=_user(request)
        )


class InvitationController(Controller):
    """``/api/v1/invitations``: the invitee accepts (residents) or declines, token in the body."""

    path = "/api/v1/invitations"
    tags = ("proposals",)
    guards = [requires_login]  # noqa: RUF012

    @post("/accept", guards=[resident_only], status_code=200, summary="Accept an invitation")
    async def accept(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[InvitationAccept]
    ) -> InvitationOut:
        """You become a credited co-author (optionally with an organisation) and may edit."""
        return await _answer(
            request,
            db_session,
            accept=True,
            token=data.token,
            invitation_id=data.invitation_id,
            organisation_name=data.organisation_name,
        )

    @post("/decline", status_code=200, summary="Decline an invitation")
    async def decline(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[InvitationDecline]
    ) -> InvitationOut:
        return await _answer(
            request, db_session, accept=False, token=data.token, invitation_id=data.invitation_id
        )


async def _answer(
    request: AnyRequest,
    db_session: DbSession,
    *,
    accept: bool,
    token: str | None,
    invitation_id: int | None,
    organisation_name: str | None = None,
) -> InvitationOut:
    """Accept or decline by the mailed token or, for the invitee's own address, by id."""
    _one_of(token, invitation_id)
    user = _user(request)
    view = await invitations.respond(
        db_session,
        settings_of(request),
        user=user,
        accept=accept,
        token=token,
        invitation_id=invitation_id,
        email=user.email,
        organisation_name=organisation_name,
    )
    return invitation_out(view)


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
        rows = await review.review_queue(db_session, round_id=round_id, threshold="reached")
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
        await review.review_proposal(
            db_session,
            settings_of(request),
            proposal_id=proposal_id,
            moderator=user,
            data=review.ReviewInput(
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
        target = await review.merge_proposals(
            db_session,
            settings_of(request),
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
        rows = await gallery.my_proposals(db_session, user=_user(request))
        return [summary_out(r) for r in rows]


class MyInvitationsApiController(Controller):
    path = "/api/v1/me/invitations"
    tags = ("proposals",)
    guards = [requires_login]  # noqa: RUF012

    @get("", summary="Pending co-author invitations sent to my account's address")
    async def mine(self, request: AnyRequest, db_session: DbSession) -> list[InvitationOut]:
        views = await invitations.pending_for_address(db_session, email=_user(request).email)
        return [invitation_out(v) for v in views]


API_CONTROLLERS = (
    RoundProposalsController,
    ProposalController,
    SupportController,
    CoauthorController,
    ProposalInvitationsController,
    InvitationController,
    ReviewController,
    MyProposalsApiController,
    MyInvitationsApiController,
)
