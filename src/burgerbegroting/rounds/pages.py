"""Round pages: the public overview and round page, and the admin pages under ``/beheer``.

Forms re-render with the service's Dutch field messages (422) or the conflict (409); success
commits explicitly and redirects (303), because the session plugin only commits 2xx responses.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from burgerbegroting import i18n
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, DomainError, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.rounds import counting, forms, readiness, service
from burgerbegroting.rounds.controllers import actor_id, check_reason, parse_phase, sees_drafts
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_form
from burgerbegroting.web.pages import render

AnyRequest = Request[Any, Any, Any]
FORM_VALUE_LIMIT = 25_000

_BASE_FIELDS = frozenset(
    {
        "title",
        "description",
        "action",  # the add-row / remove-row buttons (forms.apply_row_command)
        "total_budget",
        "min_budget_share",
        "reason",
        *forms.SCHEDULE_NAMES,
        *forms.BOOLEAN_FIELDS,
        *forms.INT_FIELDS,
        *forms.CHOICE_FIELDS,
        *forms.LIST_FIELDS,
        *forms.TEXT_FIELDS,
        forms.EXPORT_FIELD,
    }
)

# What the form of a frozen round sends: its editable fields and the reason for the log.
FROZEN_FORM_FIELDS = frozenset({*service.EDITABLE_WHEN_FROZEN, "reason", "action"})

CHOICES: dict[str, list[tuple[str, str]]] = {
    "budget_scope": [
        ("city", N_("Eén budget voor de hele gemeente")),
        ("districts", N_("Een eigen budget per wijk")),
    ],
    **counting.CHOICE_LABELS,
}


def _label(field: str, value: str) -> str:
    """The label of a choice (ballot type, counting rule, …) in the page's language."""
    found = dict(CHOICES.get(field, [])).get(value)
    return _(found) if found is not None else value


def _status(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def _all_errors(parsed: forms.ParsedForm, round_: Round | None) -> dict[str, str]:
    """The form's own errors (unreadable amounts, dates) plus every rule the service checks on
    the rest, so one submit shows all problems at once."""
    errors = dict(parsed.errors)
    try:
        service.validate(round_, parsed.data)
    except DomainError as error:
        for key, message in forms.form_errors(parsed, error.fields).items():
            errors.setdefault(key, message)
    return errors


def _known_field(key: str) -> bool:
    return key in _BASE_FIELDS or forms._ROW.match(key) is not None


async def _read_form(request: AnyRequest) -> dict[str, str]:
    """The round form's values: its fixed fields and any district/theme row fields."""
    return await read_form(request, _known_field, limit=FORM_VALUE_LIMIT)


class RoundPagesController(Controller):
    """``/rondes`` and ``/rondes/{id}``: anyone (drafts only for admins)."""

    path = "/rondes"
    include_in_schema = False

    @get("/")
    async def overview(self, request: AnyRequest, db_session: DbSession) -> Template:
        rounds = await service.list_rounds(db_session, include_drafts=False)
        return render(request, "rounds/list.html", {"rounds": rounds})

    @get("/{round_id:int}")
    async def round_page(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template:
        round_ = await service.get_visible_round(
            db_session, round_id, include_drafts=sees_drafts(request)
        )
        projects = await service.accepted_projects(db_session, round_.id)
        return render(
            request,
            "rounds/detail.html",
            {
                "round": round_,
                "projects": projects,
                "label": _label,
                "counting_rules": counting.describe(round_),
                "schedule": _schedule(round_),
                "timeline": service.timeline(round_),
                "phase_ends_at": service.phase_ends_at(round_),
            },
        )


def _warnings(round_: Round | None) -> list[str]:
    """The saved round's warnings (``rounds.readiness.warnings``): shown, never blocking."""
    if round_ is None:
        return []
    return readiness.warnings(
        vote_by_code=round_.vote_by_code,
        vote_by_account=round_.vote_by_account,
        min_age=round_.min_age,
    )


def _schedule(round_: Round) -> list[tuple[Phase, Any]]:
    return [(phase, getattr(round_, name)) for phase, name in service.SCHEDULE_FIELDS]


ADMIN_ONLY = require_roles(Role.ADMIN)


class RoundAdminPagesController(Controller):
    """``/beheer`` for admins: rounds, the round form and phase moves."""

    path = "/beheer"
    include_in_schema = False
    guards = [ADMIN_ONLY]  # noqa: RUF012 - Litestar's declared attribute

    @get("/")
    async def index(self, request: AnyRequest) -> Template:
        return render(request, "admin/index.html")

    @get("/rondes")
    async def rounds(
        self,
        request: AnyRequest,
        db_session: DbSession,
        opgeslagen: Annotated[int | None, QueryParameter(name="opgeslagen")] = None,
    ) -> Template:
        rounds = await service.list_rounds(db_session, include_drafts=True)
        return render(
            request,
            "admin/rounds.html",
            {"rounds": rounds, "saved": opgeslagen, "next_phase": service.next_phase},
        )

    @get("/rondes/nieuw")
    async def new_form(self, request: AnyRequest) -> Template:
        return self._form(request, None, forms.values_from_round(None), {})

    @post("/rondes/nieuw")
    async def create(self, request: AnyRequest, db_session: DbSession) -> Template | Redirect:
        try:
            raw = await _read_form(request)
        except FormInputError:
            return self._bad_form(request, None)
        if (rows := forms.apply_row_command(raw, raw.pop("action", ""))) is not None:
            return self._form(request, None, rows[0], {}, rows=rows[1])
        parsed = forms.parse_round_form(raw, frozen=False)
        if parsed.errors:
            errors = _all_errors(parsed, None)
            return self._form(request, None, parsed.values, errors, status=422)
        try:
            round_ = await service.create_round(db_session, parsed.data, actor_id=actor_id(request))
        except DomainError as error:
            await db_session.rollback()
            return self._form_error(request, None, parsed, error)
        await db_session.commit()
        return Redirect(f"/beheer/rondes?opgeslagen={round_.id}", status_code=303)

    @get("/rondes/{round_id:int}/bewerken")
    async def edit_form(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template:
        round_ = await service.get_round(db_session, round_id)
        return self._form(request, round_, forms.values_from_round(round_), {})

    @post("/rondes/{round_id:int}/bewerken")
    async def update(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        round_ = await service.get_round(db_session, round_id)
        try:
            raw = await _read_form(request)
        except FormInputError:
            return self._bad_form(request, round_)
        if (rows := forms.apply_row_command(raw, raw.pop("action", ""))) is not None:
            return self._form(request, round_, rows[0], {}, rows=rows[1])
        # A frozen round's form holds only the editable fields. A form with more (opened before
        # voting started, or crafted) is read in full, so a changed budget or rule is refused with
        # the service's 409 instead of being dropped silently behind a "saved" message.
        frozen_form = round_.is_frozen and set(raw) <= FROZEN_FORM_FIELDS
        parsed = forms.parse_round_form(raw, frozen=frozen_form)
        if parsed.errors:
            errors = _all_errors(parsed, round_)
            return self._form(request, round_, parsed.values, errors, status=422)
        try:
            reason = check_reason(raw.get("reason"), required=False)
            await service.update_round(
                db_session, round_id, parsed.data, actor_id=actor_id(request), reason=reason
            )
        except DomainError as error:
            await db_session.rollback()
            round_ = await service.get_round(db_session, round_id)
            return self._form_error(request, round_, parsed, error)
        await db_session.commit()
        return Redirect(f"/beheer/rondes?opgeslagen={round_id}", status_code=303)

    @get("/rondes/{round_id:int}/fase")
    async def phase_form(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template:
        round_ = await service.get_round(db_session, round_id)
        return self._phase_page(request, round_, {}, {})

    @post("/rondes/{round_id:int}/fase")
    async def move_phase(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        round_ = await service.get_round(db_session, round_id)
        form = await request.form()
        raw = {k: v for k, v in form.items() if isinstance(v, str) and k != "_csrf_token"}
        if set(raw) - {"phase", "reason"} or any(len(v) > FORM_VALUE_LIMIT for v in raw.values()):
            error = ValidationFailed(_("Het formulier bevat velden die wij niet verwachten."))
            return self._phase_page(request, round_, raw, {"": error.message}, status=400)
        try:
            target = parse_phase(raw.get("phase", ""))
            reason = check_reason(raw.get("reason"), required=True)
            await service.move_phase(
                db_session, round_id, target, actor_id=actor_id(request), reason=reason
            )
        except DomainError as error:
            await db_session.rollback()
            round_ = await service.get_round(db_session, round_id)
            errors = dict(error.fields) or {"": error.message}
            if error.fields and "reason" not in error.fields:
                errors = {"": error.message, **errors}
            return self._phase_page(request, round_, raw, errors, status=_status(error))
        await db_session.commit()
        return Redirect(f"/beheer/rondes?opgeslagen={round_id}", status_code=303)

    # --- rendering -------------------------------------------------------------------------------

    def _form(
        self,
        request: AnyRequest,
        round_: Round | None,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        status: int = 200,
        rows: dict[str, int] | None = None,
    ) -> Template:
        return render(
            request,
            "admin/round_form.html",
            {
                "round": round_,
                "frozen": round_ is not None and round_.is_frozen,
                "values": values,
                "errors": errors,
                "choices": {name: i18n.translated_pairs(pairs) for name, pairs in CHOICES.items()},
                "district_rows": rows["district"] if rows else forms.row_count(values, "district"),
                "theme_rows": rows["theme"] if rows else forms.row_count(values, "theme"),
                "labels": i18n.translated_labels(FORM_LABELS),
                "warnings": _warnings(round_),
            },
            status_code=status,
        )

    def _form_error(
        self,
        request: AnyRequest,
        round_: Round | None,
        parsed: forms.ParsedForm,
        error: DomainError,
    ) -> Template:
        errors = forms.form_errors(parsed, error.fields)
        if isinstance(error, Conflict) or not errors:
            errors = {"": error.message, **errors}
        return self._form(request, round_, parsed.values, errors, status=_status(error))

    def _bad_form(self, request: AnyRequest, round_: Round | None) -> Template:
        values = forms.values_from_round(round_)
        errors = {"": _("Het formulier bevat velden die wij niet kennen of niet verwachten.")}
        return self._form(request, round_, values, errors, status=400)

    def _phase_page(
        self,
        request: AnyRequest,
        round_: Round,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin/round_phase.html",
            {
                "round": round_,
                "next": service.next_phase(Phase(round_.phase)),
                "warnings": _warnings(round_),
                "values": values,
                "errors": errors,
            },
            status_code=status,
        )


FORM_LABELS: dict[str, str] = {
    **service.FIELD_LABELS,
    "total_budget": N_("Totaal budget in euro"),
    "min_budget_share": N_("Minimaal te besteden deel van het budget (procent)"),
    "reason": N_("Toelichting voor het logboek"),
}

PAGE_CONTROLLERS = [RoundPagesController, RoundAdminPagesController]
