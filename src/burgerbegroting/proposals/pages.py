"""The Dutch proposal pages: gallery, proposal page, submit/edit, withdraw, supports and my
proposals. Co-authors and invitations are in ``coauthor_pages.py``, the moderators' queue, review
and merge forms in ``review_pages.py``, the form helpers they share in ``forms.py``.

Everything works without JavaScript: filters are a GET form, actions are POST forms with a CSRF
token. Writes end in a 303 redirect after an explicit commit (the session plugin commits only 2xx
responses); bad input re-renders the form with the service's Dutch messages and a 4xx status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from burgerbegroting import i18n
from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import requires_login
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, DomainError, Forbidden, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.proposals import gallery, invitations, photos, service
from burgerbegroting.proposals.forms import (
    FIELD_LABELS,
    AnyRequest,
    bad_form_error,
    form_errors,
    format_euro_input,
    parse_euro,
    read_form,
    request_user,
    resident_only,
    status_for,
)
from burgerbegroting.proposals.gallery import ProposalView
from burgerbegroting.proposals.text import render_markdown
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.forms import FormInputError
from burgerbegroting.web.pages import render

PROPOSAL_FIELDS = frozenset(
    {
        "title",
        "summary",
        "description",
        "theme_id",
        "district_id",
        "estimated_cost",
        "societal_effect",
        "target_group",
        "location",
        "organisation_name",
        "action",
    }
)
SORT_OPTIONS = [
    ("nieuw", N_("Nieuwste eerst")),
    ("steun", N_("Meeste steun")),
    ("titel", N_("Titel (A-Z)")),
    ("kosten", N_("Laagste kosten")),
]
CITY_WIDE = "stad"


# The form's fields in page order: the error summary lists problems in the order of the fields.
FORM_ORDER = (
    "",
    "title",
    "summary",
    "description",
    "theme_id",
    "district_id",
    "estimated_cost",
    "societal_effect",
    "target_group",
    "location",
    "organisation_name",
)


def _input_from_form(form: dict[str, str]) -> tuple[service.ProposalInput, dict[str, str]]:
    """The service's input, plus the fields the page itself could not read (a theme or district
    that is not a number, an amount that is not one). Those are left out of the input, so the
    service still checks everything else and the resident sees every problem at once."""
    errors: dict[str, str] = {}
    theme_id: int | None = None
    district_id: int | None = None
    raw_theme = form["theme_id"].strip()
    if raw_theme:
        if service.is_id(raw_theme):
            theme_id = int(raw_theme)
        else:
            errors["theme_id"] = _("Kies een thema van deze ronde.")
    raw_district = form["district_id"].strip()
    if raw_district and raw_district != CITY_WIDE:
        if service.is_id(raw_district):
            district_id = int(raw_district)
        else:
            errors["district_id"] = _("Kies een wijk van deze ronde, of stedelijk.")
    try:
        cost = parse_euro(form["estimated_cost"], "estimated_cost")
    except ValidationFailed as exc:
        errors.update(exc.fields)
        cost = None
    data = service.ProposalInput(
        title=form["title"],
        summary=form["summary"],
        description=form["description"],
        theme_id=theme_id,
        district_id=district_id,
        city_wide=district_id is None and "district_id" not in errors,
        estimated_cost_cents=cost,
        societal_effect=form["societal_effect"],
        target_group=form["target_group"],
        location=form["location"],
        organisation_name=form["organisation_name"],
        given=frozenset({"location", "organisation_name", "district_id"}),
    )
    return data, errors


def _all_errors(error: DomainError, page_errors: dict[str, str]) -> dict[str, str]:
    """The service's errors and the page's own, in the order of the form's fields."""
    merged = {**form_errors(error), **page_errors}
    rank = {name: i for i, name in enumerate(FORM_ORDER)}
    return dict(sorted(merged.items(), key=lambda item: rank.get(item[0], len(rank))))


def _page_errors_failure(page_errors: dict[str, str]) -> ValidationFailed:
    return ValidationFailed(_("Controleer de gemarkeerde velden."), fields=page_errors)


def _values_from_proposal(view: ProposalView) -> dict[str, str]:
    p = view.proposal
    return {
        "title": p.title,
        "summary": p.summary,
        "description": p.description,
        "theme_id": str(p.theme_id or ""),
        "district_id": str(p.district_id) if p.district_id else CITY_WIDE,
        "estimated_cost": format_euro_input(p.estimated_cost_cents),
        "societal_effect": p.societal_effect,
        "target_group": p.target_group,
        "location": p.location or "",
        "organisation_name": p.organisation_name or "",
    }


class ProposalPagesController(Controller):
    """Pages everyone can read, and residents' own pages."""

    include_in_schema = False

    # --- reading --------------------------------------------------------------------------------

    @get("/voorstellen")
    async def current_gallery(
        self, request: AnyRequest, db_session: DbSession
    ) -> Template | Redirect:
        """The gallery of the current round; a choice when several rounds are open (or a notice
        when there is no round at all)."""
        open_rounds = await rounds.open_round_summaries(db_session)
        if len(open_rounds) > 1:
            return render(request, "proposals/choose_round.html", {"rounds": open_rounds})
        round_ = await rounds.current_round(db_session)
        if round_ is not None:
            return Redirect(f"/rondes/{round_.id}/voorstellen", status_code=303)
        return render(request, "proposals/no_round.html", {})

    @get("/rondes/{round_id:int}/voorstellen")
    async def gallery(
        self,
        *,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        thema: FromQuery[str | None] = None,
        wijk: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        sorteer: FromQuery[str | None] = None,
        pagina: FromQuery[str | None] = None,
    ) -> Template:
        user = current_user(request)
        round_ = await rounds.get_visible_round(
            db_session, round_id, include_drafts=user is not None and user.has(Role.ADMIN)
        )
        themes, districts = await gallery.round_choices(db_session, round_id)
        values = {
            "thema": thema or "",
            "wijk": wijk or "",
            "status": status or "",
            "q": q or "",
            "sorteer": sorteer or "nieuw",
        }
        context: dict[str, Any] = {
            "round": round_,
            "themes": themes,
            "districts": districts,
            "values": values,
            "errors": {},
            "sort_options": i18n.translated_pairs(SORT_OPTIONS),
            "status_options": [
                (s, _(service.STATUS_LABELS[s]))
                for s in (
                    "submitted",
                    "in_review",
                    "changes_requested",
                    "accepted",
                    "rejected",
                    "merged",
                )
            ],
            "status_labels": service.STATUS_LABELS,
            "result": None,
            "can_submit": user is not None
            and user.has(Role.RESIDENT)
            and round_.phase == "submission",
        }
        try:
            filters = gallery.parse_filters(
                theme=thema, district=wijk, status=status, q=q, sort=sorteer, page=pagina
            )
        except ValidationFailed as error:
            errors = {
                {"theme": "thema", "district": "wijk", "sort": "sorteer", "page": "pagina"}.get(
                    k, k
                ): v
                for k, v in error.fields.items()
            }
            context["errors"] = errors
            return render(request, "proposals/gallery.html", context, status_code=400)
        result = await gallery.list_proposals(
            db_session, round_id=round_id, user=user, filters=filters
        )
        context["result"] = result
        base = {k: v for k, v in values.items() if v}

        def page_link(number: int) -> str:
            return f"/rondes/{round_id}/voorstellen?" + urlencode({**base, "pagina": number})

        context["page_link"] = page_link
        return render(request, "proposals/gallery.html", context)

    @get("/voorstellen/{proposal_id:int}")
    async def detail(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        melding: FromQuery[str | None] = None,
    ) -> Template:
        user = current_user(request)
        view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
        round_ = await rounds.get_round(db_session, view.round_id)
        return render(
            request,
            "proposals/detail.html",
            {
                "view": view,
                "p": view.proposal,
                "round": round_,
                "description_html": render_markdown(view.proposal.description),
                "effect_html": render_markdown(view.proposal.societal_effect),
                "reasoning_html": render_markdown(view.proposal.public_reasoning or ""),
                "status_labels": service.STATUS_LABELS,
                "notice": _(NOTICES[melding]) if melding in NOTICES else None,
                "can_support": view.supports_open
                and user is not None
                and user.has(Role.RESIDENT)
                and not view.is_author,
                "can_submit": view.is_author
                and view.proposal.status in {"draft", "changes_requested"}
                and not service.round_is_frozen(round_),
                "can_withdraw": view.is_author
                and view.proposal.status in service.WITHDRAWABLE
                and not service.round_is_frozen(round_),
                "is_main_author": user is not None and view.proposal.author_id == user.id,
                "is_moderator": user is not None and user.has(Role.MODERATOR),
                "user": user,
                "photos": await photos.photos_of(db_session, proposal_id),
            },
        )

    # --- residents ------------------------------------------------------------------------------

    @get("/rondes/{round_id:int}/voorstellen/nieuw", guards=[resident_only])
    async def new_form(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template:
        round_ = await rounds.get_round(db_session, round_id)
        rounds.assert_phase(round_, Phase.SUBMISSION)
        return await self._form_page(request, db_session, round_id, {}, {}, None)

    async def _form_page(  # noqa: PLR0917 - private helper, called positionally
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        values: dict[str, str],
        errors: dict[str, str],
        view: ProposalView | None,
        status_code: int = 200,
    ) -> Template:
        round_ = await rounds.get_round(db_session, round_id)
        themes, districts = await gallery.round_choices(db_session, round_id)
        return render(
            request,
            "proposals/form.html",
            {
                "round": round_,
                "themes": themes,
                "districts": districts,
                "values": values,
                "errors": errors,
                "labels": i18n.translated_labels(FIELD_LABELS),
                "view": view,
                "limits": service.LIMITS,
            },
            status_code=status_code,
        )

    @post("/rondes/{round_id:int}/voorstellen", guards=[resident_only])
    async def create(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            form = await read_form(request, PROPOSAL_FIELDS)
        except FormInputError:
            error = bad_form_error()
            return await self._form_page(
                request, db_session, round_id, {}, form_errors(error), None, 400
            )
        data, page_errors = _input_from_form(form)
        try:
            proposal = await service.create_proposal(
                db_session,
                round_id=round_id,
                user=request_user(request),
                data=data,
                submit=form["action"] == "submit",
            )
            if page_errors:
                raise _page_errors_failure(page_errors)
        except DomainError as error:
            await db_session.rollback()
            errors = _all_errors(error, page_errors)
            return await self._form_page(
                request, db_session, round_id, form, errors, None, status_for(error)
            )
        await db_session.commit()
        notice = "ingediend" if proposal.status == "submitted" else "opgeslagen"
        return Redirect(f"/voorstellen/{proposal.id}?melding={notice}", status_code=303)

    @get("/voorstellen/{proposal_id:int}/bewerken", guards=[resident_only])
    async def edit_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        user = request_user(request)
        view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
        if not view.is_author:
            raise Forbidden("Alleen de indieners van dit voorstel kunnen het wijzigen.")
        if not view.can_edit:
            raise Conflict(
                "Dit voorstel kan in deze fase of met deze status niet meer worden gewijzigd."
            )
        return await self._form_page(
            request, db_session, view.round_id, _values_from_proposal(view), {}, view
        )

    @post("/voorstellen/{proposal_id:int}/bewerken", guards=[resident_only])
    async def edit(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template | Redirect:
        user = request_user(request)
        view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
        try:
            form = await read_form(request, PROPOSAL_FIELDS)
        except FormInputError:
            return await self._form_page(
                request,
                db_session,
                view.round_id,
                _values_from_proposal(view),
                form_errors(bad_form_error()),
                view,
                400,
            )
        data, page_errors = _input_from_form(form)
        try:
            proposal = await service.update_proposal(
                db_session,
                proposal_id=proposal_id,
                user=user,
                data=data,
                submitting=form["action"] == "submit",
            )
            if page_errors:
                raise _page_errors_failure(page_errors)
            if form["action"] == "submit" and proposal.status in {"draft", "changes_requested"}:
                proposal = await service.submit_proposal(
                    db_session, proposal_id=proposal_id, user=user
                )
        except DomainError as error:
            await db_session.rollback()
            view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
            return await self._form_page(
                request,
                db_session,
                view.round_id,
                form,
                _all_errors(error, page_errors),
                view,
                status_for(error),
            )
        await db_session.commit()
        notice = "ingediend" if form["action"] == "submit" else "opgeslagen"
        return Redirect(f"/voorstellen/{proposal.id}?melding={notice}", status_code=303)

    @post("/voorstellen/{proposal_id:int}/indienen", guards=[resident_only])
    async def submit(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.submit_proposal(
            db_session, proposal_id=proposal_id, user=request_user(request)
        )
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=ingediend", status_code=303)

    @get("/voorstellen/{proposal_id:int}/intrekken", guards=[resident_only])
    async def withdraw_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        view = await gallery.get_proposal_view(
            db_session, proposal_id=proposal_id, user=request_user(request)
        )
        if not view.is_author:
            raise Forbidden("Alleen de indieners van dit voorstel kunnen het intrekken.")
        return render(request, "proposals/withdraw.html", {"p": view.proposal})

    @post("/voorstellen/{proposal_id:int}/intrekken", guards=[resident_only])
    async def withdraw(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.withdraw_proposal(
            db_session, proposal_id=proposal_id, user=request_user(request)
        )
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=ingetrokken", status_code=303)

    @post("/voorstellen/{proposal_id:int}/steunen", guards=[resident_only])
    async def support(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.add_support(db_session, proposal_id=proposal_id, user=request_user(request))
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=gesteund", status_code=303)

    @post("/voorstellen/{proposal_id:int}/steun-intrekken", guards=[resident_only])
    async def unsupport(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.remove_support(
            db_session, proposal_id=proposal_id, user=request_user(request)
        )
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=steun-ingetrokken", status_code=303)

    @get("/mijn-voorstellen", guards=[requires_login])
    async def mine(
        self, request: AnyRequest, db_session: DbSession, melding: FromQuery[str | None] = None
    ) -> Template:
        user = request_user(request)
        rows = await gallery.my_proposals(db_session, user=user)
        pending = await invitations.pending_for_address(db_session, email=user.email)
        return render(
            request,
            "proposals/mine.html",
            {
                "rows": rows,
                "invitations": pending,
                "status_labels": service.STATUS_LABELS,
                "notice": _(MINE_NOTICES[melding]) if melding in MINE_NOTICES else None,
            },
        )


MINE_NOTICES: dict[str, str] = {
    "uitnodiging-afgewezen": N_("U heeft de uitnodiging afgewezen."),
}

NOTICES: dict[str, str] = {
    "mede-indiener": N_("U bent nu mede-indiener van dit voorstel en kunt het bewerken."),
    "opgeslagen": N_("Uw voorstel is opgeslagen."),
    "ingediend": N_("Uw voorstel is ingediend."),
    "ingetrokken": N_("Het voorstel is ingetrokken."),
    "gesteund": N_("U steunt dit voorstel."),
    "steun-ingetrokken": N_("U steunt dit voorstel niet meer."),
    "beoordeeld": N_("Het besluit is opgeslagen en de indieners zijn per e-mail ingelicht."),
    "samengevoegd": N_("De voorstellen zijn samengevoegd."),
}
