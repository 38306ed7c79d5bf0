"""Staff pages for voting: voting codes (admins) and paper or assisted ballots (admins, moderators).

``/beheer/rondes/{id}/stemcodes``: the round's code batches (district, age band, count, used,
revoked), a form to issue a batch, and forms to revoke a batch or one code. Issuing answers with
the download itself (CSV, PDF letters or a ZIP with both): the plain codes are never stored, so
this answer is the only place they exist. The file is built before the transaction commits, so a
failure to build it stores no batch; a failed commit is an error page, never a file of codes that
do not work.

``/beheer/rondes/{id}/papieren-stem``: staff type the code printed on a paper ballot, get that
code's ballot form (the same projects and rules as its booth) and enter the choices; the receipt
to write on the slip is shown after a redirect, so reloading the page never enters a ballot twice.

Forms re-render with the service's Dutch messages (422 for a field, 409 for a conflict); every
change is in the staff action log (the service writes it).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, DomainError, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.voting import booths, codes, letters, paper, roll
from burgerbegroting.voting.canonical import normalise_receipt
from burgerbegroting.voting.models import AGE_BANDS
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_fields, read_form
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import settings_of

AnyRequest = Request[Any, Any, Any]
ADMIN_ONLY = require_roles(Role.ADMIN)
PAPER_STAFF = require_roles(Role.ADMIN, Role.MODERATOR)
FORM_VALUE_LIMIT = 2_000

ISSUE_FIELDS = frozenset({"district_id", "age_band", "count", "output"})
REVOKE_BATCH_FIELDS = frozenset({"reason"})
REVOKE_CODE_FIELDS = frozenset({"code", "reason", "void_ballot"})
_BALLOT_FIELD = re.compile(r"^(project|points|rank)_(\d{1,10})$")
_PAPER_FIXED = frozenset({"code", "step", "choice", "blank"})

OUTPUT_CHOICES: list[tuple[str, str]] = [
    (letters.LetterFormat.CSV.value, N_("CSV voor samenvoegen (mail-merge)")),
    (letters.LetterFormat.PDF.value, N_("Brieven als PDF, één A4 per code")),
    (letters.LetterFormat.ZIP.value, N_("ZIP met de CSV en de brieven")),
]
NOTICES: dict[str, str] = {
    "reeks-ingetrokken": N_("De reeks stemcodes is ingetrokken en staat in het logboek."),
    "code-ingetrokken": N_("De stemcode is ingetrokken en staat in het logboek."),
    "stem-vervallen": N_(
        "De stemcode is ingetrokken en de stem die ermee was uitgebracht telt niet meer. Beide "
        "staan in het logboek."
    ),
}
CLOSED_PHASES = frozenset({Phase.CLOSED.value, Phase.PUBLISHED.value})


def _actor(request: AnyRequest) -> int:
    user = current_user(request)
    if user is None:  # the guard lets no anonymous visitor through
        raise Conflict(_("U bent niet ingelogd."))
    return user.id


def _status(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _errors(error: DomainError) -> dict[str, str]:
    """Field messages under their field names, plus the message itself when it names no field."""
    fields = dict(error.fields)
    if isinstance(error, Conflict) or not fields:
        return {"": error.message, **fields}
    return fields


def _bad_form() -> dict[str, str]:
    return {"": _("Het formulier bevat velden die wij niet kennen of niet verwachten.")}


def _parse_count(raw: str) -> int | None:
    text = raw.strip().replace(".", "").replace(" ", "").replace("\u00a0", "")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    return int(text)


def _parse_id(raw: str) -> int | None:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    return int(text)


# --- voting codes --------------------------------------------------------------------------------


class CodesPagesController(Controller):
    """``/beheer/rondes/{id}/stemcodes``: issue, list and revoke voting codes (admins)."""

    path = "/beheer/rondes/{round_id:int}/stemcodes"
    include_in_schema = False
    guards = [ADMIN_ONLY]  # noqa: RUF012 - Litestar's declared attribute

    @get("/")
    async def page(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        melding: Annotated[str | None, QueryParameter(name="melding")] = None,
    ) -> Template:
        notice = NOTICES.get(melding or "")
        return await self._page(request, db_session, round_id, notice=_(notice) if notice else None)

    @post("/")
    async def issue(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Response[bytes]:
        try:
            raw = await read_fields(request, ISSUE_FIELDS, limit=FORM_VALUE_LIMIT)
        except FormInputError:
            return await self._page(request, db_session, round_id, errors=_bad_form(), status=400)
        errors: dict[str, str] = {}
        count = _parse_count(raw["count"])
        if count is None:
            errors["count"] = _("Geef het aantal codes als een heel getal.")
        district_id: int | None = None
        if raw["district_id"].strip():
            district_id = _parse_id(raw["district_id"])
            if district_id is None:
                errors["district_id"] = _("Kies een wijk uit de lijst.")
        age_band = raw["age_band"].strip() or None
        try:
            fmt = letters.LetterFormat(raw["output"].strip())
        except ValueError:
            fmt = None
            errors["output"] = _("Kies wat u wilt downloaden: CSV, PDF of ZIP.")
        if fmt is not None and count is not None:
            try:
                letters.check_format(fmt, count)
            except ValidationFailed as error:
                errors.update(error.fields)
        if errors or count is None or fmt is None:
            return await self._page(request, db_session, round_id, values=raw, errors=errors)
        settings = settings_of(request)
        try:
            batch = await roll.issue_codes(
                db_session,
                settings,
                round_id,
                district_id=district_id,
                count=count,
                age_band=age_band,
                actor_id=_actor(request),
            )
            round_ = await rounds.get_round(db_session, round_id)
        except DomainError as error:
            await db_session.rollback()
            return await self._page(
                request,
                db_session,
                round_id,
                values=raw,
                errors=_errors(error),
                status=_status(error),
            )
        batch_letters = letters.LetterBatch(
            municipality=settings.municipality,
            base_url=settings.base_url,
            round_id=round_id,
            round_title=batch.round_title,
            batch_id=batch.batch_id,
            district_name=batch.district_name,
            age_band=batch.age_band,
            codes=batch.codes,
            closes_at=round_.closed_starts_at,
        )
        # In a thread: 5,000 PDF letters are about 12 CPU seconds, which on the event loop would
        # stall every other request of this worker (casts included) for as long.
        content = await asyncio.to_thread(letters.render, batch_letters, fmt)
        await db_session.commit()
        name = letters.filename(batch_letters, fmt)
        return Response(
            content,
            media_type=letters.MEDIA_TYPES[fmt],
            status_code=200,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    @post("/{batch_id:int}/intrekken")
    async def revoke_batch(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        batch_id: FromPath[int],
    ) -> Template | Redirect:
        try:
            raw = await read_fields(request, REVOKE_BATCH_FIELDS, limit=FORM_VALUE_LIMIT)
        except FormInputError:
            return await self._page(request, db_session, round_id, errors=_bad_form(), status=400)
        try:
            await roll.revoke_batch(
                db_session, round_id, batch_id, reason=raw["reason"], actor_id=_actor(request)
            )
        except DomainError as error:
            await db_session.rollback()
            errors = {f"batch_{batch_id}_{k}" if k else k: v for k, v in _errors(error).items()}
            return await self._page(
                request,
                db_session,
                round_id,
                values={f"batch_{batch_id}_reason": raw["reason"]},
                errors=errors,
                status=_status(error),
            )
        await db_session.commit()
        return Redirect(
            f"/beheer/rondes/{round_id}/stemcodes?melding=reeks-ingetrokken", status_code=303
        )

    @post("/intrekken")
    async def revoke_code(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            raw = await read_form(request, REVOKE_CODE_FIELDS.__contains__, limit=FORM_VALUE_LIMIT)
        except FormInputError:
            return await self._page(request, db_session, round_id, errors=_bad_form(), status=400)
        void = raw.get("void_ballot", "") == "1"
        try:
            voided = await roll.revoke_code(
                db_session,
                settings_of(request),
                round_id,
                code=raw.get("code", ""),
                reason=raw.get("reason", ""),
                void_ballot=void,
                actor_id=_actor(request),
            )
        except DomainError as error:
            await db_session.rollback()
            errors = {f"revoke_{k}" if k else k: v for k, v in _errors(error).items()}
            values = {f"revoke_{k}": v for k, v in raw.items()}
            return await self._page(
                request, db_session, round_id, values=values, errors=errors, status=_status(error)
            )
        await db_session.commit()
        notice = "stem-vervallen" if voided else "code-ingetrokken"
        return Redirect(f"/beheer/rondes/{round_id}/stemcodes?melding={notice}", status_code=303)

    async def _page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        round_id: int,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status: int | None = None,
    ) -> Template:
        # The batches first: reading them reloads the round, which would unload its districts.
        batches = await roll.list_batches(db_session, round_id)
        round_ = await rounds.get_round(db_session, round_id)
        errors = errors or {}
        return render(
            request,
            "voting/admin/codes.html",
            {
                "round": round_,
                "batches": batches,
                "closed": round_.phase in CLOSED_PHASES,
                "districts": [(str(d.id), d.name) for d in round_.districts if d.eligible],
                "city_wide": round_.budget_scope != "districts",
                "age_bands": [(band, band) for band in AGE_BANDS],
                "outputs": [(value, _(label)) for value, label in OUTPUT_CHOICES],
                "max_pdf": letters.MAX_PDF_LETTERS,
                "max_codes": roll.MAX_CODES_PER_BATCH,
                "values": values or {},
                "errors": errors,
                "notice": notice,
            },
            status_code=status if status is not None else (422 if errors else 200),
        )


# --- paper and assisted ballots --------------------------------------------------------------------


def _paper_field(key: str) -> bool:
    return key in _PAPER_FIXED or _BALLOT_FIELD.match(key) is not None


def ballot_from_form(booth: booths.Booth, form: dict[str, str]) -> dict[str, Any]:
    """The booth's JSON shape from the paper form's fields; ``ValidationFailed`` for what the
    form itself cannot express (a number that is no number, two projects on one place)."""
    blank = form.get("blank", "") == "1"
    chosen: dict[int, str] = {}
    for key, value in form.items():
        match = _BALLOT_FIELD.match(key)
        if match and value.strip():
            # A project not on this ballot is kept, so the ballot rules refuse it by name (it
            # was dropped, and the rest entered as if that was what the paper said).
            chosen[int(match.group(2))] = value.strip()
    if booth.ballot_type == "choose-1":
        choice = _parse_id(form.get("choice", ""))
        picked = [choice] if choice is not None else []
        raw: dict[str, Any] = {"projects": picked}
    elif booth.ballot_type == "cumulative":
        points: dict[str, int] = {}
        for pid, text in sorted(chosen.items()):
            number = _parse_count(text)
            if number is None:
                message = _("Geef per project een heel aantal punten van 0 of meer.")
                raise ValidationFailed(message, fields={f"points_{pid}": message})
            points[str(pid)] = number
        raw = {"points": points}
    elif booth.ballot_type == "ranked":
        places: dict[int, int] = {}
        for pid, text in chosen.items():
            place = _parse_count(text)
            if place is None or place < 1:
                message = _("Geef als plaats een heel getal van 1 of meer.")
                raise ValidationFailed(message, fields={f"rank_{pid}": message})
            if place in places:
                message = _("Elke plaats mag maar bij één project staan.")
                raise ValidationFailed(message, fields={f"rank_{pid}": message})
            places[place] = pid
        raw = {"ranking": [places[place] for place in sorted(places)]}
    else:
        raw = {"projects": sorted(pid for pid, value in chosen.items() if value == "1")}
    if blank:
        if any(raw.values()):
            message = _("Kies projecten of een blanco stem, niet allebei.")
            raise ValidationFailed(message, fields={"blank": message})
        return {"blank": True}
    return raw


# Field pointers of ballot problems (``/projects``, ``/points/12``) -> this form's field names.
def _form_errors(fields: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, message in fields.items():
        parts = key.strip("/").split("/")
        if parts[0] == "points" and len(parts) == 2:
            out[f"points_{parts[1]}"] = message
        elif parts[0] in {"projects", "points", "ranking"}:
            out["keuze"] = message
        else:
            out[parts[0] if key.startswith("/") else key] = message
    return out


class PaperBallotPagesController(Controller):
    """``/beheer/rondes/{id}/papieren-stem``: enter paper and assisted ballots (admins, moderators)."""

    path = "/beheer/rondes/{round_id:int}/papieren-stem"
    include_in_schema = False
    guards = [PAPER_STAFF]  # noqa: RUF012 - Litestar's declared attribute

    @get("/")
    async def page(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        ontvangstbewijs: Annotated[str | None, QueryParameter(name="ontvangstbewijs")] = None,
    ) -> Template:
        receipt = normalise_receipt(ontvangstbewijs) if ontvangstbewijs else None
        return await self._page(request, db_session, round_id, receipt=receipt)

    @post("/")
    async def enter(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            raw = await read_form(request, _paper_field, limit=FORM_VALUE_LIMIT)
        except FormInputError:
            return await self._page(request, db_session, round_id, errors=_bad_form(), status=400)
        code = raw.get("code", "")
        settings = settings_of(request)
        try:
            booth = await paper.paper_booth(db_session, settings, round_id, code=code)
        except DomainError as error:
            await db_session.rollback()
            return await self._page(
                request,
                db_session,
                round_id,
                values={"code": code},
                errors=_errors(error),
                status=_status(error),
            )
        if raw.get("step") != "ballot":
            # The code was typed: show its ballot form, with the code as printed on the paper
            # (not as typed: "nppq6yqp bvvt67q8"), so staff can compare the two.
            typed = codes.normalise(code)
            shown = {**raw, "code": codes.format_code(typed)} if typed is not None else raw
            return await self._page(request, db_session, round_id, booth=booth, values=shown)
        try:
            ballot = ballot_from_form(booth, raw)
            result = await paper.enter_paper_ballot(
                db_session, settings, round_id, code=code, ballot=ballot, actor_id=_actor(request)
            )
        except DomainError as error:
            await db_session.rollback()
            errors = _form_errors(dict(error.fields)) if error.fields else {}
            if isinstance(error, Conflict) or not errors:
                errors = {"": error.message, **errors}
            booth = await paper.paper_booth(db_session, settings, round_id, code=code)
            return await self._page(
                request,
                db_session,
                round_id,
                booth=booth,
                values=raw,
                errors=errors,
                status=_status(error),
            )
        await db_session.commit()
        return Redirect(
            f"/beheer/rondes/{round_id}/papieren-stem?ontvangstbewijs={result.receipt}",
            status_code=303,
        )

    async def _page(
        self,
        request: AnyRequest,
        db_session: AsyncSession,
        round_id: int,
        *,
        booth: booths.Booth | None = None,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        receipt: str | None = None,
        status: int | None = None,
    ) -> Template:
        round_: Round = await rounds.get_round(db_session, round_id)
        errors = errors or {}
        return render(
            request,
            "voting/admin/paper.html",
            {
                "round": round_,
                "voting": round_.phase == Phase.VOTING.value,
                "booth": booth,
                "values": values or {},
                "errors": errors,
                "receipt": receipt,
            },
            status_code=status if status is not None else (422 if errors else 200),
        )


PAGE_CONTROLLERS = [CodesPagesController, PaperBallotPagesController]
