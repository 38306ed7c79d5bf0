"""The Dutch proposal pages: gallery, proposal page, submit/edit, my proposals, co-authors,
supports, and the moderators' queue, review and merge forms.

Everything works without JavaScript: filters are a GET form, actions are POST forms with a CSRF
token. Writes end in a 303 redirect after an explicit commit (the session plugin commits only 2xx
responses); bad input re-renders the form with the service's Dutch messages and a 4xx status.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import require_roles, requires_login
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, DomainError, Forbidden, RateLimited, ValidationFailed
from burgerbegroting.mail import send_mail
from burgerbegroting.proposals import gallery, invitations, review, service
from burgerbegroting.proposals.gallery import ProposalView
from burgerbegroting.proposals.text import render_markdown
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.pages import render

AnyRequest = Request[Any, Any, Any]
resident_only = require_roles(Role.RESIDENT)
moderator_only = require_roles(Role.MODERATOR)

_FORM_LIMIT = 20_000  # characters per form value; the service's own limits are below this

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
FIELD_LABELS: dict[str, str] = {
    "title": "Titel",
    "summary": "Samenvatting",
    "description": "Beschrijving",
    "theme_id": "Thema",
    "district_id": "Wijk",
    "estimated_cost_cents": "Geschatte kosten",
    "estimated_cost": "Geschatte kosten",
    "societal_effect": "Beoogd maatschappelijk effect",
    "target_group": "Doelgroep",
    "location": "Locatie",
    "organisation_name": "Naam organisatie",
    "email": "E-mailadres",
    "message": "Persoonlijk bericht",
    "decision": "Besluit",
    "municipal_cost_cents": "Kostenraming gemeente",
    "municipal_cost": "Kostenraming gemeente",
    "feasibility_notes": "Haalbaarheid (intern)",
    "public_reasoning": "Openbare toelichting",
    "into_id": "Samenvoegen met",
    "reason": "Reden",
}
# Field names in the forms where they differ from the service's (error links point at inputs).
FORM_FIELD_FOR = {
    "estimated_cost_cents": "estimated_cost",
    "municipal_cost_cents": "municipal_cost",
}
DECISION_OPTIONS = [
    ("in_review", "In behandeling nemen"),
    ("accepted", "Goedkeuren"),
    ("changes_requested", "Aanpassing vragen"),
    ("rejected", "Afwijzen"),
]
SORT_OPTIONS = [
    ("nieuw", "Nieuwste eerst"),
    ("steun", "Meeste steun"),
    ("titel", "Titel (A-Z)"),
    ("kosten", "Laagste kosten"),
]
CITY_WIDE = "stad"


class FormInputError(Exception):
    """The form itself is malformed (unknown or repeated fields, files)."""


async def _read_form(request: AnyRequest, fields: frozenset[str]) -> dict[str, str]:
    form = await request.form()
    values: dict[str, str] = {}
    for key in form:
        if key == "_csrf_token":
            continue
        items = form.getall(key)
        if key not in fields or len(items) != 1 or isinstance(items[0], UploadFile):
            raise FormInputError(key)
        value = items[0]
        if not isinstance(value, str) or len(value) > _FORM_LIMIT:
            raise FormInputError(key)
        values[key] = value
    return {name: values.get(name, "") for name in fields}


_EURO = re.compile(r"^([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,([0-9]{1,2}))?$")


def parse_euro(raw: str, field: str) -> int | None:
    """Dutch amounts to cents: "1250", "1.250", "1.250,50", "€ 1250,5". Empty is None.

    No floats: the euros and cents are read as separate integers.
    """
    text = raw.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if not text:
        return None
    if text.startswith("-"):
        raise ValidationFailed(
            "Controleer de gemarkeerde velden.",
            fields={field: "Het bedrag moet groter zijn dan nul."},
        )
    match = _EURO.match(text)
    if match is None or len(text) > 20:
        raise ValidationFailed(
            "Controleer de gemarkeerde velden.",
            fields={field: "Geef een bedrag in euro, bijvoorbeeld 12.500 of 12.500,50."},
        )
    euros = int(match.group(1).replace(".", ""))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    return euros * 100 + cents


def format_euro_input(cents: int | None) -> str:
    """Cents as the form shows them back: 125050 -> "1250,50"."""
    if cents is None:
        return ""
    euros, rest = divmod(cents, 100)
    return f"{euros},{rest:02d}" if rest else str(euros)


def _status_for(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _form_errors(error: DomainError) -> dict[str, str]:
    if not error.fields:
        return {"": error.message}
    return {FORM_FIELD_FOR.get(k, k): v for k, v in error.fields.items()}


def _settings(request: AnyRequest) -> Settings:
    settings: Settings = request.app.state["settings"]
    return settings


def _user(request: AnyRequest) -> CurrentUser:
    user = current_user(request)
    assert user is not None  # guarded
    return user


def _input_from_form(form: dict[str, str]) -> service.ProposalInput:
    errors: dict[str, str] = {}
    theme_id: int | None = None
    district_id: int | None = None
    raw_theme = form["theme_id"].strip()
    if raw_theme:
        if service.is_id(raw_theme):
            theme_id = int(raw_theme)
        else:
            errors["theme_id"] = "Kies een thema van deze ronde."
    raw_district = form["district_id"].strip()
    if raw_district and raw_district != CITY_WIDE:
        if service.is_id(raw_district):
            district_id = int(raw_district)
        else:
            errors["district_id"] = "Kies een wijk van deze ronde, of stedelijk."
    try:
        cost = parse_euro(form["estimated_cost"], "estimated_cost")
    except ValidationFailed as exc:
        errors.update(exc.fields)
        cost = None
    if errors:
        raise ValidationFailed("Controleer de gemarkeerde velden.", fields=errors)
    return service.ProposalInput(
        title=form["title"],
        summary=form["summary"],
        description=form["description"],
        theme_id=theme_id,
        district_id=district_id,
        city_wide=district_id is None,
        estimated_cost_cents=cost,
        societal_effect=form["societal_effect"],
        target_group=form["target_group"],
        location=form["location"],
        organisation_name=form["organisation_name"],
        given=frozenset({"location", "organisation_name", "district_id"}),
    )


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


def _bad_form_error() -> ValidationFailed:
    return ValidationFailed(
        "Het formulier bevat velden die wij niet kennen of niet verwachten. Probeer het opnieuw."
    )


class ProposalPagesController(Controller):
    """Pages everyone can read, and residents' own pages."""

    include_in_schema = False

    # --- reading --------------------------------------------------------------------------------

    @get("/voorstellen")
    async def current_gallery(
        self, request: AnyRequest, db_session: DbSession
    ) -> Template | Redirect:
        """The gallery of the current round (or a notice when there is none)."""
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
            "sort_options": SORT_OPTIONS,
            "status_options": [
                (s, service.STATUS_LABELS[s])
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
                "notice": NOTICES.get(melding or ""),
                "can_support": view.supports_open and user is not None and user.has(Role.RESIDENT),
                "can_submit": view.is_author
                and view.proposal.status in {"draft", "changes_requested"}
                and not service.round_is_frozen(round_),
                "can_withdraw": view.is_author
                and view.proposal.status in service.WITHDRAWABLE
                and not service.round_is_frozen(round_),
                "is_main_author": user is not None and view.proposal.author_id == user.id,
                "is_moderator": user is not None and user.has(Role.MODERATOR),
                "user": user,
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
                "labels": FIELD_LABELS,
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
            form = await _read_form(request, PROPOSAL_FIELDS)
        except FormInputError:
            error = _bad_form_error()
            return await self._form_page(
                request, db_session, round_id, {}, _form_errors(error), None, 400
            )
        try:
            proposal = await service.create_proposal(
                db_session,
                round_id=round_id,
                user=_user(request),
                data=_input_from_form(form),
                submit=form["action"] == "submit",
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._form_page(
                request, db_session, round_id, form, _form_errors(error), None, _status_for(error)
            )
        await db_session.commit()
        notice = "ingediend" if proposal.status == "submitted" else "opgeslagen"
        return Redirect(f"/voorstellen/{proposal.id}?melding={notice}", status_code=303)

    @get("/voorstellen/{proposal_id:int}/bewerken", guards=[resident_only])
    async def edit_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        user = _user(request)
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
        user = _user(request)
        view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
        try:
            form = await _read_form(request, PROPOSAL_FIELDS)
        except FormInputError:
            return await self._form_page(
                request,
                db_session,
                view.round_id,
                _values_from_proposal(view),
                _form_errors(_bad_form_error()),
                view,
                400,
            )
        try:
            proposal = await service.update_proposal(
                db_session, proposal_id=proposal_id, user=user, data=_input_from_form(form)
            )
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
                _form_errors(error),
                view,
                _status_for(error),
            )
        await db_session.commit()
        notice = "ingediend" if form["action"] == "submit" else "opgeslagen"
        return Redirect(f"/voorstellen/{proposal.id}?melding={notice}", status_code=303)

    @post("/voorstellen/{proposal_id:int}/indienen", guards=[resident_only])
    async def submit(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.submit_proposal(db_session, proposal_id=proposal_id, user=_user(request))
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=ingediend", status_code=303)

    @get("/voorstellen/{proposal_id:int}/intrekken", guards=[resident_only])
    async def withdraw_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        view = await gallery.get_proposal_view(
            db_session, proposal_id=proposal_id, user=_user(request)
        )
        if not view.is_author:
            raise Forbidden("Alleen de indieners van dit voorstel kunnen het intrekken.")
        return render(request, "proposals/withdraw.html", {"p": view.proposal})

    @post("/voorstellen/{proposal_id:int}/intrekken", guards=[resident_only])
    async def withdraw(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.withdraw_proposal(db_session, proposal_id=proposal_id, user=_user(request))
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=ingetrokken", status_code=303)

    @post("/voorstellen/{proposal_id:int}/steunen", guards=[resident_only])
    async def support(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.add_support(db_session, proposal_id=proposal_id, user=_user(request))
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=gesteund", status_code=303)

    @post("/voorstellen/{proposal_id:int}/steun-intrekken", guards=[resident_only])
    async def unsupport(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Redirect:
        await service.remove_support(db_session, proposal_id=proposal_id, user=_user(request))
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=steun-ingetrokken", status_code=303)

    @get("/mijn-voorstellen", guards=[requires_login])
    async def mine(
        self, request: AnyRequest, db_session: DbSession, melding: FromQuery[str | None] = None
    ) -> Template:
        user = _user(request)
        rows = await gallery.my_proposals(db_session, user=user)
        pending = await invitations.pending_for_address(db_session, email=user.email)
        return render(
            request,
            "proposals/mine.html",
            {
                "rows": rows,
                "invitations": pending,
                "status_labels": service.STATUS_LABELS,
                "notice": MINE_NOTICES.get(melding or ""),
            },
        )

    @get("/voorstellen/{proposal_id:int}/mede-indieners", guards=[resident_only])
    async def coauthors_form(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template:
        return await self._coauthors_page(request, db_session, proposal_id, {}, {})

    async def _coauthors_page(  # noqa: PLR0917 - private helper, called positionally
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        values: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        user = _user(request)
        view = await gallery.get_proposal_view(db_session, proposal_id=proposal_id, user=user)
        if not view.is_author:
            raise Forbidden("Alleen de indieners van dit voorstel kunnen dit beheren.")
        round_ = await rounds.get_round(db_session, view.round_id)
        pending = await invitations.pending_for_proposal(
            db_session, proposal_id=proposal_id, user=user
        )
        return render(
            request,
            "proposals/coauthors.html",
            {
                "view": view,
                "p": view.proposal,
                "values": values,
                "errors": errors,
                "labels": FIELD_LABELS,
                "is_main_author": view.proposal.author_id == user.id,
                "user": user,
                "invitations": pending,
                "can_invite": view.proposal.status not in invitations.CLOSED_PROPOSAL
                and not service.round_is_frozen(round_),
                "max_pending": invitations.MAX_PENDING,
                "message_max": invitations.MESSAGE_MAX,
                "days": invitations.INVITATION_DAYS,
            },
            status_code=status_code,
        )

    @post("/voorstellen/{proposal_id:int}/mede-indieners", guards=[resident_only])
    async def invite(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template | Redirect:
        """Always "Uitnodiging verstuurd" for a valid address, whether it has an account or not."""
        try:
            form = await _read_form(request, frozenset({"email", "message"}))
        except FormInputError:
            return await self._coauthors_page(
                request, db_session, proposal_id, {}, _form_errors(_bad_form_error()), 400
            )
        settings = _settings(request)
        try:
            _invitation, mail = await invitations.invite(
                db_session,
                settings,
                proposal_id=proposal_id,
                user=_user(request),
                email=form["email"],
                message=form["message"],
            )
        except DomainError as error:
            await db_session.rollback()
            if isinstance(error, ValidationFailed | Conflict | RateLimited):
                return await self._coauthors_page(
                    request,
                    db_session,
                    proposal_id,
                    form,
                    _form_errors(error) if error.fields else {"": error.message},
                    _status_for(error),
                )
            raise
        await db_session.commit()
        await send_mail(settings, to=mail.to, subject=mail.subject, body=mail.body)
        return Redirect(f"/voorstellen/{proposal_id}/mede-indieners?verstuurd=1", status_code=303)

    @post(
        "/voorstellen/{proposal_id:int}/uitnodigingen/{invitation_id:int}/intrekken",
        guards=[resident_only],
    )
    async def revoke_invitation(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        invitation_id: FromPath[int],
    ) -> Redirect:
        await invitations.revoke(
            db_session, proposal_id=proposal_id, invitation_id=invitation_id, user=_user(request)
        )
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}/mede-indieners?ingetrokken=1", status_code=303)

    @post(
        "/voorstellen/{proposal_id:int}/mede-indieners/{user_id:int}/verwijderen",
        guards=[requires_login],
    )
    async def remove_coauthor(
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        user_id: FromPath[int],
    ) -> Redirect:
        user = _user(request)
        await service.remove_coauthor(
            db_session, proposal_id=proposal_id, user=user, coauthor_id=user_id
        )
        await db_session.commit()
        if user_id == user.id:
            return Redirect("/mijn-voorstellen", status_code=303)
        return Redirect(f"/voorstellen/{proposal_id}/mede-indieners", status_code=303)


_TOKEN_FIELDS = frozenset({"token", "invitation_id"})


def _invitation_key(form: dict[str, str]) -> tuple[str | None, int | None]:
    """(token, invitation id) from a form: exactly one must be given."""
    token = form["token"].strip()
    raw_id = form["invitation_id"].strip()
    if token and not raw_id:
        return token, None
    if raw_id and not token and service.is_id(raw_id):
        return None, int(raw_id)
    raise ValidationFailed("De uitnodiging ontbreekt: open de link uit de e-mail opnieuw.")


class InvitationPagesController(Controller):
    """``/uitnodiging``: the invitee sees an invitation and accepts or declines it.

    GET only shows (mail scanners fetch every link; nothing may be used up by looking); the
    answer is a POST form with CSRF. The token travels in the link and then in hidden form
    fields; an invitation sent to the user's own account address can also be opened by its id.
    """

    include_in_schema = False

    async def _page(  # noqa: PLR0917 - private helper, called positionally
        self,
        request: AnyRequest,
        db_session: DbSession,
        token: str | None,
        invitation_id: int | None,
        errors: dict[str, str],
        values: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        user = current_user(request)
        view: invitations.InvitationView | None = None
        if token is not None or (invitation_id is not None and user is not None):
            try:
                view = await invitations.get_invitation(
                    db_session,
                    _settings(request),
                    token=token,
                    invitation_id=invitation_id,
                    user=user,
                    email=user.email if user else None,
                )
            except DomainError as error:
                errors = errors or {"": error.message}
                status_code = status_code if status_code != 200 else _status_for(error)
        here = "/uitnodiging?" + (
            urlencode({"token": token}) if token is not None else urlencode({"id": invitation_id})
        )
        return render(
            request,
            "proposals/invitation.html",
            {
                "view": view,
                "token": token or "",
                "invitation_id": "" if invitation_id is None else str(invitation_id),
                "errors": errors,
                "values": values,
                "labels": {"organisation_name": "Naam organisatie (niet verplicht)"},
                "user": user,
                "is_resident": user is not None and user.has(Role.RESIDENT),
                "login_link": "/inloggen?" + urlencode({"next": here}),
                "organisation_max": invitations.ORGANISATION_MAX,
            },
            status_code=status_code,
        )

    @get("/uitnodiging")
    async def show(
        self,
        request: AnyRequest,
        db_session: DbSession,
        token: FromQuery[str | None] = None,
        invitation_ref: Annotated[str | None, QueryParameter(name="id")] = None,
    ) -> Template:
        invitation_id: int | None = None
        if invitation_ref is not None and service.is_id(invitation_ref.strip()):
            invitation_id = int(invitation_ref.strip())
        if not token and invitation_id is None:
            return await self._page(
                request,
                db_session,
                None,
                None,
                {"": "Deze link is onvolledig: het token ontbreekt. Open de link uit de e-mail."},
                {},
                400,
            )
        return await self._page(request, db_session, token or None, invitation_id, {}, {})

    async def _answer(
        self, request: AnyRequest, db_session: DbSession, *, accept: bool
    ) -> Template | Redirect:
        fields = _TOKEN_FIELDS | ({"organisation_name"} if accept else set())
        try:
            form = await _read_form(request, frozenset(fields))
        except FormInputError:
            return await self._page(
                request, db_session, None, None, _form_errors(_bad_form_error()), {}, 400
            )
        user = _user(request)
        token: str | None = None
        invitation_id: int | None = None
        try:
            token, invitation_id = _invitation_key(form)
            view = await invitations.respond(
                db_session,
                _settings(request),
                user=user,
                accept=accept,
                token=token,
                invitation_id=invitation_id,
                email=user.email,
                organisation_name=form.get("organisation_name"),
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._page(
                request,
                db_session,
                token,
                invitation_id,
                _form_errors(error),
                form,
                _status_for(error),
            )
        await db_session.commit()
        if accept:
            return Redirect(
                f"/voorstellen/{view.proposal_id}?melding=mede-indiener", status_code=303
            )
        return Redirect("/mijn-voorstellen?melding=uitnodiging-afgewezen", status_code=303)

    @post("/uitnodiging/accepteren", guards=[resident_only])
    async def accept(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        return await self._answer(request, db_session, accept=True)

    @post("/uitnodiging/afwijzen", guards=[requires_login])
    async def decline(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        return await self._answer(request, db_session, accept=False)


MINE_NOTICES: dict[str, str] = {
    "uitnodiging-afgewezen": "U heeft de uitnodiging afgewezen.",
}

NOTICES: dict[str, str] = {
    "mede-indiener": "U bent nu mede-indiener van dit voorstel en kunt het bewerken.",
    "opgeslagen": "Uw voorstel is opgeslagen.",
    "ingediend": "Uw voorstel is ingediend.",
    "ingetrokken": "Het voorstel is ingetrokken.",
    "gesteund": "U steunt dit voorstel.",
    "steun-ingetrokken": "U steunt dit voorstel niet meer.",
    "beoordeeld": "Het besluit is opgeslagen en de indieners zijn per e-mail ingelicht.",
    "samengevoegd": "De voorstellen zijn samengevoegd.",
}


class ReviewPagesController(Controller):
    """Moderators: the queue, the review form and the merge form."""

    include_in_schema = False
    guards = [moderator_only]  # noqa: RUF012

    @get("/toetsing")
    async def queue(self, request: AnyRequest, db_session: DbSession) -> Template:
        rows = await review.review_queue(db_session, threshold="reached")
        collecting = await review.review_queue(db_session, threshold="below")
        # Rounds whose proposals can be downloaded (the export's own rule: drafts for admins).
        export_rounds = await rounds.list_rounds(
            db_session, include_drafts=_user(request).has(Role.ADMIN)
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

    async def _review_page(  # noqa: PLR0917 - private helper, called positionally
        self,
        request: AnyRequest,
        db_session: DbSession,
        proposal_id: FromPath[int],
        values: dict[str, str] | None,
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        view = await gallery.get_proposal_view(
            db_session, proposal_id=proposal_id, user=_user(request)
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
        return render(
            request,
            "proposals/review.html",
            {
                "view": view,
                "p": p,
                "values": values,
                "errors": errors,
                "labels": FIELD_LABELS,
                "decision_options": DECISION_OPTIONS,
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
        return await self._review_page(request, db_session, proposal_id, None, {})

    @post("/voorstellen/{proposal_id:int}/toetsing")
    async def review(
        self, request: AnyRequest, db_session: DbSession, proposal_id: FromPath[int]
    ) -> Template | Redirect:
        fields = frozenset({"decision", "municipal_cost", "feasibility_notes", "public_reasoning"})
        try:
            form = await _read_form(request, fields)
        except FormInputError:
            return await self._review_page(
                request, db_session, proposal_id, {}, _form_errors(_bad_form_error()), 400
            )
        try:
            cost = parse_euro(form["municipal_cost"], "municipal_cost_cents")
            await review.review_proposal(
                db_session,
                _settings(request),
                proposal_id=proposal_id,
                moderator=_user(request),
                data=review.ReviewInput(
                    decision=form["decision"],
                    municipal_cost_cents=cost,
                    feasibility_notes=form["feasibility_notes"],
                    public_reasoning=form["public_reasoning"],
                ),
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._review_page(
                request, db_session, proposal_id, form, _form_errors(error), _status_for(error)
            )
        await db_session.commit()
        return Redirect(f"/voorstellen/{proposal_id}?melding=beoordeeld", status_code=303)

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
            db_session, proposal_id=proposal_id, user=_user(request)
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
                "labels": FIELD_LABELS,
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
            form = await _read_form(request, frozenset({"into_id", "reason"}))
        except FormInputError:
            return await self._merge_page(
                request, db_session, proposal_id, {}, _form_errors(_bad_form_error()), 400
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
                _settings(request),
                source_id=proposal_id,
                target_id=int(raw),
                moderator=_user(request),
                reason=form["reason"],
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._merge_page(
                request, db_session, proposal_id, form, _form_errors(error), _status_for(error)
            )
        await db_session.commit()
        return Redirect(f"/voorstellen/{target.id}?melding=samengevoegd", status_code=303)


PAGE_CONTROLLERS = (ProposalPagesController, InvitationPagesController, ReviewPagesController)
