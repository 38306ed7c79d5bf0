"""Results pages: ``/uitslag`` (rounds with a result this visitor may see), ``/rondes/{id}/uitslag``
(the outcome, participation, overrides with the admin form) and the council report
(``/rondes/{id}/raadsinformatiebrief`` and its ``.pdf``).

Charts add to the tables, never replace them: an inline SVG per election, labelled by the tables'
captions, readable without colour (every bar carries its text; funded and not funded differ in
pattern as well as colour).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from markupsafe import Markup, escape

from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit.signing import public_key_info
from burgerbegroting.errors import DomainError, ValidationFailed
from burgerbegroting.i18n import _, ngettext
from burgerbegroting.results import overrides, report, service
from burgerbegroting.results.controllers import viewer_roles
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import FormInputError, read_form
from burgerbegroting.web.pages import render
from burgerbegroting.web.request_helpers import settings_of

AnyRequest = Request[Any, Any, Any]
ADMIN_ONLY = require_roles(Role.ADMIN)
OVERRIDE_FIELDS = frozenset({"project_id", "decision", "reason"})
FORM_VALUE_LIMIT = 25_000

# A narrow drawing (360 units) keeps the labels legible on a 320 px phone (about 11 px text) and
# on a desktop, where the figure is at most 32rem wide. Long titles are shortened in the chart
# only; the tables hold them in full.
CHART_WIDTH = 360
ROW_HEIGHT = 56
BAR_HEIGHT = 14
LABEL_CHARS = 42
# A city-wide round can have 200 projects: a bar for each made a chart 11,000 units tall (about
# 10,000 px on a phone, 52 KB of the page) that nobody can take in at a glance. The chart shows the
# projects with the most votes; the tables beside it hold every project.
CHART_LIMIT = 25


def _status(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def chart_projects(election: service.ElectionView) -> tuple[service.ProjectView, ...]:
    """The projects the chart shows: all of them (funded first), or with more than
    :data:`CHART_LIMIT` the :data:`CHART_LIMIT` with the most votes, in the same order."""
    projects = election.projects
    if len(projects) <= CHART_LIMIT:
        return projects
    ranked = sorted(range(len(projects)), key=lambda i: (-projects[i].votes, i))
    shown = set(ranked[:CHART_LIMIT])
    return tuple(p for i, p in enumerate(projects) if i in shown)


def chart_count(election: service.ElectionView) -> int:
    """How many projects the chart shows (the page says so when it is not all of them)."""
    return min(len(election.projects), CHART_LIMIT)


def vote_chart(election: service.ElectionView, labelled_by: str) -> Markup:
    """An inline SVG bar chart of the votes per project (funded first), labelled by the tables.

    Every bar has its own text line (title, votes, funded or not), so nothing depends on colour;
    not-funded bars are also hatched. Decorative parts are hidden from assistive technology: the
    tables carry the same figures. With many projects only those with the most votes are drawn
    (:func:`chart_projects`).
    """
    projects = chart_projects(election)
    top = max(election.max_votes, 1)
    height = ROW_HEIGHT * max(len(projects), 1) + 8
    funded_word, not_funded_word = _("gefinancierd"), _("niet gefinancierd")
    pattern_id = f"arcering-{election.key}"
    parts = [
        f'<svg class="bb-chart" role="img" aria-labelledby="{escape(labelled_by)}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<defs><pattern id="{pattern_id}" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#5c5c5c" stroke-width="4"/></pattern></defs>',
    ]
    for i, project in enumerate(projects):
        y = i * ROW_HEIGHT + 4
        width = max(2, round((CHART_WIDTH - 4) * project.votes / top)) if project.votes else 2
        status = funded_word if project.funded else not_funded_word
        title = project.title
        if len(title) > LABEL_CHARS:
            title = title[: LABEL_CHARS - 1] + "…"
        votes = (
            ngettext("%(num)d punt", "%(num)d punten", project.votes)
            if election.scored_by_points
            else ngettext("%(num)d stem", "%(num)d stemmen", project.votes)
        )
        fill = "#154273" if project.funded else f"url(#{pattern_id})"
        parts.append(
            f'<text x="2" y="{y + 13}" font-size="13" fill="#1a1a1a">{escape(title)}</text>'
            f'<text x="2" y="{y + 29}" font-size="12" fill="#1a1a1a">'
            f"{escape(votes)} · {escape(status)}</text>"
            f'<rect x="2" y="{y + 34}" width="{width}" height="{BAR_HEIGHT}" fill="{fill}" '
            'stroke="#1a1a1a" stroke-width="1"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _is_admin(request: AnyRequest) -> bool:
    user = current_user(request)
    return user is not None and user.has(Role.ADMIN)


class ResultsPagesController(Controller):
    path = "/"
    include_in_schema = False

    @get("/uitslag")
    async def overview(self, request: AnyRequest, db_session: DbSession) -> Template:
        rounds = await service.visible_rounds(db_session, viewer_roles(request))
        return render(request, "results/overview.html", {"rounds": rounds})

    @get("/rondes/{round_id:int}/uitslag")
    async def results_page(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template:
        return await self._page(request, db_session, round_id)

    @post("/rondes/{round_id:int}/uitslag/correcties", guards=[ADMIN_ONLY])
    async def add_override(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            raw = await read_form(request, OVERRIDE_FIELDS.__contains__, limit=FORM_VALUE_LIMIT)
        except FormInputError:
            error = ValidationFailed(_("Het formulier bevat velden die wij niet verwachten."))
            return await self._page(
                request, db_session, round_id, errors={"": error.message}, status=400
            )
        project = raw.get("project_id", "").strip()
        project_id: object = (
            int(project)
            if project.isascii() and project.isdigit() and len(project) <= 10
            else project
        )
        user = current_user(request)
        assert user is not None  # the guard let it through
        try:
            await overrides.add_override(
                db_session,
                round_id,
                project_id=project_id,
                decision=raw.get("decision"),
                reason=raw.get("reason"),
                actor_id=user.id,
            )
        except DomainError as error:
            await db_session.rollback()
            errors = dict(error.fields) or {"": error.message}
            return await self._page(
                request, db_session, round_id, values=raw, errors=errors, status=_status(error)
            )
        await db_session.commit()
        return Redirect(f"/rondes/{round_id}/uitslag?opgeslagen=1#correcties", status_code=303)

    @get("/rondes/{round_id:int}/raadsinformatiebrief")
    async def report_page(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Template:
        view = await service.load(db_session, round_id, roles=viewer_roles(request))
        digest = await report.export_digest(db_session, settings_of(request), round_id)
        signing_key = public_key_info(settings_of(request))
        return render(
            request,
            "results/report.html",
            {
                "view": view,
                "export_digest": digest,
                "signing_key": signing_key,
                "chart": vote_chart,
                "chart_count": chart_count,
                "pct": report.percent_text,
                "seed_text": report.seed_text,
                "option_lines": report.option_lines,
                "commands": report.verify_commands(
                    view, settings_of(request).base_url, signing_key["public_key_hex"]
                ),
                "definition_rows": report.definition_rows(view),
            },
            headers=_headers(view),
        )

    @get("/rondes/{round_id:int}/raadsinformatiebrief.pdf")
    async def report_pdf(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Response[bytes]:
        view = await service.load(db_session, round_id, roles=viewer_roles(request))
        settings = settings_of(request)
        export_sha256 = await report.export_digest(db_session, settings, round_id)
        # In a thread (the language travels with the context): with 200 projects the PDF is
        # about a CPU second, which on the event loop stalled every other request of the worker.
        body = await asyncio.to_thread(
            partial(
                report.council_report_pdf,
                view,
                municipality=settings.municipality,
                base_url=settings.base_url,
                export_sha256=export_sha256,
                signing_key=public_key_info(settings),
            )
        )
        return Response(
            body,
            media_type="application/pdf",
            headers={
                **_headers(view),
                "Content-Disposition": (
                    f'inline; filename="raadsinformatiebrief-ronde-{view.round_id}.pdf"'
                ),
            },
        )

    async def _page(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: int,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        view = await service.load(db_session, round_id, roles=viewer_roles(request))
        return render(
            request,
            "results/results.html",
            {
                "view": view,
                "chart": vote_chart,
                "chart_count": chart_count,
                "pct": report.percent_text,
                "seed_text": report.seed_text,
                "option_lines": report.option_lines,
                "admin": _is_admin(request),
                "values": values or {},
                "errors": errors or {},
                "saved": request.query_params.get("opgeslagen") == "1" and not errors,
            },
            status_code=status,
            headers=_headers(view),
        )


def _headers(view: service.ResultsView) -> dict[str, str]:
    # Pages carry the visitor's name and CSRF token: never "public". Unpublished results are
    # kept by no cache at all.
    return {} if view.published else {"Cache-Control": "private, no-store"}


PAGE_CONTROLLERS = [ResultsPagesController]
