"""The rounds API under ``/api/v1/rounds``: public reading, admin set-up and phase moves.

Reading is public, but a round in the draft phase is only visible to admins (it may still change
completely). Writing needs the admin role; every write lands in the audit log (``rounds.service``).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Response

from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.rounds import service
from burgerbegroting.rounds.models import Phase
from burgerbegroting.rounds.schemas import (
    PhaseMoveIn,
    RoundCreate,
    RoundOut,
    RoundPatch,
    round_out,
    to_data,
)
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.request_helpers import require_json

AnyRequest = Request[Any, Any, Any]
REASON_MAX_LENGTH = 2000
ADMIN_ONLY = require_roles(Role.ADMIN)


def sees_drafts(request: AnyRequest) -> bool:
    """Admins set rounds up, so they see drafts; everyone else sees a draft as not existing."""
    user = current_user(request)
    return user is not None and user.has(Role.ADMIN)


def actor_id(request: AnyRequest) -> int | None:
    user = current_user(request)
    return user.id if user is not None else None


def check_reason(reason: str | None, *, required: bool) -> str | None:
    """A staff member's explanation for the audit log: required for phase moves, bounded."""
    text = (reason or "").strip()
    if required and not text:
        raise ValidationFailed(
            _("Geef een reden op; die komt in het logboek."),
            fields={"reason": _("Geef een reden op; die komt in het logboek.")},
        )
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationFailed(
            _("De reden is te lang."),
            fields={"reason": _("Te lang: hoogstens %(max)s tekens.", max=REASON_MAX_LENGTH)},
        )
    return text or None


def parse_phase(value: str) -> Phase:
    try:
        return Phase(value)
    except ValueError:
        raise ValidationFailed(
            _("Onbekende fase."),
            fields={"phase": _("Kies een van: %(allowed)s.", allowed=", ".join(Phase))},
        ) from None


class RoundApiController(Controller):
    """Reading (anyone; drafts only for admins) and, for admins, creating, editing and moving
    rounds through their phases."""

    path = "/api/v1/rounds"
    tags = ("rounds",)

    @get("/", summary="Rounds with phase, budget, districts and themes (newest first)")
    async def list_rounds(self, request: AnyRequest, db_session: DbSession) -> list[RoundOut]:
        rounds = await service.list_rounds(db_session, include_drafts=sees_drafts(request))
        return [round_out(r) for r in rounds]

    @get("/{round_id:int}", summary="One round")
    async def get_round(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> RoundOut:
        round_ = await service.get_visible_round(
            db_session, round_id, include_drafts=sees_drafts(request)
        )
        return round_out(round_)

    @get(
        "/{round_id:int}/definition",
        summary="The frozen canonical definition (its SHA-256 is the round's fingerprint)",
        # The handler returns bytes (the exact hashed JSON), which Litestar documented as a string.
        responses={
            200: ResponseSpec(
                data_container=dict[str, Any],
                media_type="application/json",
                description="The canonical definition, a JSON object; its SHA-256 is in the "
                "X-Round-Fingerprint header.",
            ),
            409: ResponseSpec(data_container=None, description="The round is not frozen yet."),
        },
    )
    async def get_definition(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Response[bytes]:
        """The exact bytes that were hashed, so anyone can check ``sha256(body) == fingerprint``."""
        round_ = await service.get_visible_round(
            db_session, round_id, include_drafts=sees_drafts(request)
        )
        if round_.frozen_definition is None:
            raise Conflict(
                _("Deze ronde is nog niet bevroren: dat gebeurt zodra het stemmen opent.")
            )
        return Response(
            round_.frozen_definition.encode("utf-8"),
            media_type="application/json",
            headers={"X-Round-Fingerprint": round_.fingerprint or ""},
        )

    # Writing: admins. The guards sit on these handlers rather than on a second controller because
    # Litestar allows one controller per path (two would both claim OPTIONS /api/v1/rounds).

    @post("/", status_code=201, guards=[ADMIN_ONLY], summary="Create a round (draft phase)")
    async def create_round(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[RoundCreate]
    ) -> RoundOut:
        require_json(request)
        round_ = await service.create_round(db_session, to_data(data), actor_id=actor_id(request))
        return round_out(round_)

    @patch(
        "/{round_id:int}",
        guards=[ADMIN_ONLY],
        summary="Change a round; count-affecting fields are refused (409) once voting opened",
    )
    async def update_round(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[RoundPatch],
    ) -> RoundOut:
        require_json(request)
        reason = check_reason(data.reason if isinstance(data.reason, str) else None, required=False)
        round_ = await service.update_round(
            db_session, round_id, to_data(data), actor_id=actor_id(request), reason=reason
        )
        return round_out(round_)

    @post(
        "/{round_id:int}/phase",
        status_code=200,
        guards=[ADMIN_ONLY],
        summary="Move the round to its next phase",
    )
    async def move_phase(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[PhaseMoveIn],
    ) -> RoundOut:
        require_json(request)
        target = parse_phase(data.phase)
        reason = check_reason(data.reason, required=True)
        round_ = await service.move_phase(
            db_session, round_id, target, actor_id=actor_id(request), reason=reason
        )
        return round_out(round_)
