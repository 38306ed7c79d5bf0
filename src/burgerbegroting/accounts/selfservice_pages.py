"""Residents' own account pages: forgotten password, "Mijn account" (name, e-mail address,
password, download my data, delete my account).

Like the other account pages: no JavaScript, POST forms with CSRF, a 303 after an explicit commit,
and the form again with the service's Dutch messages on bad input. Links from mails open a page
with a button (GET never acts: mail scanners follow links). Mail is sent after the response
(a background task), so "is there an account with this address?" cannot be read from timing.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from burgerbegroting.accounts import recovery, selfservice, tokens
from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import requires_login
from burgerbegroting.accounts.middleware import clear_session_cookie, session_cookie
from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import OutgoingMail, user_is_staff
from burgerbegroting.errors import DomainError, RateLimited, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.mail import send_mail
from burgerbegroting.proposals import photos
from burgerbegroting.settings import Settings
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_fields
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import client_ip, settings_of

AnyRequest = Request[Any, Any, Any]
_FORM_LIMIT = 4096

ACCOUNT_NOTICES: dict[str, str] = {
    "naam": N_("Uw naam is gewijzigd."),
    "e-mail-verstuurd": N_(
        "We hebben een bevestigingslink gestuurd naar het nieuwe adres. Uw e-mailadres verandert "
        "zodra u op die link klikt."
    ),
    "e-mail-gewijzigd": N_("Uw e-mailadres is gewijzigd."),
    "wachtwoord": N_("Uw wachtwoord is gewijzigd. Op andere apparaten bent u uitgelogd."),
}
ACCOUNT_LABELS: dict[str, str] = {
    "display_name": N_("Naam"),
    "email": N_("Nieuw e-mailadres"),
    "current_password": N_("Huidig wachtwoord"),
    "new_password": N_("Nieuw wachtwoord"),
    "password": N_("Wachtwoord"),
    "token": N_("Link"),
}


def _user(request: AnyRequest) -> CurrentUser:
    user = current_user(request)
    assert user is not None  # guarded by requires_login
    return user


def _status(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _errors(error: DomainError) -> dict[str, str]:
    return dict(error.fields) or {"": error.message}


def _labels() -> dict[str, str]:
    return {key: _(label) for key, label in ACCOUNT_LABELS.items()}


def _mail_task(settings: Settings, mail: OutgoingMail | None) -> BackgroundTask | None:
    if mail is None:
        return None
    return BackgroundTask(send_mail, settings, to=mail.to, subject=mail.subject, body=mail.body)


def _bad_form() -> ValidationFailed:
    return ValidationFailed(
        _("Het formulier bevat velden die wij niet kennen of niet verwachten. Probeer het opnieuw.")
    )


class SelfServicePagesController(Controller):
    """``/wachtwoord-vergeten``, ``/wachtwoord-herstellen`` and ``/mijn-account``."""

    include_in_schema = False

    # --- forgotten password ----------------------------------------------------------------------

    @get("/wachtwoord-vergeten")
    async def forgot_form(self, request: AnyRequest) -> Template:
        return render(
            request, "accounts/forgot.html", {"errors": {}, "values": {}, "labels": _labels()}
        )

    @post("/wachtwoord-vergeten")
    async def forgot(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        try:
            form = await read_fields(request, frozenset({"email"}), limit=_FORM_LIMIT)
        except FormInputError:
            return self._page(request, "accounts/forgot.html", _bad_form(), {}, status=400)
        try:
            mail = await recovery.request_password_reset(
                db_session, settings, email=form["email"], client_ip=client_ip(request)
            )
        except DomainError as error:
            return self._page(request, "accounts/forgot.html", error, {"email": form["email"]})
        await db_session.commit()
        # The same answer whether or not the address has an account; the mail goes afterwards.
        return Redirect(
            "/wachtwoord-vergeten/verstuurd",
            status_code=303,
            background=_mail_task(settings, mail),
        )

    @get("/wachtwoord-vergeten/verstuurd")
    async def forgot_sent(self, request: AnyRequest) -> Template:
        return render(request, "accounts/forgot_sent.html", {})

    @get("/wachtwoord-herstellen")
    async def reset_form(
        self, request: AnyRequest, db_session: DbSession, token: FromQuery[str | None] = None
    ) -> Template:
        try:
            await recovery.check_reset_token(db_session, settings_of(request), token or "")
        except DomainError as error:
            return self._page(request, "accounts/reset.html", error, {}, extra={"token": ""})
        return render(
            request,
            "accounts/reset.html",
            {"token": token, "errors": {}, "values": {}, "labels": _labels()},
        )

    @post("/wachtwoord-herstellen")
    async def reset(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        template = "accounts/reset.html"
        try:
            form = await read_fields(request, frozenset({"token", "password"}), limit=_FORM_LIMIT)
        except FormInputError:
            return self._page(request, template, _bad_form(), {}, extra={"token": ""}, status=400)
        try:
            await recovery.reset_password(
                db_session, settings, token=form["token"], password=form["password"]
            )
        except DomainError as error:
            await db_session.rollback()
            # A bad password keeps the (still valid) link on the page; a bad link drops it.
            keep = "token" not in error.fields
            extra = {"token": form["token"] if keep else ""}
            return self._page(request, template, error, {}, extra=extra)
        await db_session.commit()
        # Every session ended, this browser's too: log in again with the new password.
        return Redirect(
            "/wachtwoord-herstellen/klaar",
            status_code=303,
            cookies=[clear_session_cookie(settings)],
        )

    @get("/wachtwoord-herstellen/klaar")
    async def reset_done(self, request: AnyRequest) -> Template:
        return render(request, "accounts/reset_done.html", {})

    # --- my account ------------------------------------------------------------------------------

    @get("/mijn-account", guards=[requires_login])
    async def account(self, request: AnyRequest, melding: FromQuery[str | None] = None) -> Template:
        return self._account(request, {}, {}, notice=melding)

    @post("/mijn-account/naam", guards=[requires_login])
    async def change_name(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        try:
            form = await read_fields(request, frozenset({"display_name"}), limit=_FORM_LIMIT)
            await selfservice.change_display_name(
                db_session, user_id=_user(request).id, display_name=form["display_name"]
            )
        except FormInputError:
            return self._account_error(request, _bad_form(), {}, status=400)
        except DomainError as error:
            await db_session.rollback()
            return self._account_error(request, error, {"display_name": form["display_name"]})
        await db_session.commit()
        return Redirect("/mijn-account?melding=naam", status_code=303)

    @post("/mijn-account/e-mail", guards=[requires_login])
    async def change_email(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        fields = frozenset({"email", "current_password"})
        try:
            form = await read_fields(request, fields, limit=_FORM_LIMIT)
            mail = await selfservice.request_email_change(
                db_session,
                settings,
                user_id=_user(request).id,
                new_email=form["email"],
                password=form["current_password"],
            )
        except FormInputError:
            return self._account_error(request, _bad_form(), {}, status=400)
        except DomainError as error:
            await db_session.rollback()
            return self._account_error(request, error, {"email": form["email"]}, form="e-mail")
        return Redirect(
            "/mijn-account?melding=e-mail-verstuurd",
            status_code=303,
            background=_mail_task(settings, mail),
        )

    @get("/mijn-account/e-mail-bevestigen")
    async def confirm_email_form(
        self, request: AnyRequest, token: FromQuery[str | None] = None
    ) -> Template:
        errors = {} if token else {"": _("Deze link is onvolledig: het token ontbreekt.")}
        return render(
            request,
            "accounts/email_confirm.html",
            {"token": token or "", "errors": errors},
            status_code=200 if token else 400,
        )

    @post("/mijn-account/e-mail-bevestigen")
    async def confirm_email(
        self, request: AnyRequest, db_session: DbSession
    ) -> Template | Redirect:
        settings = settings_of(request)
        template = "accounts/email_confirm.html"
        try:
            form = await read_fields(request, frozenset({"token"}), limit=_FORM_LIMIT)
            _user_row, notice = await selfservice.confirm_email_change(
                db_session, settings, token=form["token"]
            )
        except FormInputError:
            return self._page(request, template, _bad_form(), {}, extra={"token": ""}, status=400)
        except DomainError as error:
            await db_session.rollback()
            return self._page(request, template, error, {}, extra={"token": ""})
        await db_session.commit()
        target = "/mijn-account?melding=e-mail-gewijzigd" if current_user(request) else "/inloggen"
        return Redirect(target, status_code=303, background=_mail_task(settings, notice))

    @post("/mijn-account/wachtwoord", guards=[requires_login])
    async def change_password(
        self, request: AnyRequest, db_session: DbSession
    ) -> Template | Redirect:
        settings = settings_of(request)
        try:
            form = await read_fields(
                request, frozenset({"current_password", "new_password"}), limit=_FORM_LIMIT
            )
            user = await selfservice.change_password(
                db_session,
                settings,
                user_id=_user(request).id,
                current_password=form["current_password"],
                new_password=form["new_password"],
            )
        except FormInputError:
            return self._account_error(request, _bad_form(), {}, status=400)
        except DomainError as error:
            await db_session.rollback()
            return self._account_error(request, error, {}, form="wachtwoord")
        await db_session.commit()
        # Every session ended; this browser gets a new one, so only the others are logged out.
        assert user.sessions_valid_after is not None  # set by change_password
        token = tokens.issue_session_token(
            settings,
            user_id=user.id,
            staff=user_is_staff(user),
            auth_time=int(user.sessions_valid_after.timestamp()),
        )
        return Redirect(
            "/mijn-account?melding=wachtwoord",
            status_code=303,
            cookies=[session_cookie(settings, token)],
        )

    @get("/mijn-account/gegevens.json", guards=[requires_login])
    async def download(self, request: AnyRequest, db_session: DbSession) -> Response[bytes]:
        data = await selfservice.export_data(
            db_session,
            user_id=_user(request).id,
            base_url=settings_of(request).base_url,
        )
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        return Response(
            body,
            media_type="application/json; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="mijn-gegevens-burgerbegroting.json"',
                "Cache-Control": "no-store",
            },
        )

    @get("/mijn-account/verwijderen", guards=[requires_login])
    async def delete_form(self, request: AnyRequest) -> Template:
        return render(request, "accounts/delete.html", {"errors": {}, "labels": _labels()})

    @post("/mijn-account/verwijderen", guards=[requires_login])
    async def delete(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        template = "accounts/delete.html"
        try:
            form = await read_fields(request, frozenset({"password"}), limit=_FORM_LIMIT)
            removed_photos = await selfservice.delete_account(
                db_session, settings, user_id=_user(request).id, password=form["password"]
            )
        except FormInputError:
            return self._page(request, template, _bad_form(), {}, status=400)
        except DomainError as error:
            await db_session.rollback()
            return self._page(request, template, error, {})
        await db_session.commit()
        # The deleted drafts' photo files go after the commit (a row never loses its file).
        await photos.discard_files(
            path
            for proposal_id, file_key in removed_photos
            for path in photos.files_of(settings.media_path, proposal_id, file_key)
        )
        return Redirect(
            "/account-verwijderd", status_code=303, cookies=[clear_session_cookie(settings)]
        )

    @get("/account-verwijderd")
    async def deleted(self, request: AnyRequest) -> Template:
        return render(request, "accounts/deleted.html", {})

    # --- rendering -------------------------------------------------------------------------------

    def _page(
        self,
        request: AnyRequest,
        template: str,
        error: DomainError,
        values: dict[str, str],
        *,
        extra: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> Template:
        headers = (
            {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
        )
        return render(
            request,
            template,
            {"errors": _errors(error), "values": values, "labels": _labels(), **(extra or {})},
            status_code=status or _status(error),
            headers=headers,
        )

    def _account(
        self,
        request: AnyRequest,
        errors: dict[str, str],
        values: dict[str, str],
        *,
        notice: str | None = None,
        form: str | None = None,
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "accounts/account.html",
            {
                "user": _user(request),
                "errors": errors,
                "values": values,
                "labels": _labels(),
                "failed_form": form,
                "notice": _(ACCOUNT_NOTICES[notice]) if notice in ACCOUNT_NOTICES else None,
                # Staff accounts are closed by an admin (selfservice.delete_account).
                "can_delete": _user(request).roles == frozenset({Role.RESIDENT}),
            },
            status_code=status,
        )

    def _account_error(
        self,
        request: AnyRequest,
        error: DomainError,
        values: dict[str, str],
        *,
        form: str = "naam",
        status: int | None = None,
    ) -> Template:
        return self._account(
            request, _errors(error), values, form=form, status=status or _status(error)
        )
