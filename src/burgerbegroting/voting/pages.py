"""The voting booth pages: enter the code, choose, review, confirm, the receipt, receipt lookup.

Everything works without JavaScript: the booth is one POST form (CSRF) whose "Bijwerken" button
saves the choices server-side (``booths.save_draft``) and shows the page again with the budget
meter brought up to date, so a lost connection loses nothing. ``/static/js/booth.js`` makes the
meter follow every change live, filters the list without a round trip, and saves the choices as
they are made (``POST /stemmen/{id}/concept``: the form's own fields with its CSRF token and the
voter cookie, the same ``save_draft``; 204), so with JavaScript nothing waits for a button either.

**The code on the letter's QR code** travels as a URL *fragment* (``/stemmen#code=…``): browsers
never send a fragment to the server, so the code cannot land in an access log, a proxy's log or a
``Referer``; ``booth.js`` copies it into the field and removes it from the address bar. A query
(``/stemmen?code=…``) is still accepted, for a letter printed the other way or a typed address,
and answered at once with a redirect to the fragment form, so it stays out of the browser's
history; its first request line may still be logged, which is why letters use the fragment.

The voter of a page is the ``bb_voter`` cookie (set on redeeming a code; SameSite=Strict and
HttpOnly) or, in rounds with ``vote_by_account``, the logged-in resident. Writes end in a 303
after an explicit commit (the session plugin commits 2xx responses only); a refusal re-renders
the form with the Dutch message and a 4xx status, and stores no ballot.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from burgerbegroting.accounts import service as accounts_service
from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.tokens import BadToken
from burgerbegroting.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from burgerbegroting.i18n import _, format_money, ngettext
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.voting import booth_form, booths, casting, context, public_checks, voters
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.controllers import (
    AnyRequest,
    clear_voter_cookie,
    resolve_voter,
    voter_cookie,
)
from burgerbegroting.voting.models import AGE_BANDS
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_fields, read_form
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import client_ip, settings_of

FORM_VALUE_LIMIT = 64  # a code, an id, a number of points: nothing longer is sent
CONFIRM_VALUE_LIMIT = 20_000  # the reviewed ballot's canonical JSON
NO_STORE = {"Cache-Control": "no-store"}
_CODE_IN_URL = re.compile(r"^[A-Za-z0-9 -]{1,64}$")

NOTICES: dict[str, str] = {
    "gestopt": N_(
        "U heeft het stemhokje verlaten. Wilt u opnieuw stemmen? Vul dan uw stemcode in."
    ),
}

RECEIPT_STATUS: dict[str, tuple[str, str]] = {
    "counted": (
        N_("Geteld"),
        N_("Dit is uw laatste stem in deze ronde en die telt mee."),
    ),
    "superseded": (
        N_("Vervangen door een latere stem"),
        N_("U heeft daarna opnieuw gestemd (online of op papier). Alleen die latere stem telt."),
    ),
    "voided": (
        N_("Ongeldig verklaard"),
        N_(
            "De gemeente heeft deze stem ongeldig verklaard, bijvoorbeeld omdat de stemcode was "
            "ingetrokken. Neem contact op met de gemeente als u dat niet verwacht."
        ),
    ),
    "unknown": (
        N_("Onbekend"),
        N_(
            "Wij kennen dit ontvangstbewijs niet in deze ronde. Controleer de tekens en de ronde "
            "en probeer het opnieuw."
        ),
    ),
}


def _status(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _bad_form() -> str:
    return _(
        "Het formulier bevat velden die wij niet kennen of niet verwachten. Probeer het opnieuw."
    )


def _wait_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Te veel pogingen met stemcodes. Probeer het over %(num)d minuut opnieuw.",
        "Te veel pogingen met stemcodes. Probeer het over %(num)d minuten opnieuw.",
        minutes,
    )


async def _voting_round(db_session: DbSession, round_id: int) -> Round:
    """The round of a booth page; drafts do not exist for voters."""
    return await rounds.get_visible_round(db_session, round_id, include_drafts=False)


def _closed_at(round_: Round) -> datetime | None:
    """When voting closed or will close: the plan, unless the round was closed before it (then
    the moment it closed, or nothing once published, when that moment is no longer at hand)."""
    planned = round_.closed_starts_at
    if round_.phase == Phase.CLOSED.value and (
        planned is None or planned > round_.phase_changed_at
    ):
        return round_.phase_changed_at
    if round_.phase == Phase.PUBLISHED.value and planned is not None:
        return planned if planned <= round_.phase_changed_at else None
    return planned


def _not_open(request: AnyRequest, round_: Round, *, status_code: int = 200) -> Template:
    """The page for a round that is not (or no longer) open for voting, with its dates."""
    return render(
        request,
        "voting/not_open.html",
        {
            "round": round_,
            "opens_at": round_.voting_starts_at,
            "closes_at": _closed_at(round_),
        },
        status_code=status_code,
        headers=NO_STORE,
    )


def _closed_or_not_open(round_: Round) -> Conflict:
    """The refusal of a booth write outside voting, in the words of the booth's own pages."""
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        return Conflict(_("Het stemmen in deze ronde is gesloten."))
    return Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))


async def _code_page(
    request: AnyRequest,
    db_session: DbSession,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    open_rounds = [
        r for r in await rounds.list_rounds(db_session, include_drafts=False) if r.phase == "voting"
    ]
    current = None if open_rounds else await rounds.current_round(db_session)
    session_round: int | None = None
    raw = request.cookies.get(voter_tokens.VOTER_COOKIE, "")
    if raw:
        try:
            session_round = voter_tokens.read(settings_of(request), raw).round_id
        except BadToken:
            session_round = None
    return render(
        request,
        "voting/code.html",
        {
            "errors": errors or {},
            "notice": notice,
            "open_rounds": open_rounds,
            "code_rounds": [r for r in open_rounds if r.vote_by_code],
            "account_rounds": [r for r in open_rounds if r.vote_by_account],
            "current": current,
            "session_round": session_round
            if any(r.id == session_round for r in open_rounds)
            else None,
        },
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )


def _filter_values(theme: str | None, district: str | None) -> dict[str, str]:
    def clean(value: str | None) -> str:
        text = (value or "").strip()
        return text if text == "stad" or (text.isdigit() and len(text) <= 10) else ""

    return {"thema": clean(theme), "wijk": clean(district)}


async def _booth_page(
    request: AnyRequest,
    db_session: DbSession,
    ctx: context.VoterContext,
    *,
    filters: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    booth = await booths.booth(db_session, ctx)
    content = booth.draft if booth.draft is not None else booth.current
    if form_values is not None:
        # Values no control produces are shown as typed; the meter then shows the last draft.
        with contextlib.suppress(booth_form.BoothInputError):
            content = booth_form.raw_from_form(booth, form_values)
    choices = booth_form.choices_of(content)
    themes = sorted({(p.theme_id, p.theme) for p in booth.projects if p.theme_id and p.theme})
    districts = sorted(
        {(p.district_id, p.district) for p in booth.projects if p.district_id and p.district}
    )
    has_city_wide = any(p.district_id is None for p in booth.projects)
    filter_values = filters or {"thema": "", "wijk": ""}
    values = {p.id: booth_form.field_name(booth, p.id) for p in booth.projects}
    shown = {
        p.id: booth_form.visible(p, filter_values["thema"], filter_values["wijk"])
        for p in booth.projects
    }
    return render(
        request,
        "voting/booth.html",
        {
            "booth": booth,
            "choices": choices,
            "meter": booth_form.meter(booth, choices),
            "meter_templates": booth_form.meter_templates(booth),
            "rules": booth_form.rules_text(booth, {tid: name for tid, name in themes if name}),
            "theme_options": [(str(tid), name) for tid, name in themes],
            "district_options": (
                [("stad", _("Hele gemeente"))] if has_city_wide and districts else []
            )
            + [(str(did), name) for did, name in districts],
            "filters": filter_values,
            "shown": shown,
            "field_names": values,
            "form_values": form_values or {},
            "errors": errors or {},
            "list_id": booth_form.LIST_ID,
            "code_voter": _code_voter(ctx),
        },
        status_code=status_code,
        headers=NO_STORE,
    )


def _code_voter(ctx: context.VoterContext) -> bool:
    """A voter who came with a code (not an account) can end the voter session with "Stoppen"."""
    return ctx.voter.code_id is not None


def _ballot_errors(booth: booths.Booth, error: DomainError) -> dict[str, str]:
    if not error.fields:
        return {"": error.message}
    return {booth_form.error_id(booth, pointer): msg for pointer, msg in error.fields.items()}


class VotingPagesController(Controller):
    """``/stemmen`` and its booth, and ``/ontvangstbewijs``."""

    include_in_schema = False

    # --- the code ------------------------------------------------------------------------------

    @get("/stemmen")
    async def code_form(
        self,
        request: AnyRequest,
        db_session: DbSession,
        code: FromQuery[str | None] = None,
        melding: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        if code is not None:
            # Out of the address (and the history) at once; see the module docstring.
            text = code.strip()
            target = (
                f"/stemmen#code={text.replace(' ', '')}" if _CODE_IN_URL.match(text) else "/stemmen"
            )
            return Redirect(target, status_code=303, headers=NO_STORE)
        notice = _(NOTICES[melding]) if melding in NOTICES else None
        return await _code_page(request, db_session, notice=notice)

    @post("/stemmen")
    async def redeem(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        settings = settings_of(request)
        try:
            form = await read_fields(request, frozenset({"code"}), limit=FORM_VALUE_LIMIT)
        except FormInputError:
            return await _code_page(request, db_session, errors={"": _bad_form()}, status_code=400)
        if not form["code"].strip():
            message = _("Vul de stemcode uit uw brief in.")
            return await _code_page(request, db_session, errors={"code": message}, status_code=422)
        try:
            token = await voters.redeem_code(
                db_session, settings, code=form["code"], client_ip=client_ip(request)
            )
        except RateLimited as error:
            await db_session.rollback()
            return await _code_page(
                request,
                db_session,
                errors={"code": _wait_message(error.retry_after)},
                status_code=429,
                headers={"Retry-After": str(error.retry_after)},
            )
        except NotFound:
            await db_session.rollback()
            message = _(
                "Deze stemcode is niet geldig. Controleer de code op uw brief en probeer het opnieuw."
            )
            return await _code_page(request, db_session, errors={"code": message}, status_code=401)
        except DomainError as error:
            await db_session.rollback()
            return await _code_page(
                request, db_session, errors={"code": error.message}, status_code=_status(error)
            )
        await db_session.commit()
        return Redirect(
            f"/stemmen/{token.round_id}",
            status_code=303,
            cookies=[voter_cookie(settings, token)],
            headers=NO_STORE,
        )

    @post("/stemmen/stoppen")
    async def stop(self, request: AnyRequest, db_session: DbSession) -> Redirect:
        """End the voter session: its token id is revoked, the cookie cleared."""
        settings = settings_of(request)
        raw = request.cookies.get(voter_tokens.VOTER_COOKIE, "")
        if raw:
            try:
                token = voter_tokens.read(settings, raw)
            except BadToken:
                token = None
            if token is not None:
                await accounts_service.revoke_tokens(db_session, [token.jti], token.expires_at)
                await db_session.commit()
        return Redirect(
            "/stemmen?melding=gestopt",
            status_code=303,
            cookies=[clear_voter_cookie(settings)],
            headers=NO_STORE,
        )

    # --- the booth -----------------------------------------------------------------------------

    async def _voter(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_: Round,
        *,
        lock: bool = False,
        district_id: int | None = None,
        age_band: str | None = None,
        chosen: bool = False,
    ) -> context.VoterContext | Template | Redirect:
        """The page's voter, or the page to show instead (code form, login, the district and age
        question of a first account vote; ``chosen``: its answer was just sent)."""
        try:
            return await resolve_voter(
                request,
                db_session,
                round_.id,
                lock=lock,
                allow_cookie=True,
                district_id=district_id,
                age_band=age_band,
            )
        except NotAuthenticated as error:
            if (
                round_.vote_by_account
                and not round_.vote_by_code
                and current_user(request) is None
                and not request.cookies.get(voter_tokens.VOTER_COOKIE)
            ):
                target = urlencode({"next": f"/stemmen/{round_.id}"})
                return Redirect(f"/inloggen?{target}", status_code=303)
            return await _code_page(request, db_session, notice=error.message, status_code=401)
        except ValidationFailed as error:
            asked = {"district_id", "age_band"} & set(error.fields)
            if not asked:
                raise
            return render(
                request,
                "voting/district.html",
                {
                    "round": round_,
                    "districts": _districts_of(round_),
                    "age_bands": _age_bands() if round_.min_age is not None else [],
                    "selected": {"district_id": district_id, "age_band": age_band},
                    "errors": {name: error.fields[name] for name in asked} if chosen else {},
                },
                status_code=422 if chosen else 200,
                headers=NO_STORE,
            )
        except (Conflict, Forbidden) as error:
            return await _code_page(
                request, db_session, notice=error.message, status_code=_status(error)
            )

    @get("/stemmen/{round_id:int}")
    async def booth(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        thema: FromQuery[str | None] = None,
        wijk: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            return _not_open(request, round_)
        found = await self._voter(request, db_session, round_)
        if not isinstance(found, context.VoterContext):
            return found
        return await _booth_page(request, db_session, found, filters=_filter_values(thema, wijk))

    @post("/stemmen/{round_id:int}/wijk")
    async def choose_district(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        """The first account vote in a round with districts: the resident's district."""
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            return _not_open(request, round_, status_code=409)
        try:
            form = await read_fields(
                request, frozenset({"district_id", "age_band"}), limit=FORM_VALUE_LIMIT
            )
        except FormInputError:
            form = {}
        text = form.get("district_id", "").strip()
        district_id = None if not text else int(text) if text.isdigit() and len(text) <= 10 else 0
        age_band = form.get("age_band", "").strip() or None
        found = await self._voter(
            request, db_session, round_, district_id=district_id, age_band=age_band, chosen=True
        )
        if not isinstance(found, context.VoterContext):
            return found
        await db_session.commit()
        return Redirect(f"/stemmen/{round_id}", status_code=303)

    @post("/stemmen/{round_id:int}")
    async def update(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        """ "Bijwerken" (save and show the meter), "Controleren" (to the review) or "Blanco"."""
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            return _not_open(request, round_, status_code=409)
        found = await self._voter(request, db_session, round_)
        if not isinstance(found, context.VoterContext):
            return found
        ctx = found
        booth = await booths.booth(db_session, ctx)
        try:
            form = await read_form(
                request, booth_form.accepts(booth).__contains__, limit=FORM_VALUE_LIMIT
            )
        except FormInputError:
            return await _booth_page(
                request, db_session, ctx, errors={"": _bad_form()}, status_code=400
            )
        action = form.get("actie", "bijwerken")
        filters = _filter_values(form.get("thema"), form.get("wijk"))
        if action not in booth_form.ACTIONS:
            return await _booth_page(
                request, db_session, ctx, filters=filters, errors={"": _bad_form()}, status_code=400
            )
        if action == "blanco":
            raw: dict[str, Any] = {"blank": True}
        else:
            try:
                raw = booth_form.raw_from_form(booth, form)
            except booth_form.BoothInputError as error:
                return await _booth_page(
                    request,
                    db_session,
                    ctx,
                    filters=filters,
                    errors=error.fields,
                    form_values=form,
                    status_code=422,
                )
        if action == "blanco" and not booth.blank_allowed:
            # Refused before the draft is touched: the choices made so far stay as they were.
            refusal = ValidationFailed(
                _("In deze ronde kunt u geen blanco stem uitbrengen."),
                fields={booth_form.LIST_ID: _("In deze ronde kunt u geen blanco stem uitbrengen.")},
            )
            return await _booth_page(
                request, db_session, ctx, filters=filters, errors=refusal.fields, status_code=422
            )
        await booths.save_draft(db_session, ctx, raw)
        if action == "bijwerken":
            await db_session.commit()
            query = urlencode({k: v for k, v in filters.items() if v})
            return Redirect(
                f"/stemmen/{round_id}{'?' + query if query else ''}#stand", status_code=303
            )
        try:
            booths.check_ballot(ctx, raw)
        except ValidationFailed as error:
            # The choices are kept (the draft); no ballot is stored.
            await db_session.commit()
            return await _booth_page(
                request,
                db_session,
                ctx,
                filters=filters,
                errors=_ballot_errors(booth, error),
                status_code=422,
            )
        await db_session.commit()
        return Redirect(f"/stemmen/{round_id}/controleren", status_code=303)

    @post("/stemmen/{round_id:int}/concept", status_code=204)
    async def save_choices(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> None:
        """Keep the choices as the voter makes them (``booth.js``, a moment after each change and
        when the page is left): the booth form's own fields, stored like "Bijwerken" stores them
        (``booths.save_draft``: never a ballot, never a log event; a draft over the budget is
        still a draft, the meter shows it). 204, or a refusal with nothing stored: problem
        details for ``fetch`` (it asks for JSON), the error page otherwise."""
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            raise _closed_or_not_open(round_)
        # The booth's own check of the voter (an ended session, a revoked code, another round's
        # session, a staff account): its refusal is the answer, nothing is written.
        found = await resolve_voter(request, db_session, round_.id, lock=False, allow_cookie=True)
        booth = await booths.booth(db_session, found)
        try:
            form = await read_form(
                request, booth_form.accepts(booth).__contains__, limit=FORM_VALUE_LIMIT
            )
            if form.get("actie", "bijwerken") != "bijwerken":
                raise FormInputError("actie")
        except FormInputError as exc:
            raise ValidationFailed(_bad_form()) from exc
        try:
            raw = booth_form.raw_from_form(booth, form)
        except booth_form.BoothInputError as error:
            first = next(iter(error.fields.values()))
            raise ValidationFailed(first, fields=error.fields) from error
        await booths.save_draft(db_session, found, raw)
        await db_session.commit()

    @get("/stemmen/{round_id:int}/controleren")
    async def review(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            return _not_open(request, round_)
        found = await self._voter(request, db_session, round_)
        if not isinstance(found, context.VoterContext):
            return found
        ctx = found
        booth = await booths.booth(db_session, ctx)
        if booth.draft is None:
            return Redirect(f"/stemmen/{round_id}", status_code=303)
        try:
            content = booths.check_ballot(ctx, booth.draft)
        except ValidationFailed as error:
            return await _booth_page(
                request, db_session, ctx, errors=_ballot_errors(booth, error), status_code=422
            )
        return _review_page(request, booth, content)

    @post("/stemmen/{round_id:int}/bevestigen")
    async def confirm(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        """Cast the ballot the review page showed (its canonical content travels in the form, so
        what is confirmed is exactly what was read)."""
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            return _not_open(request, round_, status_code=409)
        found = await self._voter(request, db_session, round_, lock=True)
        if not isinstance(found, context.VoterContext):
            return found
        ctx = found
        raw: Any = None
        try:
            form = await read_fields(
                request, frozenset({"inhoud", "sleutel"}), limit=CONFIRM_VALUE_LIMIT
            )
            raw = json.loads(form["inhoud"])
        except (FormInputError, ValueError):
            form = {"sleutel": ""}
        if not isinstance(raw, dict):
            return await _booth_page(
                request, db_session, ctx, errors={"": _bad_form()}, status_code=400
            )
        key = form["sleutel"].strip() or None
        try:
            result = await casting.cast(
                db_session, settings_of(request), ctx, raw, idempotency_key=key
            )
        except ValidationFailed as error:
            # Refused before anything was written: the page shows why, with the choices kept.
            booth = await booths.booth(db_session, ctx)
            return await _booth_page(
                request, db_session, ctx, errors=_ballot_errors(booth, error), status_code=422
            )
        except Conflict:
            await db_session.rollback()
            return _not_open(request, await _voting_round(db_session, round_id), status_code=409)
        await db_session.commit()
        suffix = "?vervangen=1" if result.superseded else ""
        return Redirect(f"/stemmen/{round_id}/ontvangstbewijs{suffix}", status_code=303)

    @get("/stemmen/{round_id:int}/ontvangstbewijs")
    async def receipt(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        vervangen: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        round_ = await _voting_round(db_session, round_id)
        if round_.phase != Phase.VOTING.value:
            return _not_open(request, round_)
        found = await self._voter(request, db_session, round_)
        if not isinstance(found, context.VoterContext):
            return found
        booth = await booths.booth(db_session, found)
        if booth.receipt is None:
            return Redirect(f"/stemmen/{round_id}", status_code=303)
        return render(
            request,
            "voting/receipt.html",
            {
                "booth": booth,
                "receipt": booth.receipt,
                "replaced": vervangen == "1",
                "code_voter": _code_voter(found),
                "summary": _summary(booth, booth.current or {}),
            },
            headers=NO_STORE,
        )

    # --- looking up a receipt --------------------------------------------------------------------

    @get("/ontvangstbewijs")
    async def lookup_form(self, request: AnyRequest, db_session: DbSession) -> Template:
        return await _lookup_page(request, db_session, {}, {})

    @post("/ontvangstbewijs")
    async def lookup(self, request: AnyRequest, db_session: DbSession) -> Template:
        """The receipt travels in the POST body, never in an address that lands in logs."""
        try:
            form = await read_fields(
                request, frozenset({"ronde", "ontvangstbewijs"}), limit=FORM_VALUE_LIMIT
            )
        except FormInputError:
            return await _lookup_page(request, db_session, {}, {"": _bad_form()}, status_code=400)
        choices = await _lookup_rounds(db_session)
        errors: dict[str, str] = {}
        text = form["ronde"].strip()
        round_id = int(text) if text.isdigit() and len(text) <= 10 else None
        if round_id not in {r.id for r in choices}:
            errors["ronde"] = _("Kies de ronde waarin u heeft gestemd.")
        if not form["ontvangstbewijs"].strip():
            errors["ontvangstbewijs"] = _("Vul uw ontvangstbewijs in.")
        if errors or round_id is None:
            return await _lookup_page(request, db_session, form, errors, status_code=422)
        status = await public_checks.receipt_status(db_session, round_id, form["ontvangstbewijs"])
        label, explanation = RECEIPT_STATUS[status]
        return await _lookup_page(
            request,
            db_session,
            form,
            {},
            result={"status": status, "label": _(label), "explanation": _(explanation)},
        )


def _age_bands() -> list[tuple[str, str]]:
    """The age bands a resident can declare, as radio options ("12-17" → "12 tot en met 17 jaar")."""
    options = []
    for band in AGE_BANDS:
        low, dash, high = band.partition("-")
        label = (
            _("%(low)s tot en met %(high)s jaar", low=low, high=high)
            if dash
            else _("%(low)s jaar of ouder", low=band.rstrip("+"))
        )
        options.append((band, label))
    return options


def _districts_of(round_: Round) -> list[tuple[str, str]]:
    """The districts a resident can vote from: eligible, and with a budget of their own where
    each district is its own election (any other choice would leave the voter no ballot)."""
    definition = json.loads(round_.frozen_definition or "{}")
    eligible = set((definition.get("eligibility") or {}).get("districts") or [])
    own_budgets = (definition.get("budget") or {}).get("scope") == "districts"
    return [
        (str(d["id"]), str(d["name"]))
        for d in definition.get("districts", [])
        if (not eligible or d["id"] in eligible)
        and (not own_budgets or d.get("budget_cents") is not None)
    ]


def _summary(booth: booths.Booth, content: dict[str, Any]) -> dict[str, Any]:
    """The chosen projects of a canonical ballot, in its order, with costs and the total."""
    by_id = {p.id: p for p in booth.projects}
    rows: list[dict[str, Any]] = []
    if "points" in content:
        for key, points in content["points"].items():
            if int(key) in by_id:
                rows.append({"project": by_id[int(key)], "points": points})
    elif "ranking" in content:
        for place, pid in enumerate(content["ranking"], start=1):
            if pid in by_id:
                rows.append({"project": by_id[pid], "place": place})
    else:
        rows = [{"project": by_id[pid]} for pid in content.get("projects", []) if pid in by_id]
    total = sum(row["project"].cost_cents for row in rows)
    return {
        "blank": content.get("blank") is True,
        "rows": rows,
        "total": total,
        "total_text": format_money(total),
        "points": sum(int(row.get("points", 0)) for row in rows),
    }


def _review_page(request: AnyRequest, booth: booths.Booth, content: dict[str, Any]) -> Template:
    return render(
        request,
        "voting/review.html",
        {
            "booth": booth,
            "summary": _summary(booth, content),
            "content_json": canonical_json(content).decode("utf-8"),
            "key": secrets.token_urlsafe(18),
        },
        headers=NO_STORE,
    )


async def _lookup_rounds(db_session: DbSession) -> list[Round]:
    return [
        r
        for r in await rounds.list_rounds(db_session, include_drafts=False)
        if r.frozen_at is not None
    ]


async def _lookup_page(
    request: AnyRequest,
    db_session: DbSession,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    result: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    choices = await _lookup_rounds(db_session)
    selected = values.get("ronde") or (str(choices[0].id) if choices else "")
    return render(
        request,
        "voting/lookup.html",
        {
            "round_options": [(str(r.id), r.title) for r in choices],
            "values": {**values, "ronde": selected},
            "errors": errors,
            "result": result,
        },
        status_code=status_code,
        headers=NO_STORE,
    )


PAGE_CONTROLLERS = [VotingPagesController]
