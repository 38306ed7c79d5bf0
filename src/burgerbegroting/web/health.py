"""``GET /health``: a database round-trip, for load balancers and monitoring."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.response import Response
from sqlalchemy import text

from burgerbegroting.web.deps import DbSession


class Health(msgspec.Struct):
    status: str
    database: str


@get("/health", exclude_from_auth=True, tags=["system"])
async def health(db_session: DbSession) -> Response[Health]:
    """Report whether the database answers."""
    try:
        await db_session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "unavailable"
        return Response(Health(status="unavailable", database="unreachable"), status_code=503)
    return Response(Health(status="ok", database="ok"))
