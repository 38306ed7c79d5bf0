"""The moderators' pages: the review queue, the review form and the merge form.

Without JavaScript, like every proposal page: POST forms with CSRF, a 303 redirect after a commit;
bad input re-renders the form with the service's Dutch messages and a 4xx status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from burgerbegroting import i18n
from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import DomainError, ValidationFailed
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.proposals import gallery, review, service
from burgerbegroting.proposals.forms import (
    FIELD_LABELS,
    AnyRequest,
    bad_form_error,
    form_errors,
    format_euro_input,
    parse_euro,
    read_form,
    request_user,
    status_for,
)
from burgerbegroting.proposals.text import render_markdown
from burgerbegroting.rounds import service as rounds
from burgerbegroting.web import drafts
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.forms import FormInputError
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import settings_of

moderator_only = require_roles(Role.MODERATOR)
KEEPS_DRAFT = "keeps_draft"


def moderator_or_keeps_draft(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """``moderator_only``, except that a form marked ``keeps_draft`` may arrive without a session:
    its handler keeps the typed text (``web.drafts``) and sends the visitor to log in, instead of
    a 401 page that loses it. A logged-in non-moderator still gets 403 here."""
    if handler.opt.get(KEEPS_DRAFT) and current_user(connection) is None:
        return
    moderator_only(connection, handler)


DECISION_OPTIONS = [
    ("in_review", N_("In behandeling nemen")),
    ("accepted", N_("Goedkeuren")),
    ("changes_requested", N_("Aanpassing vragen")),
    ("rejected", N_("Afwijzen")),
]

BELOW_THRESHOLD_REFUSED = frozenset({"accepted", "in_review"})
REVIEW_FIELDS = frozenset({"decision", "municipal_cost", "feasibility_notes", "public_reasoning"})


class ReviewPagesController(Controller):
    """Moderators: the queue, the review form and the merge form."""

    include_in_schema = False
    guards = [moderator_or_keeps_draft]  # noqa: RUF012

    @get("/toetsing")
    async def queue(self, request: AnyRequest, db_session: DbSession) -> Template:
        rows = await review.review_queue(db_session, threshold="reached")
        collecting = await review.review_queue(db_session, threshold="below")
        # Rounds whose proposals can be downloaded (the export's own rule: drafts for admins).
        export_rounds = await rounds.list_rounds(
            db_session, include_drafts=request_user(request).has(Role.ADMIN)
        )
        return render(
            request,
            "proposals/queue.html",
            {
                "rows": rows,
                "collecting": collecting,
                "status_labels": service.STATUS_LABELS,
                "export_rounds": export_rounds,
            },
        )

    @staticmethod
    async def review_page(  # noqa: PLR0917 - shared renderer, called positionally
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        values: dict[str, str] | None,
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        view = await gallery.get_proposal_view(
            db_session, proposal_id=proposal_id, user=request_user(request)
        )
        p = view.proposal
        round_ = await rounds.get_round(db_session, view.round_id)
        if values is None:
            values = {
                "decision": p.status if p.status in review.DECISIONS else "",
                "municipal_cost": format_euro_input(p.municipal_cost_cents),
                "feasibility_notes": p.feasibility_notes or "",
                "public_reasoning": p.public_reasoning or "",
            }
        # Below the round's support threshold the service refuses "accept" and "in review" (409);
        # the form does not offer what will be refused.
        threshold = service.support_threshold(round_)
        below = threshold is not None and view.support_count < threshold
        options = [
            (value, label)
            for value, label in DECISION_OPTIONS
            if not (below and value in BELOW_THRESHOLD_REFUSED)
        ]
        return render(
            request,
            "proposals/review.html",
            {
                "view": view,
                "p": p,
                "values": values,
                "errors": errors,
                "labels": i18n.translated_labels(FIELD_LABELS),
                "decision_options": i18n.translated_pairs(options),
                "below_threshold": below,
                "threshold": threshold,
                "description_html": render_markdown(p.description),
                "effect_html": render_markdown(p.societal_effect),
                "status_labels": service.STATUS_LABELS,
                "review_open": service.review_open(round_),
            },
            status_code=status_code,
        )

    @get("/voorstellen/{proposal_id:int}/toetsing")
    async def review_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        # Text kept when the session ran out on submit (see ReviewSubmitController).
        settings = settings_of(request)
        kept = drafts.read_draft(request, settings, REVIEW_FIELDS)
        page = await self.review_page(request, db_session, proposal_id, kept, {})
        if kept is not None:
            page.context["restored"] = True
            page.cookies.append(drafts.clear_draft_cookie(settings, request.url.path))
        return page

    @post("/voorstellen/{proposal_id:int}/toetsing", opt={KEEPS_DRAFT: True})
    async def review(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template | Redirect:
        if current_user(request) is None:  # the session ran out while the text was written
            return await self._keep_and_log_in(request, proposal_id)
        try:
            form = await read_form(request, REVIEW_FIELDS)
        except FormInputError:
            return await self.review_page(
                request, db_session, proposal_id, {}, form_errors(bad_form_error()), 400
            )
        try:
            cost = parse_euro(form["municipal_cost"], "municipal_cost_cents")
            await review.review_proposal(
                db_session,
                settings_of(request),
                proposal_id=proposal_id,
                moderator=request_user(request),
                data=review.ReviewInput(
                    decision=form["decision"],
                    municipal_cost_cents=cost,
                    feasibility_notes=form["feasibility_notes"],
                    public_reasoning=form["public_reasoning"],
                ),
            )
        except DomainError as error:
            await db_session.rollback()
            return await self.review_page(
                request, db_session, proposal_id, form, form_errors(error), status_for(error)
            )
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=beoordeeld", status_code=303)

    async def _keep_and_log_in(self, request: AnyRequest, proposal_id: int) -> Redirect:
        path = f"/voorstellen/{proposal_id}/toetsing"
        login = f"/inloggen?{urlencode({'next': path})}"
        try:
            form = await read_form(request, REVIEW_FIELDS)
        except FormInputError:
            return Redirect(login, status_code=303)
        cookie = drafts.draft_cookie(settings_of(request), path, form)
        return Redirect(login, status_code=303, cookies=[cookie] if cookie else [])

    async def _merge_page(  # noqa: PLR0917 - private helper, called positionally
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        view = await gallery.get_proposal_view(
            db_session, proposal_id=proposal_id, user=request_user(request)
        )
        candidates = [
            r
            for r in await review.review_queue(db_session, round_id=view.round_id)
            if r.proposal.id != proposal_id
        ]
        accepted = await gallery.list_proposals(
            db_session,
            round_id=view.round_id,
            user=None,
            filters=gallery.GalleryFilters(status="accepted"),
        )
        candidates.extend(r for r in accepted.rows if r.proposal.id != proposal_id)
        return render(
            request,
            "proposals/merge.html",
            {
                "view": view,
                "p": view.proposal,
                "candidates": candidates,
                "values": values,
                "errors": errors,
                "labels": i18n.translated_labels(FIELD_LABELS),
                "review_open": service.review_open(
                    await rounds.get_round(db_session, view.round_id)
                ),
            },
            status_code=status_code,
        )

    @get("/voorstellen/{proposal_id:int}/samenvoegen")
    async def merge_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        return await self._merge_page(request, db_session, proposal_id, {}, {})

    @post("/voorstellen/{proposal_id:int}/samenvoegen")
    async def merge(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            form = await read_form(request, frozenset({"into_id", "reason"}))
        except FormInputError:
            return await self._merge_page(
                request, db_session, proposal_id, {}, form_errors(bad_form_error()), 400
            )
        raw = form["into_id"].strip()
        try:
            if not service.is_id(raw):
                raise ValidationFailed(
                    "Controleer de gemarkeerde velden.",
                    fields={"into_id": "Kies het voorstel waarmee u wilt samenvoegen."},
                )
            target = await review.merge_proposals(
                db_session,
                settings_of(request),
                source_id=proposal_id,
                target_id=int(raw),
                moderator=request_user(request),
                reason=form["reason"],
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._merge_page(
                request, db_session, proposal_id, form, form_errors(error), status_for(error)
            )
        await db_session.commit()
        return Redirect(f"/voorstellen/{target.id}?melding=samengevoegd", status_code=303)
