"""The co-author pages: an author invites co-authors by e-mail, revokes invitations and removes
co-authors; the invitee opens the invitation and accepts or declines it.

Without JavaScript, like every proposal page: POST forms with CSRF, a 303 redirect after a commit.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from burgerbegroting import i18n
from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import requires_login
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, DomainError, Forbidden, RateLimited, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.mail import send_mail
from burgerbegroting.proposals import gallery, invitations, service
from burgerbegroting.proposals.forms import (
    FIELD_LABELS,
    AnyRequest,
    bad_form_error,
    form_errors,
    read_form,
    request_user,
    resident_only,
    status_for,
)
from burgerbegroting.rounds import service as rounds
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.forms import FormInputError
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import settings_of


class CoauthorPagesController(Controller):
    """``/voorstellen/{id}/mede-indieners``: an author's co-authors and open invitations."""

    include_in_schema = False

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
        user = request_user(request)
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
                "labels": i18n.translated_labels(FIELD_LABELS),
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
            form = await read_form(request, frozenset({"email", "message"}))
        except FormInputError:
            return await self._coauthors_page(
                request, db_session, proposal_id, {}, form_errors(bad_form_error()), 400
            )
        settings = settings_of(request)
        try:
            _invitation, mail = await invitations.invite(
                db_session,
                settings,
                proposal_id=proposal_id,
                user=request_user(request),
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
                    form_errors(error) if error.fields else {"": error.message},
                    status_for(error),
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
            db_session,
            proposal_id=proposal_id,
            invitation_id=invitation_id,
            user=request_user(request),
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
        user = request_user(request)
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
                    settings_of(request),
                    token=token,
                    invitation_id=invitation_id,
                    user=user,
                    email=user.email if user else None,
                )
            except DomainError as error:
                errors = errors or {"": error.message}
                status_code = status_code if status_code != 200 else status_for(error)
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
                "labels": {"organisation_name": _("Naam organisatie (niet verplicht)")},
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
            form = await read_form(request, frozenset(fields))
        except FormInputError:
            return await self._page(
                request, db_session, None, None, form_errors(bad_form_error()), {}, 400
            )
        user = request_user(request)
        token: str | None = None
        invitation_id: int | None = None
        try:
            token, invitation_id = _invitation_key(form)
            view = await invitations.respond(
                db_session,
                settings_of(request),
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
                form_errors(error),
                form,
                status_for(error),
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
