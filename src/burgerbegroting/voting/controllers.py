"""The voting API: codes (admin), code redemption, the booth, paper ballots, receipts, log head.

A voter is either a voter session (the JWT from ``POST /api/v1/auth/code``, sent as
``Authorization: Bearer``; pages use the ``bb_voter`` cookie) or, in rounds with
``vote_by_account``, a logged-in resident. A voter token reaches only the booth routes of its own
round: everywhere else the accounts middleware sees it as anonymous.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.datastructures import Cookie
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service as accounts_service
from burgerbegroting.accounts.auth import current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.tokens import BadToken
from burgerbegroting.db import is_sqlite, read_only
from burgerbegroting.errors import Forbidden, NotAuthenticated
from burgerbegroting.i18n import _
from burgerbegroting.settings import Settings
from burgerbegroting.voting import booths, casting, context, paper, public_checks, roll, voters
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.batching import CastBatcher
from burgerbegroting.voting.schemas import (
    BallotIn,
    BallotRulesOut,
    BatchOut,
    BoothOut,
    CastOut,
    IssueCodesIn,
    IssuedCodesOut,
    LogHeadOut,
    PaperBallotIn,
    ProjectOut,
    ReceiptStatusOut,
    RedeemIn,
    RevokeBatchIn,
    RevokeCodeIn,
    RevokeCodeOut,
    VoterSessionOut,
)
from burgerbegroting.web.deps import DbSession
from burgerbegroting.web.openapi import ALSO_FAILS
from burgerbegroting.web.request_helpers import client_ip, require_json, settings_of

AnyRequest = Request[Any, Any, Any]
ADMIN_ONLY = require_roles(Role.ADMIN)
PAPER_STAFF = require_roles(Role.ADMIN, Role.MODERATOR)
SAFE_METHODS = frozenset({"GET", "HEAD"})


def _user_id(request: AnyRequest) -> int:
    user = current_user(request)
    assert user is not None  # the guard let it through
    return user.id


def voter_cookie(settings: Settings, token: voter_tokens.VoterToken) -> Cookie:
    """The booth's session cookie: HttpOnly, SameSite=Strict (a voter never arrives at the booth
    from another site with a session), Secure outside development."""
    import time  # noqa: PLC0415

    return Cookie(
        key=voter_tokens.VOTER_COOKIE,
        value=token.encoded,
        path="/",
        max_age=max(1, int(token.expires_at.timestamp() - time.time())),
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
    )


def clear_voter_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=voter_tokens.VOTER_COOKIE,
        value="",
        path="/",
        max_age=0,
        expires=0,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
    )


def voter_token_of(request: AnyRequest, *, allow_cookie: bool) -> str | None:
    """The raw voter token of a request: a bearer voter token, or (pages, safe API reads) the
    booth cookie."""
    header = request.headers.get("authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip() and voter_tokens.is_voter_token(value.strip()):
        return value.strip()
    if allow_cookie:
        cookie = request.cookies.get(voter_tokens.VOTER_COOKIE, "")
        return cookie or None
    return None


def read_voter_token(settings: Settings, raw: str) -> voter_tokens.VoterToken:
    try:
        return voter_tokens.read(settings, raw)
    except BadToken as exc:
        raise NotAuthenticated(_("Uw stemsessie is verlopen. Vul uw stemcode opnieuw in.")) from exc


async def resolve_voter(
    request: AnyRequest,
    db_session: AsyncSession,
    round_id: int,
    *,
    lock: bool,
    allow_cookie: bool,
    district_id: int | None = None,
    age_band: str | None = None,
) -> context.VoterContext:
    """The voter of this request for ``round_id`` (voter session first, then account)."""
    settings = settings_of(request)
    raw = voter_token_of(request, allow_cookie=allow_cookie)
    if raw is not None:
        token = read_voter_token(settings, raw)
        # Ended sessions are refused by the context query itself (one statement per request).
        return await context.voter_context(db_session, token, round_id, lock=lock)
    user = current_user(request)
    if user is not None and user.has(Role.RESIDENT):
        confirmed = await accounts_service.get_user(db_session, user.id)
        return await voters.account_voter_context(
            db_session,
            settings,
            user_id=user.id,
            confirmed=confirmed is not None and confirmed.confirmed_at is not None,
            round_id=round_id,
            district_id=district_id,
            age_band=age_band,
            lock=lock,
        )
    if user is not None:
        raise Forbidden(
            _("Met een medewerkersaccount kunt u niet stemmen; gebruik de stemcode uit uw brief.")
        )
    raise NotAuthenticated(_("Vul eerst de stemcode uit uw brief in om te stemmen."))


async def _submit(
    batcher: CastBatcher, db_session: AsyncSession, prepared: casting.PreparedCast
) -> casting.CastResult:
    try:
        return await batcher.submit(prepared)
    except IntegrityError:
        # The same Idempotency-Key sent twice at once: the other request wrote it; answer with it.
        if prepared.idempotency_hash is None:
            raise
        with read_only():
            earlier = await casting.replay_earlier(
                db_session, prepared.idempotency_hash, prepared.content
            )
            await db_session.commit()
        if earlier is None:
            raise
        return earlier


def booth_out(booth: booths.Booth) -> BoothOut:
    return BoothOut(
        round_id=booth.round_id,
        round_title=booth.round_title,
        district_id=booth.election_key,
        district=booth.district_name,
        rules=BallotRulesOut(
            ballot_type=booth.ballot_type,
            budget_cents=booth.budget_cents,
            min_projects=booth.min_projects,
            max_projects=booth.max_projects,
            min_budget_share_permille=booth.min_budget_share_permille,
            approval_max_k=booth.approval_max_k,
            cumulative_points=booth.cumulative_points,
            blank_allowed=booth.blank_allowed,
            theme_caps={str(k): v for k, v in sorted(booth.theme_caps.items())},
        ),
        projects=[
            ProjectOut(
                id=p.id,
                title=p.title,
                summary=p.summary,
                cost_cents=p.cost_cents,
                theme_id=p.theme_id,
                theme=p.theme,
                district_id=p.district_id,
                district=p.district,
            )
            for p in booth.projects
        ],
        ballot=booth.current,
        receipt=booth.receipt,
        closes_at=booth.closes_at,
    )


class VotingCodesApiController(Controller):
    """Admins issue, list and revoke voting codes."""

    path = "/api/v1/rounds/{round_id:int}/codes"
    tags = ("voting codes",)
    guards = [ADMIN_ONLY]  # noqa: RUF012 - Litestar's declared attribute

    @post("/", status_code=201, summary="Issue voting codes (plain codes only in this answer)")
    async def issue(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[IssueCodesIn],
    ) -> Response[IssuedCodesOut]:
        require_json(request)
        batch = await roll.issue_codes(
            db_session,
            settings_of(request),
            round_id,
            district_id=data.district_id,
            count=data.count,
            age_band=data.age_band,
            actor_id=_user_id(request),
        )
        return Response(
            IssuedCodesOut(
                batch_id=batch.batch_id,
                round_id=batch.round_id,
                district_id=batch.district_id,
                age_band=batch.age_band,
                codes=batch.codes,
            ),
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    @get("/", summary="Code batches of the round with how many were used (no codes)")
    async def batches(self, db_session: DbSession, round_id: FromPath[int]) -> list[BatchOut]:
        return [
            BatchOut(
                id=b.id,
                district_id=b.district_id,
                district_name=b.district_name,
                age_band=b.age_band,
                count=b.count,
                redeemed=b.redeemed,
                created_at=b.created_at,
                revoked_at=b.revoked_at,
                revoke_reason=b.revoke_reason,
            )
            for b in await roll.list_batches(db_session, round_id)
        ]

    @post("/{batch_id:int}/revoke", status_code=200, summary="Revoke a whole batch of codes")
    async def revoke_batch(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        batch_id: FromPath[int],
        data: JSONBody[RevokeBatchIn],
    ) -> RevokeCodeOut:
        require_json(request)
        await roll.revoke_batch(
            db_session, round_id, batch_id, reason=data.reason, actor_id=_user_id(request)
        )
        return RevokeCodeOut(revoked=True, ballot_voided=False)

    @post(
        "/revoke",
        status_code=200,
        summary="Revoke one code (lost letter), optionally voiding its ballot",
    )
    async def revoke_code(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[RevokeCodeIn],
    ) -> RevokeCodeOut:
        require_json(request)
        voided = await roll.revoke_code(
            db_session,
            settings_of(request),
            round_id,
            code=data.code,
            reason=data.reason,
            void_ballot=data.void_ballot,
            actor_id=_user_id(request),
        )
        return RevokeCodeOut(revoked=True, ballot_voided=voided)


class VoterAuthApiController(Controller):
    path = "/api/v1/auth/code"
    tags = ("voting",)

    @post("/", status_code=200, summary="Redeem a voting code for a short voter session")
    async def redeem(
        self, request: AnyRequest, db_session: DbSession, data: JSONBody[RedeemIn]
    ) -> Response[VoterSessionOut]:
        require_json(request)
        settings = settings_of(request)
        token = await voters.redeem_code(
            db_session, settings, code=data.code, client_ip=client_ip(request)
        )
        return Response(
            VoterSessionOut(
                token=token.encoded,
                token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
                round_id=token.round_id,
                district_id=token.district_id,
                expires_at=token.expires_at.astimezone(UTC),
            ),
            cookies=[voter_cookie(settings, token)],
            headers={"Cache-Control": "no-store"},
        )


class BallotApiController(Controller):
    """The booth (voters), paper ballots (staff), receipts and the log head (anyone)."""

    path = "/api/v1/rounds/{round_id:int}"
    tags = ("voting",)

    @get(
        "/ballot",
        opt={ALSO_FAILS: {401, 403, 409}},
        summary="The booth: my projects, the rules, my current ballot and receipt",
    )
    async def get_ballot(
        self, request: AnyRequest, db_session: DbSession, round_id: FromPath[int]
    ) -> Response[BoothOut]:
        ctx = await resolve_voter(request, db_session, round_id, lock=False, allow_cookie=True)
        booth = await booths.booth(db_session, ctx)
        return Response(booth_out(booth), headers={"Cache-Control": "no-store"})

    @put("/ballot", status_code=200, summary="Cast or replace my ballot; the last one counts")
    async def put_ballot(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[BallotIn],
    ) -> Response[CastOut]:
        require_json(request)
        settings = settings_of(request)
        idempotency_key = request.headers.get("idempotency-key")
        batcher: CastBatcher | None = getattr(request.app.state, "cast_batcher", None)
        result: casting.CastResult
        raw_token = voter_token_of(request, allow_cookie=False) if batcher is not None else None
        if batcher is not None and raw_token is not None:
            # A voting-code session: checked here, written by the round's writer with the casts
            # that arrived meanwhile (voting/batching.py). When this worker knows the round, the
            # ballot is checked against its frozen rules without reading the database; the
            # writer checks the voter, the session and the code as it writes
            # (casting.prepare_session_cast). Otherwise (and for a retry with an
            # Idempotency-Key) the context is read first, in a read-only transaction.
            prepared: casting.PreparedCast | casting.CastResult | None = None
            if idempotency_key is None:
                prepared = casting.prepare_session_cast(
                    read_voter_token(settings, raw_token), round_id, data.raw()
                )
            if prepared is None:
                with read_only():
                    if not is_sqlite(settings.database_url):
                        # One statement reads all it needs: no BEGIN and COMMIT round trips.
                        await db_session.connection(
                            execution_options={"isolation_level": "AUTOCOMMIT"}
                        )
                    ctx = await resolve_voter(
                        request, db_session, round_id, lock=False, allow_cookie=False
                    )
                    prepared = await casting.prepare_cast(
                        db_session, settings, ctx, data.raw(), idempotency_key=idempotency_key
                    )
                    await db_session.commit()
            if isinstance(prepared, casting.CastResult):
                result = prepared
            else:
                result = await _submit(batcher, db_session, prepared)
        else:
            ctx = await resolve_voter(
                request,
                db_session,
                round_id,
                lock=True,
                allow_cookie=False,
                district_id=data.district_id,
                age_band=data.age_band,
            )
            result = await casting.cast(
                db_session, settings, ctx, data.raw(), idempotency_key=idempotency_key
            )
        return Response(
            CastOut(receipt=result.receipt, ballot=result.ballot, supersedes=result.superseded),
            headers={"Cache-Control": "no-store"},
        )

    @post(
        "/paper-ballots",
        status_code=201,
        guards=[PAPER_STAFF],
        summary="Enter a paper ballot against the code printed on it",
    )
    async def paper_ballot(
        self,
        request: AnyRequest,
        db_session: DbSession,
        round_id: FromPath[int],
        data: JSONBody[PaperBallotIn],
    ) -> CastOut:
        require_json(request)
        result = await paper.enter_paper_ballot(
            db_session,
            settings_of(request),
            round_id,
            code=data.code,
            ballot=data.ballot.raw(),
            actor_id=_user_id(request),
        )
        # Never the receipt of the code's earlier (online) ballot: with it and the audit export the
        # staff member could read how this voter voted (docs/security.md, paper voting).
        return CastOut(receipt=result.receipt, ballot=result.ballot, supersedes=None)

    @get(
        "/receipts/{receipt:str}",
        opt={ALSO_FAILS: {404, 409}},
        summary="Is this receipt's ballot counted?",
    )
    async def receipt(
        self, db_session: DbSession, round_id: FromPath[int], receipt: FromPath[str]
    ) -> ReceiptStatusOut:
        return ReceiptStatusOut(
            status=await public_checks.receipt_status(db_session, round_id, receipt)
        )

    @get(
        "/log/head",
        opt={ALSO_FAILS: {404, 409}},
        summary="Height and head hash of the ballot log (public once voting opened)",
    )
    async def log_head(self, db_session: DbSession, round_id: FromPath[int]) -> LogHeadOut:
        head = await public_checks.log_head(db_session, round_id)
        return LogHeadOut(
            round_id=round_id, height=head.height, head=head.head, closed=head.closed_at is not None
        )


API_CONTROLLERS = [VotingCodesApiController, VoterAuthApiController, BallotApiController]
