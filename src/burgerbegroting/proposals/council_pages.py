"""``/raad``: the council members' own page: every public round with its phase, budget and
timeline, and how many proposals are where; for a round whose voting has closed, links to its
results page and its council report (raadsinformatiebrief), which council members may read before
publication (``results.service.check_visible``). Council members read; they change nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy import func, select

from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.proposals.service import PUBLIC_STATUSES, STATUS_LABELS
from burgerbegroting.rounds import service as rounds
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.pages import render

AnyRequest = Request[Any, Any, Any]


class CouncilPagesController(Controller):
    path = "/raad"
    include_in_schema = False
    guards = [require_roles(Role.COUNCIL)]  # noqa: RUF012 - Litestar's declared attribute

    @get("/")
    async def overview(self, request: AnyRequest, db_session: DbSession) -> Template:
        public = await rounds.list_rounds(db_session, include_drafts=False)
        counts: dict[int, dict[str, int]] = {}
        if public:
            result = await db_session.execute(
                select(Proposal.round_id, Proposal.status, func.count())
                .where(
                    Proposal.round_id.in_([r.id for r in public]),
                    Proposal.status.in_([str(s) for s in PUBLIC_STATUSES]),
                )
                .group_by(Proposal.round_id, Proposal.status)
            )
            for round_id, status, number in result.all():
                counts.setdefault(round_id, {})[status] = int(number)
        return render(
            request,
            "council/overview.html",
            {
                "rounds": [(r, rounds.timeline(r), counts.get(r.id, {})) for r in public],
                "status_labels": STATUS_LABELS,
            },
        )
