"""The audit export (``GET /api/v1/rounds/{id}/export``) and the instance's public signing key
(``GET /.well-known/burgerbegroting-key``).

Who may download what and when is decided in ``audit.export`` (it depends on the round's phase
and on ``export_public``), so the route itself has no role guard; it has a guard against being
triggered from another site, because every download writes a line to the staff action log.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Response

from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import requires_same_origin_or_bearer
from burgerbegroting.audit import export as exports
from burgerbegroting.audit.schemas import SigningKeyOut
from burgerbegroting.audit.signing import public_key_info
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.openapi import ALSO_FAILS, ALSO_SERVES
from burgerbegroting.web.request_helpers import client_ip, settings_of

AnyRequest = Request[Any, Any, Any]


def require_deliberate_download(request: AnyRequest) -> None:
    """Refuse a logged download that another site could have triggered with the visitor's cookie:
    ``accounts.guards.requires_same_origin_or_bearer`` for every signed-in request. Anonymous
    requests (a public export after publication, fetched with curl) carry no one's authority and
    pass."""
    if current_user(request) is None:
        return
    requires_same_origin_or_bearer(request, request.route_handler)


class AuditExportApiController(Controller):
    path = "/api/v1/rounds/{round_id:int}/export"
    tags = ("audit",)

    @get(
        "/",
        # No role guard (who may download depends on the round's phase: audit/export.py), so
        # its refusals and the audit line's commit are declared here (web/openapi.py).
        opt={ALSO_FAILS: {403, 409, 429, 503}, ALSO_SERVES: {200: ["text/plain", "text/csv"]}},
        responses={
            200: ResponseSpec(
                data_container=dict[str, Any],
                media_type="application/json",
                description="format=json: the signed export (canonical JSON). format=pb: a "
                "pabulib file (text/plain); format=csv: text/csv for Dutch spreadsheets.",
            ),
        },
        summary="Download the signed audit export of a round (format=json, pb or csv)",
        description=(
            "json: definition, projects, ballot log, current ballots and outcome with a manifest "
            "of SHA-256 digests signed with the instance's Ed25519 key (during voting, for "
            "auditors: definition, projects and the log so far). pb: one pabulib file per "
            "election (district=<id> or city). csv: projects with results and one ballot a line "
            "for Dutch spreadsheets. Byte-identical for the same state; every download is logged."
        ),
    )
    async def export(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        export_format: Annotated[str | None, QueryParameter(name="format", max_length=10)] = None,
        district: Annotated[str | None, QueryParameter(name="district", max_length=12)] = None,
    ) -> Response[bytes]:
        require_deliberate_download(request)
        fmt = exports.parse_format(export_format)
        result = await exports.build_export(
            db_session,
            settings_of(request),
            round_id=round_id,
            user=current_user(request),
            fmt=fmt,
            district=district,
            client_ip=client_ip(request),
        )
        # The audit line commits before the file leaves (web/transactions.py).
        return Response(
            content=result.content,
            media_type=result.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{result.filename}"',
                "Cache-Control": "no-store",
            },
        )


class SigningKeyController(Controller):
    path = "/.well-known/burgerbegroting-key"
    tags = ("audit",)

    @get("/", summary="The instance's Ed25519 public key for audit exports")
    async def key(self, request: AnyRequest) -> SigningKeyOut:
        return SigningKeyOut(**public_key_info(settings_of(request)))


CONTROLLERS = [AuditExportApiController, SigningKeyController]
