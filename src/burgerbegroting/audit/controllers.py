"""Reading the staff action log: ``GET /api/v1/audit-log`` and the page ``/beheer/logboek``.

Admins and auditors only. There is no endpoint that changes the log: it is written only by the
services whose actions it records.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Template

from burgerbegroting import i18n
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import presentation, service
from burgerbegroting.audit.schemas import AuditPageOut, audit_page_out
from burgerbegroting.db import MAX_ID
from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.pages import render, request_language

AnyRequest = Request[Any, Any, Any]
MAX_PER_PAGE = 200

PageParam = Annotated[int, QueryParameter(name="page", ge=1, le=1_000_000)]
PerPageParam = Annotated[int, QueryParameter(name="per_page", ge=1, le=MAX_PER_PAGE)]


class AuditApiController(Controller):
    path = "/api/v1/audit-log"
    tags = ("audit",)
    guards = [require_roles(Role.ADMIN, Role.AUDITOR)]  # noqa: RUF012

    @get("/", summary="The staff action log, newest first, paged")
    async def list_entries(
        self,
        db_session: DbSession,
        page: PageParam = 1,
        per_page: PerPageParam = service.PAGE_SIZE,
        subject_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        subject_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> AuditPageOut:
        result = await service.list_entries(
            db_session,
            page=page,
            per_page=per_page,
            subject_type=subject_type,
            subject_id=subject_id,
        )
        return audit_page_out(result)


@dataclass(frozen=True, slots=True)
class LogFilters:
    """The log page's filters, read from its query string (Dutch names, as the form sends them)."""

    values: dict[str, str]
    action: str | None = None
    actor_id: int | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self, **extra: object) -> str:
        return urlencode({**{k: v for k, v in self.values.items() if v}, **extra})


SUBJECT_TYPES = {"ronde": "round", "voorstel": "proposal", "account": "user"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day_start(raw: str) -> datetime | None:
    """Midnight of a YYYY-MM-DD date in Dutch time, as UTC; None when it is not a date."""
    if not _DATE.match(raw):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return datetime.combine(day, time(0), tzinfo=i18n.TIMEZONE).astimezone(UTC)


def read_filters(raw: dict[str, str]) -> LogFilters:
    """The filters, or ``ValidationFailed`` naming every field that cannot be read."""
    values = {
        k: raw.get(k, "").strip()[:64] for k in ("actie", "wie", "soort", "nummer", "van", "tot")
    }
    errors: dict[str, str] = {}
    actor_id: int | None = None
    if values["wie"] == "systeem":
        actor_id = 0
    elif values["wie"]:
        if values["wie"].isdigit() and 0 < int(values["wie"]) <= MAX_ID:
            actor_id = int(values["wie"])
        else:
            errors["wie"] = _("Kies een medewerker uit de lijst.")
    subject_type = None
    if values["soort"]:
        subject_type = SUBJECT_TYPES.get(values["soort"])
        if subject_type is None:
            errors["soort"] = _("Kies ronde, voorstel of account.")
    if values["nummer"] and not (values["nummer"].isdigit() and len(values["nummer"]) <= 12):
        errors["nummer"] = _("Geef een nummer, bijvoorbeeld 12.")
    since = _day_start(values["van"]) if values["van"] else None
    if values["van"] and since is None:
        errors["van"] = _("Geef een datum, bijvoorbeeld 2027-03-01.")
    until = _day_start(values["tot"]) if values["tot"] else None
    if values["tot"] and until is None:
        errors["tot"] = _("Geef een datum, bijvoorbeeld 2027-03-31.")
    if since is not None and until is not None and until < since:
        errors["tot"] = _("De einddatum ligt voor de begindatum.")
    if errors:
        raise ValidationFailed(_("Controleer de filters."), fields=errors)
    return LogFilters(
        values=values,
        action=values["actie"] or None,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=values["nummer"] or None,
        since=since,
        # "tot en met": the whole last day counts
        until=until + timedelta(days=1) if until is not None else None,
    )


CSV_PAGE = 1_000_000  # the download holds every matching line, read in one go


class AuditPagesController(Controller):
    path = "/beheer/logboek"
    include_in_schema = False
    guards = [require_roles(Role.ADMIN, Role.AUDITOR)]  # noqa: RUF012

    @get("/")
    async def log_page(
        self,
        request: AnyRequest,
        db_session: DbSession,
        pagina: Annotated[int, QueryParameter(name="pagina", ge=1, le=1_000_000)] = 1,
    ) -> Template:
        raw = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        choices = {
            "actions": [
                (a, presentation.action_label(a)) for a in await service.actions(db_session)
            ],
            "actors": await service.actors(db_session),
            "subject_types": [
                ("ronde", _("Ronde")),
                ("voorstel", _("Voorstel")),
                ("account", _("Account")),
            ],
        }
        try:
            filters = read_filters(raw)
        except ValidationFailed as error:
            values = {k: raw.get(k, "") for k in ("actie", "wie", "soort", "nummer", "van", "tot")}
            return render(
                request,
                "admin/audit_log.html",
                {
                    "log": None,
                    "rows": [],
                    "filters": None,
                    "values": values,
                    "errors": dict(error.fields),
                    **choices,
                },
                status_code=400,
            )
        result = await self._entries(db_session, filters, page=pagina)
        rows = await presentation.describe(
            db_session, result.entries, result.actor_names, request_language(request)
        )
        return render(
            request,
            "admin/audit_log.html",
            {
                "log": result,
                "rows": rows,
                "filters": filters,
                "values": filters.values,
                "errors": {},
                **choices,
            },
        )

    @get("/export.csv")
    async def download(self, request: AnyRequest, db_session: DbSession) -> Response[bytes]:
        """The filtered log as CSV (UTF-8 with BOM, semicolons: what Dutch Excel opens as is)."""
        raw = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        filters = read_filters(raw)
        result = await self._entries(db_session, filters, page=1, per_page=CSV_PAGE)
        lang = request_language(request)
        rows = await presentation.describe(db_session, result.entries, result.actor_names, lang)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(
            [
                _("Nummer"),
                _("Wanneer"),
                _("Wie"),
                _("Handeling"),
                _("Onderwerp"),
                _("Titel"),
                _("Reden"),
                _("Wijzigingen"),
            ]
        )
        for row in rows:
            e = row.entry
            changes = "; ".join(
                f"{c.label}: {c.before} → {c.after}"
                if c.before is not None
                else f"{c.label}: {c.after}"
                for c in row.changes
            )
            writer.writerow(
                [
                    e.id,
                    e.occurred_at.isoformat(),
                    row.actor,
                    row.action_label,
                    f"{row.subject_label} {e.subject_id}",
                    row.subject_title or "",
                    e.reason or "",
                    changes,
                ]
            )
        return Response(
            ("\ufeff" + buffer.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="logboek.csv"',
                "Cache-Control": "no-store",
            },
        )

    @staticmethod
    async def _entries(
        db_session: DbSession, filters: LogFilters, *, page: int, per_page: int = service.PAGE_SIZE
    ) -> service.AuditPage:
        return await service.list_entries(
            db_session,
            page=page,
            per_page=per_page,
            subject_type=filters.subject_type,
            subject_id=filters.subject_id,
            action=filters.action,
            actor_id=filters.actor_id,
            since=filters.since,
            until=filters.until,
        )
