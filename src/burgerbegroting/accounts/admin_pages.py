"""``/beheer/gebruikers``: admins invite staff, grant and revoke roles, close and reopen accounts.

No JavaScript: POST forms with CSRF, a 303 after an explicit commit, the form again with Dutch
messages on bad input. Each role is its own checkbox (``rol_<role>``): the shared form reader
refuses repeated fields.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from burgerbegroting.accounts import admin
from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import DomainError, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.mail import send_mail
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_fields
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import settings_of

AnyRequest = Request[Any, Any, Any]
_FORM_LIMIT = 4096

ROLE_CHOICES: list[tuple[Role, str]] = [
    (Role.MODERATOR, N_("Toetser: beoordeelt voorstellen")),
    (Role.ADMIN, N_("Beheerder: rondes, fasen en accounts")),
    (Role.COUNCIL, N_("Raadslid: leest uitslagen en rapportages")),
    (Role.AUDITOR, N_("Controleur: downloadt de controlebestanden en het logboek")),
    (Role.RESIDENT, N_("Inwoner: dient voorstellen in en steunt ze")),
]
ROLE_FIELDS = frozenset(f"rol_{role.value}" for role, _label in ROLE_CHOICES)
NOTICES = {
    "uitgenodigd": N_("De uitnodiging is verstuurd."),
    "rollen": N_("De rollen zijn opgeslagen en in het logboek gezet."),
    "gesloten": N_("Het account is gesloten; de sessies ervan zijn beëindigd."),
    "heropend": N_("Het account is weer open."),
}
LABELS = {
    "email": N_("E-mailadres"),
    "display_name": N_("Naam"),
    "roles": N_("Rollen"),
    "reason": N_("Reden voor het logboek"),
}


def _actor(request: AnyRequest) -> int:
    user = current_user(request)
    assert user is not None  # guarded
    return user.id


def _status(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _errors(error: DomainError) -> dict[str, str]:
    fields = {("rol_moderator" if k == "roles" else k): v for k, v in error.fields.items()}
    return fields or {"": error.message}


def _roles(form: dict[str, str]) -> list[str]:
    return [name.removeprefix("rol_") for name in sorted(ROLE_FIELDS) if form.get(name) == "1"]


def _bad_form() -> ValidationFailed:
    return ValidationFailed(
        _("Het formulier bevat velden die wij niet kennen of niet verwachten. Probeer het opnieuw.")
    )


class AdminUsersPagesController(Controller):
    path = "/beheer/gebruikers"
    include_in_schema = False
    guards = [require_roles(Role.ADMIN)]  # noqa: RUF012 - Litestar's declared attribute

    @get("/")
    async def users(
        self,
        request: AnyRequest,
        db_session: DbSession,
        q: FromQuery[str | None] = None,
        melding: FromQuery[str | None] = None,
    ) -> Template:
        return await self._list(request, db_session, q or "", {}, {}, notice=melding)

    @post("/uitnodigen")
    async def invite(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        try:
            form = await read_fields(
                request, frozenset({"email", "display_name", *ROLE_FIELDS}), limit=_FORM_LIMIT
            )
        except FormInputError:
            return await self._list(request, db_session, "", {}, _errors(_bad_form()), status=400)
        try:
            _user, mail = await admin.invite_staff(
                db_session,
                settings,
                actor_id=_actor(request),
                email=form["email"],
                display_name=form["display_name"],
                roles=_roles(form),
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._list(
                request, db_session, "", form, _errors(error), status=_status(error)
            )
        await db_session.commit()
        task = BackgroundTask(send_mail, settings, to=mail.to, subject=mail.subject, body=mail.body)
        return Redirect("/beheer/gebruikers?melding=uitgenodigd", status_code=303, background=task)

    @get("/{user_id:int}")
    async def user_page(
        self,
        request: AnyRequest,
        db_session: DbSession,
        user_id: FromPath[int],
        melding: FromQuery[str | None] = None,
    ) -> Template:
        return await self._user(request, db_session, user_id, {}, {}, notice=melding)

    @post("/{user_id:int}/rollen")
    async def roles(
        self, request: AnyRequest, db_session: DbSession, user_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            form = await read_fields(
                request, frozenset({"reason", *ROLE_FIELDS}), limit=_FORM_LIMIT
            )
        except FormInputError:
            return await self._user(request, db_session, user_id, {}, _errors(_bad_form()), 400)
        try:
            await admin.set_roles(
                db_session,
                actor_id=_actor(request),
                user_id=user_id,
                roles=_roles(form),
                reason=form["reason"],
            )
        except DomainError as error:
            await db_session.rollback()
            return await self._user(
                request, db_session, user_id, form, _errors(error), _status(error)
            )
        await db_session.commit()
        return Redirect(f"/beheer/gebruikers/{user_id}?melding=rollen", status_code=303)

    @post("/{user_id:int}/sluiten")
    async def close(
        self, request: AnyRequest, db_session: DbSession, user_id: FromPath[int]
    ) -> Template | Redirect:
        return await self._set_active(request, db_session, user_id, active=False)

    @post("/{user_id:int}/heropenen")
    async def reopen(
        self, request: AnyRequest, db_session: DbSession, user_id: FromPath[int]
    ) -> Template | Redirect:
        return await self._set_active(request, db_session, user_id, active=True)

    async def _set_active(
        self, request: AnyRequest, db_session: DbSession, user_id: int, *, active: bool
    ) -> Template | Redirect:
        try:
            form = await read_fields(request, frozenset({"reason"}), limit=_FORM_LIMIT)
        except FormInputError:
            return await self._user(request, db_session, user_id, {}, _errors(_bad_form()), 400)
        try:
            await admin.set_active(
                db_session,
                actor_id=_actor(request),
                user_id=user_id,
                active=active,
                reason=form["reason"],
            )
        except DomainError as error:
            await db_session.rollback()
            errors = {f"status_{k}" if k else "": v for k, v in _errors(error).items()}
            return await self._user(request, db_session, user_id, {}, errors, _status(error))
        await db_session.commit()
        notice = "heropend" if active else "gesloten"
        return Redirect(f"/beheer/gebruikers/{user_id}?melding={notice}", status_code=303)

    # --- rendering -------------------------------------------------------------------------------

    async def _list(
        self,
        request: AnyRequest,
        db_session: DbSession,
        query: str,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        notice: str | None = None,
        status: int = 200,
    ) -> Template:
        rows = await admin.list_users(db_session, query=query)
        return render(
            request,
            "admin/users.html",
            {
                "rows": rows,
                "query": query[:100],
                "values": values,
                "errors": errors,
                "role_choices": [(r.value, _(label)) for r, label in ROLE_CHOICES],
                "labels": {**{k: _(v) for k, v in LABELS.items()}, "rol_moderator": _("Rollen")},
                "notice": _(NOTICES[notice]) if notice in NOTICES else None,
            },
            status_code=status,
        )

    async def _user(  # noqa: PLR0917 - private renderer, called positionally
        self,
        request: AnyRequest,
        db_session: DbSession,
        user_id: int,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
        *,
        notice: str | None = None,
    ) -> Template:
        row = await admin.get_user_row(db_session, user_id)
        return render(
            request,
            "admin/user.html",
            {
                "row": row,
                "values": values,
                "errors": errors,
                "role_choices": [(r.value, _(label)) for r, label in ROLE_CHOICES],
                "labels": {
                    **{k: _(v) for k, v in LABELS.items()},
                    "rol_moderator": _("Rollen"),
                    "status_reason": _("Reden voor het logboek"),
                },
                "notice": _(NOTICES[notice]) if notice in NOTICES else None,
                "is_self": row.id == _actor(request),
            },
            status_code=status,
        )
