"""Reading the staff action log: ``GET /api/v1/audit-log`` and the page ``/beheer/logboek``.

Admins and auditors only. There is no endpoint that changes the log: it is written only by the
services whose actions it records.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service
from burgerbegroting.audit.schemas import AuditPageOut, audit_page_out
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.pages import render

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
        result = await service.list_entries(db_session, page=pagina)
        return render(request, "admin/audit_log.html", {"log": result})
