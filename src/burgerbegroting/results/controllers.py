"""The results API: the outcome of a closed round with its explanations, the stored results
document (the bytes its digest covers) and admin overrides.

Visibility is decided in ``results.service.check_visible`` (council, auditors and admins after
closing; everyone after publication), so the GET routes carry no role guard: a published round's
results are public.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Response

from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.i18n import _
from burgerbegroting.results import overrides, participation, service
from burgerbegroting.results.schemas import (
    ComparisonOut,
    ElectionOut,
    FundedOut,
    NotFundedOut,
    OverrideIn,
    OverrideOut,
    ParticipationOut,
    ParticipationRowOut,
    ResultsOut,
)
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.openapi import ALSO_FAILS
from burgerbegroting.web.request_helpers import require_json

AnyRequest = Request[Any, Any, Any]
ADMIN_ONLY = require_roles(Role.ADMIN)


def viewer_roles(request: AnyRequest) -> frozenset[Role] | None:
    """The roles of the request's user, or None for an anonymous visitor (or a voter session)."""
    user = current_user(request)
    return None if user is None else user.roles


def override_out(o: overrides.OverrideView) -> OverrideOut:
    return OverrideOut(
        id=o.id,
        project_id=o.project_id,
        project_title=o.project_title,
        decision=o.decision,
        reason=o.reason,
        actor_id=o.actor_id,
        actor_name=o.actor_name,
        created_at=o.created_at,
    )


def _row(row: participation.ParticipationRow) -> ParticipationRowOut:
    return ParticipationRowOut(
        label=_(row.label) if row.label else "",
        codes_issued=row.codes,
        ballots=row.ballots,
        turnout_percent=row.turnout_percent,
    )


def _comparison(c: service.Comparison | None) -> ComparisonOut | None:
    if c is None:
        return None
    return ComparisonOut(
        rule="greedy",
        funded=list(c.greedy_funded),
        only_mes=list(c.only_mes),
        only_greedy=list(c.only_greedy),
        cost_cents=c.greedy_cost_cents,
        voters=c.voters,
        voters_with_funded_mes=c.voters_with_funded_mes,
        voters_with_funded_greedy=c.voters_with_funded_greedy,
        share_with_funded_mes_percent=c.share_mes,
        share_with_funded_greedy_percent=c.share_greedy,
    )


def election_out(e: service.ElectionView) -> ElectionOut:
    return ElectionOut(
        district_id=e.district_id,
        district_name=e.district_name,
        budget_cents=e.budget_cents,
        ballots=e.ballots,
        blank=e.blank,
        budget_used_cents=e.used_cents,
        budget_left_cents=e.left_cents,
        funded=[
            FundedOut(
                project_id=p.project_id,
                title=p.title,
                votes=p.votes,
                cost_cents=p.cost_cents,
                budget_share_percent=p.budget_share_percent,
                price_per_voter=p.price_per_voter,
                price_per_voter_cents=p.price_per_voter_cents,
                overrides=[override_out(o) for o in p.overrides],
                price_per_point=p.price_per_point,
                price_per_point_cents=p.price_per_point_cents,
                funded_by_leftover=p.funded_by_leftover,
            )
            for p in e.funded
        ],
        not_funded=[
            NotFundedOut(
                project_id=p.project_id,
                title=p.title,
                votes=p.votes,
                cost_cents=p.cost_cents,
                reason=p.reason or "",
                reason_text=_(p.reason_text),
                overrides=[override_out(o) for o in p.overrides],
            )
            for p in e.not_funded
        ],
        tie_break_order=list(e.tie_break_order),
        seed=e.seed,
        ties=[list(t) for t in e.ties],
        ties_decided_by_lot=[list(t) for t in e.lot_ties],
        per_voter_budget=e.per_voter_budget,
        per_voter_budget_cents=e.per_voter_budget_cents,
        greedy_comparison=_comparison(e.comparison),
    )


def results_out(view: service.ResultsView) -> ResultsOut:
    p = view.participation
    return ResultsOut(
        round_id=view.round_id,
        title=view.title,
        phase=view.phase,
        published=view.published,
        rule=view.rule,
        tie_break=view.tie_break,
        seed=view.seed,
        fingerprint=view.fingerprint,
        log_head=view.log_head,
        log_height=view.log_height,
        engine_version=view.engine_version,
        results_digest=view.digest,
        counted_at=view.counted_at,
        elections=[election_out(e) for e in view.elections],
        participation=ParticipationOut(
            ballots=p.total,
            codes_issued=p.codes,
            turnout_percent=p.turnout_percent,
            districts=[_row(r) for r in p.districts],
            channels=[_row(r) for r in p.channels],
            age_bands=[_row(r) for r in p.age_bands],
        ),
        overrides=[override_out(o) for o in view.overrides],
    )


def _cache_headers(published: bool) -> dict[str, str]:
    # Unpublished results are for signed-in staff: never kept by a shared cache.
    return {"Cache-Control": "public, max-age=60" if published else "private, no-store"}


class ResultsApiController(Controller):
    path = "/api/v1/rounds/{round_id:int}/results"
    tags = ("results",)

    @get(
        "/",
        opt={ALSO_FAILS: {403, 409}},
        summary="The outcome per election with explanations (after voting closed)",
    )
    async def results(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Response[ResultsOut]:
        view = await service.load(db_session, round_id, roles=viewer_roles(request))
        return Response(results_out(view), headers=_cache_headers(view.published))

    @get(
        "/document",
        opt={ALSO_FAILS: {403, 409}},
        summary="The stored results document: the exact bytes whose SHA-256 is results_digest",
        media_type="application/json",
    )
    async def document(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Response[bytes]:
        row = await service.stored_document(db_session, round_id, roles=viewer_roles(request))
        return Response(
            row.document.encode("utf-8"),
            media_type="application/json",
            headers={"Cache-Control": "private, no-store"},
        )

    @post(
        "/overrides",
        status_code=201,
        guards=[ADMIN_ONLY],
        summary="Record a decision after the vote next to the computed outcome",
    )
    async def add_override(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[OverrideIn],
    ) -> OverrideOut:
        require_json(request)
        user = current_user(request)
        assert user is not None  # the guard let it through
        override = await overrides.add_override(
            db_session,
            round_id,
            project_id=data.project_id,
            decision=data.decision,
            reason=data.reason,
            actor_id=user.id,
        )
        return override_out(override)


API_CONTROLLERS = [ResultsApiController]
