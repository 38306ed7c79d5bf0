"""Accounts over HTTP: the JSON API under ``/api/v1/auth`` and the Dutch pages.

Pages: ``/inloggen``, ``/registreren`` (→ ``/registreren/verstuurd``), ``/bevestigen`` (GET shows a
button, POST confirms: mail scanners that follow links must not use up or act on the link),
``/uitloggen`` (POST; GET shows the button) and ``/uitgelogd``. Forms re-render with the Dutch
messages of the service on bad input and the status of the error; success redirects (303) after an
explicit commit, because the session plugin only commits 2xx responses.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.response import Redirect, Response, Template
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from burgerbegroting.accounts import service, tokens
from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import requires_login
from burgerbegroting.accounts.middleware import (
    clear_session_cookie,
    session_cookie,
    token_ids,
)
from burgerbegroting.accounts.schemas import (
    ConfirmRequest,
    LoginRequest,
    LoginResponse,
    MessageResponse,
    RegisterRequest,
    UserResponse,
)
from burgerbegroting.errors import DomainError, RateLimited, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.mail import send_mail
from burgerbegroting.settings import Settings
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_fields, safe_next_path
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import client_ip, require_json, settings_of

AnyRequest = Request[Any, Any, Any]
logger = logging.getLogger("burgerbegroting.accounts")


def _user_response(user: CurrentUser) -> UserResponse:
    return UserResponse(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=sorted(role.value for role in user.roles),
    )


async def _revoke_current(request: AnyRequest, db_session: DbSession) -> None:
    token = request.scope.get("auth")
    if isinstance(token, Token):
        await service.revoke_tokens(db_session, token_ids(token), token.exp.astimezone(UTC))


async def _complete_registration(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    registration: service.Registration,
) -> None:
    """Create or update the account and send the mail, after the answer went out."""
    try:
        async with sessions() as session:
            mail = await service.complete_registration(session, settings, registration)
            await session.commit()
        await send_mail(settings, to=mail.to, subject=mail.subject, body=mail.body)
    except DomainError as error:  # a lost race for the address: nothing to tell anyone
        logger.info("registration not completed: %s", type(error).__name__)


def _complete_registration_later(
    request: AnyRequest, registration: service.Registration
) -> BackgroundTask:
    """Registration answers before the account is written or the mail sent, so a new and an
    existing address cost the request the same (``service.accept_registration``)."""
    return BackgroundTask(
        _complete_registration,
        settings_of(request),
        request.app.state["background_sessions"],
        registration,
    )


class AuthApiController(Controller):
    """``/api/v1/auth``: register, confirm, login, logout, me."""

    path = "/api/v1/auth"
    tags = ("auth",)

    @post("/register", status_code=202, summary="Register a resident account")
    async def register(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[RegisterRequest]
    ) -> Response[MessageResponse]:
        """Always the same answer, whether or not the address had an account (the mail says)."""
        require_json(request)
        registration = await service.accept_registration(
            db_session,
            settings_of(request),
            email=data.email,
            password=data.password,
            display_name=data.display_name,
            client_ip=client_ip(request),
        )
        detail = _(
            "Controleer uw e-mail: wij hebben een bericht gestuurd naar %(email)s.",
            email=registration.email,
        )
        return Response(
            MessageResponse(detail=detail),
            status_code=202,
            background=_complete_registration_later(request, registration),
        )

    @post("/confirm", status_code=200, summary="Confirm an e-mail address with the mailed token")
    async def confirm(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[ConfirmRequest]
    ) -> MessageResponse:
        require_json(request)
        await service.confirm_email(db_session, settings_of(request), data.token)
        return MessageResponse(detail=_("Uw e-mailadres is bevestigd. U kunt nu inloggen."))

    @post("/login", status_code=200, summary="Log in; returns a JWT and sets the session cookie")
    async def login(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[LoginRequest]
    ) -> Response[LoginResponse]:
        require_json(request)
        settings = settings_of(request)
        user = await service.login(
            db_session,
            settings,
            email=data.email,
            password=data.password,
            client_ip=client_ip(request),
        )
        token = tokens.issue_session_token(
            settings, user_id=user.id, staff=service.user_is_staff(user)
        )
        body = LoginResponse(
            token=token.encoded,
            token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_at=token.expires_at,
            user=_user_response(service.to_current_user(user)),
        )
        return Response(body, cookies=[session_cookie(settings, token)])

    @post(
        "/logout",
        status_code=200,
        guards=[requires_login],
        summary="Revoke the presented bearer token (and its session)",
    )
    async def logout(self, request: AnyRequest, db_session: DbSession) -> Response[MessageResponse]:
        await _revoke_current(request, db_session)
        return Response(
            MessageResponse(detail=_("U bent uitgelogd.")),
            cookies=[clear_session_cookie(settings_of(request))],
        )

    @get("/me", guards=[requires_login], summary="The logged-in user")
    async def me(self, request: AnyRequest) -> UserResponse:
        user = current_user(request)
        assert user is not None  # requires_login guarantees it
        return _user_response(user)


# --- pages ---------------------------------------------------------------------------------------

_FORM_LIMIT = 4096  # characters per form value; the service's own limits are far below


def _status_for(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _form_error_page(
    request: AnyRequest,
    template: str,
    error: DomainError,
    values: dict[str, str],
    extra: dict[str, Any] | None = None,
    *,
    status: int | None = None,
) -> Template:
    errors: dict[str, str] = dict(error.fields) or {"": error.message}
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return render(
        request,
        template,
        {"errors": errors, "values": values, "message": error.message, **(extra or {})},
        status_code=status or _status_for(error),
        headers=headers,
    )


def _bad_form(request: AnyRequest, template: str, extra: dict[str, Any] | None = None) -> Template:
    error = ValidationFailed(
        _("Het formulier bevat velden die wij niet kennen of niet verwachten. Probeer het opnieuw.")
    )
    return _form_error_page(request, template, error, {}, extra, status=400)


class AccountPagesController(Controller):
    """The Dutch account pages."""

    include_in_schema = False

    @get("/inloggen")
    async def login_form(
        self,
        request: AnyRequest,
        next_path: Annotated[str | None, QueryParameter(name="next")] = None,
        bevestigd: FromQuery[str | None] = None,
    ) -> Template:
        return render(
            request,
            "accounts/login.html",
            {
                "errors": {},
                "values": {},
                "next_path": safe_next_path(next_path),
                "confirmed": bevestigd == "1",
            },
        )

    @post("/inloggen")
    async def login(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        template = "accounts/login.html"
        try:
            form = await read_fields(
                request, frozenset({"email", "password", "next_path"}), limit=_FORM_LIMIT
            )
        except FormInputError:
            return _bad_form(request, template, {"next_path": "/"})
        next_path = safe_next_path(form["next_path"])
        try:
            user = await service.login(
                db_session,
                settings,
                email=form["email"],
                password=form["password"],
                client_ip=client_ip(request),
            )
        except DomainError as error:
            return _form_error_page(
                request, template, error, {"email": form["email"]}, {"next_path": next_path}
            )
        token = tokens.issue_session_token(
            settings, user_id=user.id, staff=service.user_is_staff(user)
        )
        await db_session.commit()
        return Redirect(next_path, status_code=303, cookies=[session_cookie(settings, token)])

    @get("/registreren")
    async def register_form(self, request: AnyRequest) -> Template:
        return render(request, "accounts/register.html", {"errors": {}, "values": {}})

    @post("/registreren")
    async def register(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        template = "accounts/register.html"
        try:
            form = await read_fields(
                request, frozenset({"email", "password", "display_name"}), limit=_FORM_LIMIT
            )
        except FormInputError:
            return _bad_form(request, template)
        try:
            registration = await service.accept_registration(
                db_session,
                settings,
                email=form["email"],
                password=form["password"],
                display_name=form["display_name"],
                client_ip=client_ip(request),
            )
        except DomainError as error:
            values = {"email": form["email"], "display_name": form["display_name"]}
            return _form_error_page(request, template, error, values)
        return Redirect(
            "/registreren/verstuurd?" + urlencode({"email": registration.email}),
            status_code=303,
            background=_complete_registration_later(request, registration),
        )

    @get("/registreren/verstuurd")
    async def registered(
        self, request: AnyRequest, email: FromQuery[str | None] = None
    ) -> Template:
        shown = email if email and len(email) <= 254 else None
        return render(request, "accounts/registered.html", {"email": shown})

    @get("/bevestigen")
    async def confirm_form(
        self, request: AnyRequest, token: FromQuery[str | None] = None
    ) -> Template:
        # Showing a button, not confirming: link scanners in mail filters fetch every link.
        if not token:
            return render(
                request,
                "accounts/confirm.html",
                {"token": "", "errors": {"": _("Deze link is onvolledig: het token ontbreekt.")}},
                status_code=400,
            )
        return render(request, "accounts/confirm.html", {"token": token, "errors": {}})

    @post("/bevestigen")
    async def confirm(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        template = "accounts/confirm.html"
        try:
            form = await read_fields(request, frozenset({"token"}), limit=_FORM_LIMIT)
        except FormInputError:
            return _bad_form(request, template, {"token": ""})
        try:
            await service.confirm_email(db_session, settings_of(request), form["token"])
        except DomainError as error:
            return _form_error_page(request, template, error, {}, {"token": ""})
        await db_session.commit()
        return Redirect("/inloggen?bevestigd=1", status_code=303)

    @get("/uitloggen")
    async def logout_form(self, request: AnyRequest) -> Template:
        return render(request, "accounts/logout.html", {})

    @post("/uitloggen")
    async def logout(self, request: AnyRequest, db_session: DbSession) -> Redirect:
        await _revoke_current(request, db_session)
        await db_session.commit()
        return Redirect(
            "/uitgelogd", status_code=303, cookies=[clear_session_cookie(settings_of(request))]
        )

    @get("/uitgelogd")
    async def logged_out(self, request: AnyRequest) -> Template:
        return render(request, "accounts/logged_out.html", {"at": datetime.now(UTC)})
