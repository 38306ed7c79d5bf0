"""Voting business rules: codes, voter sessions, the booth, casting, receipts, paper ballots.

Plain async functions over an ``AsyncSession``; domain errors with Dutch messages; no Litestar.

**Casting** is one transaction (``cast``): lock the voter row, check the ballot against every rule
of the round (``voting.ballots``), lock the round's log head, append the ``ballot`` event, store
the ballot and make it the voter's current one. The voter-row lock makes casts of one voter
strictly ordered, so each cast names exactly the ballot it supersedes; the log-head lock makes
the log a single chain and makes the close and a late cast mutually exclusive.

**Last ballot counts**: a later cast supersedes the earlier one, whatever the channel (online or
paper, entered by staff against the code printed on it). The earlier ballot stays stored and in
the log; its receipt then reads "superseded". A voter who votes online and also hands in a paper
ballot is counted once, with whichever reached us last; the booth says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, any_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import ratelimit
from burgerbegroting.accounts.models import RevokedToken
from burgerbegroting.accounts.tokens import derive_key
from burgerbegroting.audit.service import record
from burgerbegroting.db import MAX_ID, fetch_tuples, utcnow
from burgerbegroting.errors import (
    Conflict,
    DomainError,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from burgerbegroting.i18n import TIMEZONE, _
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.rounds.models import District, Phase, Round, Theme
from burgerbegroting.rounds.service import phase_ends_at
from burgerbegroting.settings import Settings
from burgerbegroting.voting import ballots as rules_mod
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import log as log_mod
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.canonical import canonical_json, normalise_receipt, receipt_from_hash
from burgerbegroting.voting.messages import ballot_problem_message
from burgerbegroting.voting.models import (
    AGE_BANDS,
    Ballot,
    BallotLog,
    Channel,
    CodeBatch,
    EventKind,
    ReceiptStatus,
    Voter,
    VoterMethod,
    VotingCode,
)

logger = logging.getLogger("burgerbegroting.voting")

MAX_CODES_PER_BATCH = 200_000
_INSERT_CHUNK = 5_000
_CODES: Table = VotingCode.__table__  # type: ignore[assignment]
IDEMPOTENCY_KEY_MAX_LENGTH = 200
GLOBAL_CODE_ATTEMPTS_FACTOR = 1_000
"""The global limit on code redemptions per window is this many times the per-address limit: high
enough for a whole city's evening peak, low enough that a botnet cannot try codes at full speed."""


# --- reading the round ---------------------------------------------------------------------------


def _round_not_found() -> NotFound:
    return NotFound(_("Deze begrotingsronde bestaat niet."))


async def _round(session: AsyncSession, round_id: int) -> Round:
    if not 0 < round_id <= MAX_ID:
        raise _round_not_found()
    round_ = (
        await session.execute(
            select(Round).where(Round.id == round_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if round_ is None or round_.phase == Phase.DRAFT.value:
        raise _round_not_found()
    return round_


def definition_of(round_: Round) -> dict[str, Any]:
    """The round's frozen definition (voting has opened, so it exists)."""
    if round_.frozen_definition is None:
        raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
    loaded: dict[str, Any] = json.loads(round_.frozen_definition)
    return loaded


def _require_voting(round_: Round | BoothRound) -> None:
    if round_.phase == Phase.VOTING.value:
        ends_at = round_.closes_at if isinstance(round_, BoothRound) else round_.closed_starts_at
        if ends_at is not None and ends_at <= utcnow():
            raise log_mod.closed_error()  # past its scheduled end; the scheduler is catching up
        return
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        raise log_mod.closed_error()
    raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))


# --- voting codes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedBatch:
    batch_id: int
    round_id: int
    round_title: str
    district_id: int | None
    district_name: str | None
    age_band: str | None
    codes: list[str]


def _band_oldest(band: str) -> int | None:
    """The oldest age in an age band ("12-17" → 17); None for an open band ("67+")."""
    _low, dash, high = band.partition("-")
    return int(high) if dash else None


async def issue_codes(
    session: AsyncSession,
    settings: Settings,
    round_id: int,
    *,
    district_id: int | None,
    count: int,
    age_band: str | None = None,
    actor_id: int | None,
    progress: Callable[[int, int], None] | None = None,
    generate: Callable[[], str] | None = None,
) -> IssuedBatch:
    """Issue ``count`` fresh codes for a district (or city-wide) and return them in plain text.

    The plain codes exist only in the returned value: the database gets their keyed hashes. Codes
    issued while voting is open are added to the roll with a ``roll`` event in the ballot log.
    ``generate`` makes each code (default: ``codes.new_codes``, random, a chunk at a time; the demo
    passes a reproducible one, so re-running it can print the same codes without storing them).
    """
    round_ = await _round(session, round_id)
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        raise log_mod.closed_error()
    if not round_.vote_by_code:
        raise Conflict(
            _(
                "In deze ronde wordt niet met stemcodes gestemd: "
                "er kunnen geen stemcodes worden uitgegeven."
            )
        )
    problems: dict[str, str] = {}
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        problems["count"] = _(
            "Geef een aantal van 1 tot en met %(max)s.",
            max=f"{MAX_CODES_PER_BATCH:,}".replace(",", "."),
        )
    if age_band is not None and age_band not in AGE_BANDS:
        problems["age_band"] = _("Kies een van de leeftijdsgroepen.")
    elif age_band is not None and round_.min_age is not None:
        # A band wholly under the round's minimum age holds nobody who may vote (a band that
        # straddles it, 12-17 with 16, is the municipality's selection from the register).
        oldest = _band_oldest(age_band)
        if oldest is not None and oldest < round_.min_age:
            problems["age_band"] = _(
                "In deze leeftijdsgroep mag niemand stemmen: de minimumleeftijd is %(age)s jaar.",
                age=round_.min_age,
            )
    districts = (
        (await session.execute(select(District).where(District.round_id == round_id)))
        .scalars()
        .all()
    )
    district = next((d for d in districts if d.id == district_id), None)
    if district_id is not None and district is None:
        problems["district_id"] = _("Deze wijk hoort niet bij deze ronde.")
    elif district is not None and not district.eligible:
        problems["district_id"] = _("Inwoners van deze wijk mogen in deze ronde niet stemmen.")
    elif district_id is None and round_.budget_scope == "districts":
        problems["district_id"] = _("Kies een wijk: in deze ronde stemt iedereen in de eigen wijk.")
    if problems:
        raise ValidationFailed(_("Niet alle velden zijn goed ingevuld."), fields=problems)
    batch = CodeBatch(
        round_id=round_id,
        district_id=district_id,
        age_band=age_band,
        count=count,
        created_by=actor_id,
        created_at=utcnow(),
    )
    session.add(batch)
    await session.flush()
    key = codes_mod.code_key(settings)
    plain: list[str] = []
    connection = await session.connection()
    copy = connection.dialect.name == "postgresql"
    for done in range(0, count, _INSERT_CHUNK):
        size = min(_INSERT_CHUNK, count - done)
        chunk = codes_mod.new_codes(size) if generate is None else [generate() for _ in range(size)]
        plain += chunk
        hashes = [codes_mod.hash_code(key, code.replace("-", "")) for code in chunk]
        if copy:
            # PostgreSQL's COPY: a multi-row INSERT of 5,000 rows is 20,000 parameters to
            # bind and a statement to parse and plan; COPY streams the rows.
            raw = (await connection.get_raw_connection()).driver_connection
            if raw is None:  # pragma: no cover - a checked-out connection always has one
                raise RuntimeError("no driver connection")
            await raw.copy_records_to_table(
                "voting_codes",
                records=[(batch.id, round_id, district_id, h) for h in hashes],
                columns=("batch_id", "round_id", "district_id", "code_hash"),
            )
        else:
            # The table, not the entity: the ORM's bulk insert spent about 5 µs per row
            # collecting "insert commands" for rows it never tracks.
            await session.execute(
                insert(_CODES),
                [
                    {
                        "batch_id": batch.id,
                        "round_id": round_id,
                        "district_id": district_id,
                        "code_hash": h,
                    }
                    for h in hashes
                ],
            )
        if progress is not None:
            progress(done + size, count)
    details: dict[str, object] = {
        "batch_id": batch.id,
        "district_id": district_id,
        "count": count,
        "age_band": age_band,
    }
    # Codes issued while voting is open join the roll: a ``roll`` event with its new fingerprint.
    await _roll_changed(
        session, round_id, {"change": "issued", "district_id": district_id, "codes": count}
    )
    await record(
        session,
        actor_id=actor_id,
        action="codes.issue",
        subject_type="round",
        subject_id=round_id,
        details=details,
    )
    return IssuedBatch(
        batch_id=batch.id,
        round_id=round_id,
        round_title=round_.title,
        district_id=district_id,
        district_name=district.name if district is not None else None,
        age_band=age_band,
        codes=plain,
    )


@dataclass(frozen=True, slots=True)
class BatchSummary:
    id: int
    district_id: int | None
    district_name: str | None
    age_band: str | None
    count: int
    created_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None
    redeemed: int


async def list_batches(session: AsyncSession, round_id: int) -> list[BatchSummary]:
    """The code batches of a round with how many of their codes were used (never the codes)."""
    await _round(session, round_id)
    redeemed = (
        select(VotingCode.batch_id, func.count(Voter.id).label("used"))
        .join(Voter, Voter.code_id == VotingCode.id)
        .where(VotingCode.round_id == round_id)
        .group_by(VotingCode.batch_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(CodeBatch, District.name, redeemed.c.used)
            .outerjoin(District, District.id == CodeBatch.district_id)
            .outerjoin(redeemed, redeemed.c.batch_id == CodeBatch.id)
            .where(CodeBatch.round_id == round_id)
            .order_by(CodeBatch.id)
        )
    ).all()
    return [
        BatchSummary(
            id=b.id,
            district_id=b.district_id,
            district_name=name,
            age_band=b.age_band,
            count=b.count,
            created_at=b.created_at,
            revoked_at=b.revoked_at,
            revoke_reason=b.revoke_reason,
            redeemed=int(used or 0),
        )
        for b, name, used in rows
    ]


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Geef een reden op."), fields={"reason": _("Geef een reden op.")})
    if len(text) > 500:
        raise ValidationFailed(
            _("De reden is te lang."), fields={"reason": _("Hoogstens 500 tekens.")}
        )
    return text


async def _roll_changed(session: AsyncSession, round_id: int, change: dict[str, Any]) -> None:
    head = await log_mod.lock_head(session, round_id)
    if head is None or head.closed_at is not None:
        return
    summary = await log_mod.roll_summary(session, round_id)
    fingerprint = log_mod.roll_fingerprint(summary)
    await log_mod.append(
        session, head, EventKind.ROLL, {**change, "roll": summary, "roll_fingerprint": fingerprint}
    )
    await session.execute(
        update(BallotLog)
        .where(BallotLog.round_id == round_id)
        .values(roll_fingerprint=fingerprint)
        .execution_options(synchronize_session=False)
    )


async def revoke_batch(
    session: AsyncSession, round_id: int, batch_id: int, *, reason: str | None, actor_id: int
) -> None:
    """Revoke every code of a batch (a print run lost or sent to the wrong addresses). Ballots
    already cast with them stay counted unless voided one by one."""
    text = _reason(reason)
    round_ = await _round(session, round_id)
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        raise log_mod.closed_error()
    if not 0 < batch_id <= MAX_ID:
        raise NotFound(_("Deze reeks stemcodes bestaat niet."))
    batch = (
        await session.execute(
            select(CodeBatch)
            .where(CodeBatch.id == batch_id, CodeBatch.round_id == round_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if batch is None:
        raise NotFound(_("Deze reeks stemcodes bestaat niet."))
    if batch.revoked_at is not None:
        raise Conflict(_("Deze reeks stemcodes is al ingetrokken."))
    batch.revoked_at = utcnow()
    batch.revoke_reason = text
    await session.flush()
    await _roll_changed(session, round_id, {"change": "batch-revoked", "batch_id": batch_id})
    await record(
        session,
        actor_id=actor_id,
        action="codes.revoke_batch",
        subject_type="round",
        subject_id=round_id,
        details={"batch_id": batch_id, "count": batch.count},
        reason=text,
    )


def _bad_code() -> NotAuthenticated:
    # One answer for a mistyped, unknown, revoked or other round's code: nothing to learn from it.
    return NotAuthenticated(
        _("Deze stemcode is niet geldig. Controleer de code op uw brief en probeer het opnieuw.")
    )


async def _code_row(
    session: AsyncSession, settings: Settings, text: str, *, round_id: int | None = None
) -> tuple[VotingCode, CodeBatch] | None:
    normalised = codes_mod.normalise(text)
    if normalised is None:
        return None
    digest = codes_mod.hash_code(codes_mod.code_key(settings), normalised)
    query = (
        select(VotingCode, CodeBatch)
        .join(CodeBatch, CodeBatch.id == VotingCode.batch_id)
        .where(VotingCode.code_hash == digest)
    )
    if round_id is not None:
        query = query.where(VotingCode.round_id == round_id)
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def revoke_code(
    session: AsyncSession,
    settings: Settings,
    round_id: int,
    *,
    code: str,
    reason: str | None,
    void_ballot: bool,
    actor_id: int,
) -> bool:
    """Revoke one code (a lost letter), typed from the municipality's mail-merge record.

    Its ballot, if any, stays counted unless ``void_ballot`` is set: then the current ballot is
    voided with a ``void`` event in the log (the reason goes to the audit log, not the public
    log). Returns whether a ballot was voided."""
    text = _reason(reason)
    round_ = await _round(session, round_id)
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        raise log_mod.closed_error()
    found = await _code_row(session, settings, code, round_id=round_id)
    if found is None:
        raise ValidationFailed(
            _("Deze stemcode hoort niet bij deze ronde."),
            fields={"code": _("Onbekende stemcode voor deze ronde.")},
        )
    code_row, _batch = found
    voided = False
    if code_row.revoked_at is None:
        await session.execute(
            update(VotingCode)
            .where(VotingCode.id == code_row.id)
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await _roll_changed(session, round_id, {"change": "code-revoked"})
    elif not void_ballot:
        raise Conflict(_("Deze stemcode is al ingetrokken."))
    if void_ballot:
        voter = (
            await session.execute(
                select(Voter).where(Voter.code_id == code_row.id).with_for_update()
            )
        ).scalar_one_or_none()
        if voter is not None and voter.current_ballot_id is not None:
            current = await session.get(Ballot, voter.current_ballot_id)
            assert current is not None
            head = await log_mod.lock_head(session, round_id)
            if head is None:
                raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
            await log_mod.append(session, head, EventKind.VOID, {"voids": current.receipt})
            voter.current_ballot_id = None
            await session.flush()
            voided = True
    await record(
        session,
        actor_id=actor_id,
        action="codes.revoke",
        subject_type="round",
        subject_id=round_id,
        details={"batch_id": code_row.batch_id, "ballot_voided": voided},
        reason=text,
    )
    return voided


# --- voter sessions -------------------------------------------------------------------------------


def _insert_voter(session: AsyncSession, values: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(Voter).values(**values)
    return statement.on_conflict_do_nothing(index_elements=["round_id", "voter_key"])


async def _voter_for_code(
    session: AsyncSession, settings: Settings, code_row: VotingCode, batch: CodeBatch
) -> Voter:
    voter_key = codes_mod.voter_key_for_code(settings, code_row.code_hash)
    await session.execute(
        _insert_voter(
            session,
            {
                "round_id": code_row.round_id,
                "voter_key": voter_key,
                "method": VoterMethod.CODE.value,
                "code_id": code_row.id,
                "district_id": code_row.district_id,
                "age_band": batch.age_band,
                "verified": True,
            },
        )
    )
    voter = (
        await session.execute(
            select(Voter)
            .where(Voter.round_id == code_row.round_id, Voter.voter_key == voter_key)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return voter


async def redeem_code(
    session: AsyncSession, settings: Settings, *, code: str, client_ip: str
) -> voter_tokens.VoterToken:
    """Exchange a voting code for a short voter session for its round and district.

    Limited per client address and globally, counted before the code is even normalised, so a
    throttled request costs nothing. The address is counted first: an address over its own limit
    is refused before it reaches the global counter, so one address cannot use up everyone's
    attempts. A code that opens a session is refunded: the limits are against guessing, and many
    residents can share one address (a community centre, a library, a mobile network). A
    mistyped, unknown and revoked code get the same answer.
    """
    window = settings.rate_limit_window_seconds
    now = utcnow()
    too_many = _("Te veel pogingen met stemcodes. Wacht even en probeer het daarna opnieuw.")
    limits = (
        (ratelimit.ip_key("code", client_ip), settings.code_attempts_per_window),
        ("code:global", settings.code_attempts_per_window * GLOBAL_CODE_ATTEMPTS_FACTOR),
    )
    for key, limit in limits:
        await ratelimit.hit(session, key, limit, window, message=too_many, now=now)
    found = await _code_row(session, settings, code)
    if found is None:
        raise _bad_code()
    code_row, batch = found
    if code_row.revoked_at is not None or batch.revoked_at is not None:
        raise _bad_code()
    round_ = await _round(session, code_row.round_id)
    _require_voting(round_)
    if not round_.vote_by_code:
        # Codes issued before the round was set to accounts only (it is frozen from here on).
        raise Conflict(
            _("In deze ronde stemt u met uw account, niet met een stemcode. Log in om te stemmen.")
        )
    voter = await _voter_for_code(session, settings, code_row, batch)
    for key, _limit in limits:
        await ratelimit.refund(session, key, window, now=now)
    return voter_tokens.issue(
        settings,
        voter_id=voter.id,
        round_id=round_.id,
        district_id=voter.district_id,
        fingerprint=round_.fingerprint,
    )


@dataclass(slots=True)
class BoothVoter:
    """What a booth request needs of a voter row (read with a plain statement, not the ORM: the
    context is read on every cast). ``id`` is None for the transient voter of a paper booth."""

    id: int | None
    voter_key: str | None
    code_id: int | None
    district_id: int | None
    current_ballot_id: int | None
    draft: str | None

    @classmethod
    def of(cls, voter: Voter) -> BoothVoter:
        return cls(
            voter.id,
            voter.voter_key,
            voter.code_id,
            voter.district_id,
            voter.current_ballot_id,
            voter.draft,
        )


@dataclass(frozen=True, slots=True)
class BoothRound:
    """What a booth request needs of its round."""

    id: int
    title: str
    phase: str
    closes_at: datetime | None  # when voting is scheduled to end (while it is open)

    @classmethod
    def of(cls, round_: Round) -> BoothRound:
        closes_at = phase_ends_at(round_) if round_.phase == Phase.VOTING.value else None
        return cls(round_.id, round_.title, round_.phase, closes_at)


@dataclass(slots=True)
class VoterContext:
    """The voter of one booth request, with the round and its frozen rules."""

    voter: BoothVoter
    round: BoothRound
    definition: Mapping[str, Any]  # shared between requests (see _frozen): read, never change
    election_key: int | None
    rules: rules_mod.ElectionRules = field(repr=False)
    # The receipt of the voter's current ballot when the context query loaded it (None: no
    # ballot, or not loaded; ``cast`` then looks it up).
    current_receipt: str | None = None


def _code_revoked(code_id: Any) -> Any:
    """SQL: the voting code ``code_id`` (a column or parameter) or its batch is revoked. The one
    definition of a revoked code for the booth, the cast writer and the lock re-check."""
    return exists().where(
        VotingCode.id == code_id,
        CodeBatch.id == VotingCode.batch_id,
        or_(VotingCode.revoked_at.is_not(None), CodeBatch.revoked_at.is_not(None)),
    )


_CODE_REVOKED = select(_code_revoked(bindparam("code_id")))


async def _check_code_live(session: AsyncSession, code_id: int | None) -> None:
    if code_id is None:
        return
    conn = await session.connection()
    if (await conn.execute(_CODE_REVOKED, {"code_id": code_id})).scalar_one():
        raise NotAuthenticated(_("Deze stemcode is ingetrokken. Neem contact op met de gemeente."))


# Parsed frozen definitions and their election rules, by (round id, fingerprint). A frozen
# definition never changes (the service and the database's triggers refuse it, see
# rounds/models.py), so every worker parses it once instead of on every cast. Shared between
# requests: nothing may change what it returns.
_FROZEN: dict[tuple[int, str], tuple[Mapping[str, Any], dict[int | None, rules_mod.ElectionRules]]]
_FROZEN = {}
_FROZEN_MAX = 64


def _frozen(
    round_id: int, fingerprint: str, text: str
) -> tuple[Mapping[str, Any], dict[int | None, rules_mod.ElectionRules]]:
    found = _FROZEN.get((round_id, fingerprint))
    if found is None:
        found = (json.loads(text), {})
        # Kept only when the text is what the fingerprint commits to (it always is, unless the
        # database was changed behind the triggers' back; then it is used for this request only).
        if hashlib.sha256(text.encode("utf-8")).hexdigest() == fingerprint:
            if len(_FROZEN) >= _FROZEN_MAX:
                _FROZEN.clear()
            _FROZEN[round_id, fingerprint] = found
    return found


def _context(
    voter: BoothVoter,
    round_: BoothRound,
    definition: Mapping[str, Any],
    rules_cache: dict[int | None, rules_mod.ElectionRules] | None = None,
    *,
    current_receipt: str | None = None,
) -> VoterContext:
    try:
        key = rules_mod.election_key_for(definition, voter.district_id)
    except rules_mod.BallotProblem as exc:
        raise Conflict(_("U kunt in deze ronde niet stemmen: uw wijk doet niet mee.")) from exc
    eligible = definition["eligibility"].get("districts") or []
    if voter.district_id is not None and eligible and voter.district_id not in eligible:
        raise Conflict(_("U kunt in deze ronde niet stemmen: uw wijk doet niet mee."))
    rules = rules_cache.get(key) if rules_cache is not None else None
    if rules is None:
        rules = rules_mod.election_rules(definition, key)
        if rules_cache is not None:
            rules_cache[key] = rules
    return VoterContext(voter, round_, definition, key, rules, current_receipt=current_receipt)


def _orm_context(voter: Voter, round_: Round) -> VoterContext:
    """The context of a voter and round read with the ORM (accounts, paper ballots)."""
    return _context(BoothVoter.of(voter), BoothRound.of(round_), definition_of(round_))


def _voter_context_query(*, lock: bool) -> Select[*tuple[Any, ...]]:
    """Built once (statement construction is a visible share of a cast's time); parameters
    ``jti``, ``voter_id`` and ``round_id``. Plain columns, no ORM entities: loading a Voter and a
    Round through the ORM cost more than the rest of the check of a ballot."""
    session_ended = exists().where(RevokedToken.jti == bindparam("jti"))
    current_receipt = (
        select(Ballot.receipt).where(Ballot.id == Voter.current_ballot_id).scalar_subquery()
    )
    query = (
        select(
            Voter.id,
            Voter.voter_key,
            Voter.code_id,
            Voter.district_id,
            Voter.current_ballot_id,
            Voter.draft,
            Round.title,
            Round.phase,
            Round.closed_starts_at,
            Round.fingerprint,
            session_ended.label("session_ended"),
            _code_revoked(Voter.code_id).label("code_revoked"),
            current_receipt.label("current_receipt"),
        )
        .join(Round, Round.id == Voter.round_id)
        .where(Voter.id == bindparam("voter_id"), Voter.round_id == bindparam("round_id"))
    )
    return query.with_for_update(of=Voter) if lock else query


_VOTER_CONTEXT = _voter_context_query(lock=False)
_VOTER_CONTEXT_LOCKED = _voter_context_query(lock=True)
_FROZEN_DEFINITION = select(Round.frozen_definition).where(Round.id == bindparam("round_id"))


async def voter_context(
    session: AsyncSession,
    token: voter_tokens.VoterToken,
    round_id: int,
    *,
    lock: bool = False,
) -> VoterContext:
    """The booth context of a verified voter token for ``round_id``; a token for another round is
    refused as if absent. With ``lock`` the voter row is locked for the transaction (a cast)."""
    if token.round_id != round_id:
        raise NotAuthenticated(
            _("Uw stemsessie hoort bij een andere ronde. Log opnieuw in met uw stemcode.")
        )
    if not 0 < round_id <= MAX_ID:
        raise _round_not_found()
    # One statement for what a booth request needs (the hot path of every cast): the voter (locked
    # for a cast), the round, whether this session was ended or its code revoked, and the receipt
    # of the ballot a cast would replace.
    conn = await session.connection()
    query = _VOTER_CONTEXT_LOCKED if lock else _VOTER_CONTEXT
    params = {"jti": token.jti, "voter_id": token.voter_id, "round_id": round_id}
    row = (await conn.execute(query, params)).one_or_none()
    if row is not None and row.session_ended:
        raise NotAuthenticated(_("Uw stemsessie is beëindigd. Vul uw stemcode opnieuw in."))
    if row is None:
        raise NotAuthenticated(
            _("Uw stemsessie is niet meer geldig. Log opnieuw in met uw stemcode.")
        )
    if lock:
        # Asked again after the lock, in a statement of its own: on PostgreSQL a statement that
        # waited for the voter's lock reads other tables as they were when it started, and a
        # revocation that voids the ballot holds that lock until it commits. (A batched cast
        # does not lock here: its writer asks after locking, see append_casts.)
        await _check_code_live(session, row.code_id)
    elif row.code_revoked:
        raise NotAuthenticated(_("Deze stemcode is ingetrokken. Neem contact op met de gemeente."))
    if row.phase == Phase.DRAFT.value:
        raise _round_not_found()
    if row.fingerprint is None:
        raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
    frozen = _FROZEN.get((round_id, row.fingerprint))
    if frozen is None:
        text = (await conn.execute(_FROZEN_DEFINITION, {"round_id": round_id})).scalar_one()
        if text is None:
            raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
        frozen = _frozen(round_id, row.fingerprint, text)
    voter = BoothVoter(
        row.id, row.voter_key, row.code_id, row.district_id, row.current_ballot_id, row.draft
    )
    closes_at = row.closed_starts_at if row.phase == Phase.VOTING.value else None
    return _context(
        voter,
        BoothRound(round_id, row.title, row.phase, closes_at),
        *frozen,
        current_receipt=row.current_receipt,
    )


async def account_voter_context(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: int,
    confirmed: bool,
    round_id: int,
    district_id: int | None = None,
    age_band: str | None = None,
    lock: bool = False,
) -> VoterContext:
    """The booth context of a logged-in resident in a round that allows voting with an account.

    The first visit needs the resident's district (where the round has districts) and, where the
    round has a minimum age, their age band (declared: an account holds no age; a band wholly
    under the minimum age is refused). Both are stored with the voter and cannot change afterwards
    (one ballot per account per round)."""
    round_ = await _round(session, round_id)
    if not round_.vote_by_account:
        raise Conflict(
            _("In deze ronde stemt u met de stemcode uit uw brief, niet met uw account.")
        )
    if not confirmed:
        raise Conflict(_("Bevestig eerst uw e-mailadres; daarna kunt u stemmen."))
    definition = definition_of(round_)
    voter_key = codes_mod.voter_key_for_account(settings, round_id, user_id)
    query = select(Voter).where(Voter.round_id == round_id, Voter.voter_key == voter_key)
    if lock:
        query = query.with_for_update()
    voter = (
        await session.execute(query.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if voter is None:
        # A first visit makes the voter row: only while voting is open (after the close it would
        # be asked for a district to be told the round is closed, and leave a row behind).
        _require_voting(round_)
        district_ids = [d["id"] for d in definition["districts"]]
        problems: dict[str, str] = {}
        if district_ids and district_id is None:
            problems["district_id"] = _("Kies de wijk waar u woont.")
        elif district_id is not None and district_id not in district_ids:
            problems["district_id"] = _("Deze wijk hoort niet bij deze ronde.")
        if round_.min_age is not None:
            band_problem = _account_age_band_problem(age_band, round_.min_age)
            if band_problem is not None:
                problems["age_band"] = band_problem
        if problems:
            if "age_band" not in problems:
                summary = _("Kies uw wijk.")
            elif "district_id" not in problems:
                summary = _("Kies uw leeftijdsgroep.")
            else:
                summary = _("Kies uw wijk en uw leeftijdsgroep.")
            raise ValidationFailed(summary, fields=problems)
        await session.execute(
            _insert_voter(
                session,
                {
                    "round_id": round_id,
                    "voter_key": voter_key,
                    "method": VoterMethod.ACCOUNT.value,
                    "district_id": district_id,
                    "age_band": age_band if round_.min_age is not None else None,
                    "verified": True,
                },
            )
        )
        voter = (
            await session.execute(query.execution_options(populate_existing=True))
        ).scalar_one()
    elif age_band is not None and round_.min_age is not None and age_band != voter.age_band:
        raise ValidationFailed(
            _("Uw leeftijdsgroep is al gekozen en kan in deze ronde niet meer veranderen."),
            fields={"age_band": _("U stemt met de leeftijdsgroep die u eerder koos.")},
        )
    elif district_id is not None and district_id != voter.district_id:
        # The district is chosen once: another one later is refused, not silently ignored.
        raise ValidationFailed(
            _("Uw wijk is al gekozen en kan in deze ronde niet meer veranderen."),
            fields={"district_id": _("U stemt in de wijk die u eerder koos.")},
        )
    return _orm_context(voter, round_)


def _account_age_band_problem(age_band: str | None, min_age: int) -> str | None:
    """Why an account voter's declared age band cannot vote in a round with ``min_age``."""
    if age_band is None or age_band not in AGE_BANDS:
        return _("Kies uw leeftijdsgroep.")
    oldest = _band_oldest(age_band)
    if oldest is not None and oldest < min_age:
        return _(
            "In deze ronde mag u stemmen vanaf %(age)s jaar; in uw leeftijdsgroep is niemand zo oud.",
            age=min_age,
        )
    return None


async def account_voter_exists(
    session: AsyncSession, settings: Settings, *, user_id: int, round_id: int
) -> bool:
    voter_key = codes_mod.voter_key_for_account(settings, round_id, user_id)
    found = (
        await session.execute(
            select(Voter.id).where(Voter.round_id == round_id, Voter.voter_key == voter_key)
        )
    ).scalar_one_or_none()
    return found is not None


# --- the booth ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoothProject:
    id: int
    title: str
    summary: str
    cost_cents: int
    theme_id: int | None
    theme: str | None
    district_id: int | None
    district: str | None


@dataclass(frozen=True, slots=True)
class Booth:
    round_id: int
    round_title: str
    election_key: int | None
    district_name: str | None
    ballot_type: str
    budget_cents: int
    min_projects: int
    max_projects: int | None
    min_budget_share_permille: int
    approval_max_k: int | None
    cumulative_points: int | None
    blank_allowed: bool
    theme_caps: dict[int, int]
    projects: list[BoothProject]
    current: dict[str, Any] | None
    receipt: str | None
    draft: dict[str, Any] | None
    closes_at: datetime | None


async def booth(session: AsyncSession, ctx: VoterContext) -> Booth:
    """What the voter sees: the projects they may choose, the rules, their current ballot."""
    ids = sorted(ctx.rules.projects)
    details: dict[int, Proposal] = {}
    if ids:
        rows = (await session.execute(select(Proposal).where(Proposal.id.in_(ids)))).scalars()
        details = {p.id: p for p in rows}
    themes = {
        t.id: t.name
        for t in (
            await session.execute(select(Theme).where(Theme.round_id == ctx.round.id))
        ).scalars()
    }
    districts = {d["id"]: d["name"] for d in ctx.definition["districts"]}
    projects = [
        BoothProject(
            id=pid,
            title=str(ctx.rules.projects[pid]["title"]),
            summary=details[pid].summary if pid in details else "",
            cost_cents=int(ctx.rules.projects[pid]["cost_cents"]),
            theme_id=ctx.rules.projects[pid].get("theme_id"),
            theme=themes.get(ctx.rules.projects[pid].get("theme_id") or 0),
            district_id=ctx.rules.projects[pid].get("district_id"),
            district=districts.get(ctx.rules.projects[pid].get("district_id") or 0),
        )
        for pid in ids
    ]
    current: dict[str, Any] | None = None
    receipt: str | None = None
    if ctx.voter.current_ballot_id is not None:
        ballot = await session.get(Ballot, ctx.voter.current_ballot_id)
        if ballot is not None:
            current = json.loads(ballot.content)
            receipt = ballot.receipt
    draft = json.loads(ctx.voter.draft) if ctx.voter.draft else None
    return Booth(
        round_id=ctx.round.id,
        round_title=ctx.round.title,
        election_key=ctx.election_key,
        district_name=districts.get(ctx.voter.district_id or 0),
        ballot_type=ctx.rules.ballot_type,
        budget_cents=ctx.rules.budget_cents,
        min_projects=ctx.rules.min_projects,
        max_projects=ctx.rules.max_projects,
        min_budget_share_permille=ctx.rules.min_budget_share_permille,
        approval_max_k=ctx.rules.approval_max_k,
        cumulative_points=ctx.rules.cumulative_points,
        blank_allowed=ctx.rules.blank_allowed,
        theme_caps=dict(ctx.rules.theme_caps),
        projects=projects,
        current=current,
        receipt=receipt,
        draft=draft,
        closes_at=ctx.round.closes_at,
    )


def check_ballot(ctx: VoterContext, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content of ``raw`` under the voter's rules, or ``ValidationFailed`` (422)
    naming the rule broken, with the field pointer as the field name."""
    try:
        return rules_mod.normalise(ctx.rules, raw)
    except rules_mod.BallotProblem as problem:
        message = ballot_problem_message(problem)
        raise ValidationFailed(message, fields={problem.pointer: message}) from problem


async def save_draft(session: AsyncSession, ctx: VoterContext, raw: Mapping[str, Any]) -> None:
    """Keep the booth's unconfirmed choices server-side (never counted, never logged)."""
    _require_voting(ctx.round)
    text = canonical_json(dict(raw)).decode("utf-8")
    if len(text) > 20_000:
        raise ValidationFailed(_("Te veel keuzes."))
    await session.execute(
        update(Voter)
        .where(Voter.id == ctx.voter.id)
        .values(draft=text)
        .execution_options(synchronize_session=False)
    )
    ctx.voter.draft = text


@dataclass(frozen=True, slots=True)
class CastResult:
    receipt: str
    ballot: dict[str, Any]
    superseded: str | None
    replayed: bool = False


def _idempotency_hash(settings: Settings, voter_key: str, key: str) -> str:
    hkey = derive_key(settings, "ballot-idempotency").encode()
    return hmac.new(hkey, f"{voter_key}:{key}".encode(), hashlib.sha256).hexdigest()


def _today() -> Any:
    return utcnow().astimezone(TIMEZONE).date()


# Built once (see _voter_context_query): plain table statements, no unit of work.
_BALLOTS: Table = Ballot.__table__  # type: ignore[assignment]
_VOTERS: Table = Voter.__table__  # type: ignore[assignment]
_INSERT_BALLOT = insert(_BALLOTS).returning(_BALLOTS.c.id)
_INSERT_BALLOTS = insert(_BALLOTS).returning(_BALLOTS.c.id, sort_by_parameter_order=True)
_SET_CURRENT_BALLOT = (
    update(_VOTERS)
    .where(_VOTERS.c.id == bindparam("voter"))
    .values(current_ballot_id=bindparam("ballot"), draft=None)
)


def _any_of(column: Any, name: str, *, postgresql: bool) -> Any:
    """``column IN (:name…)``: on PostgreSQL ``= ANY(:name)`` with one array parameter, so the SQL
    is the same whatever the batch size and asyncpg prepares it once per connection (an expanded
    IN list is new SQL for every size, and every new SQL is a prepare round trip and a plan)."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


@dataclass(frozen=True, slots=True)
class _WriterStatements:
    """The cast writer's reads, built once per dialect family (PostgreSQL, other)."""

    postgresql: bool
    read_voters: Select[Any]
    lock_voters: Select[Any]
    revoked_codes: Select[Any]
    ended_sessions: Select[Any]
    receipts: Select[Any]


def _writer_statements(*, postgresql: bool) -> _WriterStatements:
    read_voters = (
        select(_VOTERS.c.id, _VOTERS.c.code_id, _VOTERS.c.district_id, _VOTERS.c.current_ballot_id)
        .where(_any_of(_VOTERS.c.id, "ids", postgresql=postgresql))
        .where(_VOTERS.c.round_id == bindparam("round_id"))
        .order_by(_VOTERS.c.id)
    )
    return _WriterStatements(
        postgresql=postgresql,
        read_voters=read_voters,
        # In id order: two writers never wait on each other in a circle.
        lock_voters=read_voters.with_for_update(),
        revoked_codes=select(_VOTERS.c.id).where(
            _any_of(_VOTERS.c.id, "ids", postgresql=postgresql), _code_revoked(_VOTERS.c.code_id)
        ),
        ended_sessions=select(RevokedToken.jti).where(
            _any_of(RevokedToken.jti, "jtis", postgresql=postgresql)
        ),
        receipts=select(_BALLOTS.c.id, _BALLOTS.c.receipt).where(
            _any_of(_BALLOTS.c.id, "ids", postgresql=postgresql)
        ),
    )


_WRITER = {True: _writer_statements(postgresql=True), False: _writer_statements(postgresql=False)}
_INSERT_BALLOT_ROWS = insert(_BALLOTS)
_SET_CURRENT_BY_UID = (
    update(_VOTERS)
    .where(
        _VOTERS.c.id == _BALLOTS.c.voter_id,
        _BALLOTS.c.ballot_uid == any_(bindparam("uids", type_=ARRAY(_BALLOTS.c.ballot_uid.type))),
    )
    .values(current_ballot_id=_BALLOTS.c.id, draft=None)
)


@dataclass(frozen=True, slots=True)
class PreparedCast:
    """A checked ballot waiting to be written: everything but its place in the log."""

    round_id: int
    voter_id: int
    election_key: int | None
    content: dict[str, Any]
    channel: Channel
    idempotency_hash: str | None
    # A voter session's cast: the writer checks the session was not ended and the voter still
    # has the session's district (a cast checked without reading the database relies on it).
    session_jti: str | None = None
    session_district_id: int | None = None


async def replay_earlier(
    session: AsyncSession, idem: str, content: Mapping[str, Any]
) -> CastResult | None:
    """The answer first given to the cast with this idempotency hash, if it was written.

    A retry must carry the same ballot (``content``, checked): a key reused for another ballot is
    refused rather than answered with the first ballot's receipt, which would tell the client its
    new choice was stored (the IETF Idempotency-Key draft answers such reuse with 422)."""
    earlier = (
        await session.execute(select(Ballot).where(Ballot.idempotency_hash == idem))
    ).scalar_one_or_none()
    if earlier is None:
        return None
    if json.loads(earlier.content) != content:
        raise ValidationFailed(
            _(
                "Deze Idempotency-Key is al gebruikt voor een andere stem. Gebruik een nieuwe "
                "sleutel voor een nieuwe stem."
            ),
            fields={"Idempotency-Key": _("Al gebruikt voor een andere stem.")},
        )
    previous = await session.get(Ballot, earlier.supersedes_id) if earlier.supersedes_id else None
    return CastResult(
        receipt=earlier.receipt,
        ballot=json.loads(earlier.content),
        superseded=previous.receipt if previous is not None else None,
        replayed=True,
    )


async def prepare_cast(
    session: AsyncSession,
    settings: Settings,
    ctx: VoterContext,
    raw: Mapping[str, Any],
    *,
    channel: Channel = Channel.ONLINE,
    idempotency_key: str | None = None,
) -> PreparedCast | CastResult:
    """Check a ballot for ``ctx``'s voter: the prepared cast, or the first answer again when an
    ``idempotency_key`` was used before (a retry). Raises the refusal; writes nothing."""
    _require_voting(ctx.round)
    voter_id, voter_key = ctx.voter.id, ctx.voter.voter_key
    if voter_id is None or voter_key is None:
        raise ValueError("a cast needs a stored voter")  # the paper booth's voter is transient
    idem: str | None = None
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
            raise ValidationFailed(
                _("De Idempotency-Key is ongeldig (1 tot 200 leesbare tekens)."),
                fields={"Idempotency-Key": _("Ongeldige sleutel.")},
            )
        idem = _idempotency_hash(settings, voter_key, key)
    content = check_ballot(ctx, raw)
    if idem is not None:
        earlier = await replay_earlier(session, idem, content)
        if earlier is not None:
            return earlier
    return PreparedCast(ctx.round.id, voter_id, ctx.election_key, content, channel, idem)


def prepare_session_cast(
    token: voter_tokens.VoterToken, round_id: int, raw: Mapping[str, Any]
) -> PreparedCast | None:
    """Check a voter session's ballot without reading the database, or None when this worker
    does not hold the round's frozen definition yet (the caller then reads the context).

    The session names the round's fingerprint, the voter and the district; the definition comes
    from this worker's cache (``_FROZEN``). Everything else a context read would check is checked
    by the writer, after locking the voter (``append_casts``): the voter belongs to the round and
    the district, the session was not ended, the code was not revoked, and the log is open (so
    voting is). A ballot that breaks a rule is refused here, before any of those."""
    if token.round_id != round_id:
        raise NotAuthenticated(
            _("Uw stemsessie hoort bij een andere ronde. Log opnieuw in met uw stemcode.")
        )
    frozen = _FROZEN.get((round_id, token.fingerprint)) if token.fingerprint else None
    if frozen is None:
        return None
    voter = BoothVoter(token.voter_id, None, None, token.district_id, None, None)
    ctx = _context(voter, BoothRound(round_id, "", Phase.VOTING.value, None), *frozen)
    return PreparedCast(
        round_id,
        token.voter_id,
        ctx.election_key,
        check_ballot(ctx, raw),
        Channel.ONLINE,
        None,
        session_jti=token.jti,
        session_district_id=token.district_id,
    )


async def append_casts(
    session: AsyncSession, round_id: int, casts: Sequence[PreparedCast], *, lock_voters: bool
) -> list[CastResult | DomainError]:
    """Write prepared casts of one round (distinct voters) in the caller's transaction: one
    ballot and one log event each, the voter's current ballot moved, the log head moved once.

    Each answer is the cast's result or the refusal for that cast (its voter's code was revoked
    meanwhile); a refusal for all (the log closed) is raised and nothing is written. With
    ``lock_voters`` the voters' rows are locked here (in id order: two writers never wait on each
    other in a circle); without it the caller holds them. The log head is locked last and held to
    the commit: this is the one place every cast of the round waits on, so it does the least work
    per cast (plain table statements, each a single statement for all casts)."""
    if len({c.voter_id for c in casts}) != len(casts):
        raise ValueError("one cast per voter per batch")
    conn = await session.connection()
    statements = _WRITER[conn.dialect.name == "postgresql"]
    ids = sorted(c.voter_id for c in casts)
    query = statements.lock_voters if lock_voters else statements.read_voters
    voters = {row.id: row for row in await conn.execute(query, {"round_id": round_id, "ids": ids})}
    # Asked after the voters' locks, in statements of their own (see voter_context).
    revoked: set[int] = set()
    if any(v.code_id is not None for v in voters.values()):
        revoked = set((await conn.execute(statements.revoked_codes, {"ids": ids})).scalars())
    jtis = [c.session_jti for c in casts if c.session_jti is not None]
    ended: set[str] = set()
    if jtis:
        ended = set((await conn.execute(statements.ended_sessions, {"jtis": jtis})).scalars())
    current_ids = [v.current_ballot_id for v in voters.values() if v.current_ballot_id]
    receipts: dict[int, str] = {}
    if current_ids:
        receipts = {
            row.id: row.receipt
            for row in await conn.execute(statements.receipts, {"ids": current_ids})
        }
    day = _today()
    answers: list[CastResult | DomainError] = []
    entries: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for prepared in casts:
        voter = voters.get(prepared.voter_id)
        if voter is None or (
            prepared.session_jti is not None and voter.district_id != prepared.session_district_id
        ):
            answers.append(
                NotAuthenticated(
                    _("Uw stemsessie is niet meer geldig. Log opnieuw in met uw stemcode.")
                )
            )
            continue
        if prepared.session_jti in ended:
            answers.append(
                NotAuthenticated(_("Uw stemsessie is beëindigd. Vul uw stemcode opnieuw in."))
            )
            continue
        if voter.id in revoked:
            answers.append(
                NotAuthenticated(
                    _("Deze stemcode is ingetrokken. Neem contact op met de gemeente.")
                )
            )
            continue
        previous_id = voter.current_ballot_id
        superseded = receipts.get(previous_id) if previous_id is not None else None
        ballot_uid = secrets.token_hex(16)
        payload = {
            "ballot_id": ballot_uid,
            "election": prepared.election_key,
            "ballot": prepared.content,
            "supersedes": superseded,
            "day": day.isoformat(),
        }
        ballot_row = {
            "round_id": round_id,
            "voter_id": voter.id,
            "election_district_id": prepared.election_key,
            "ballot_uid": ballot_uid,
            "content": canonical_json(prepared.content).decode("utf-8"),
            "blank": "blank" in prepared.content,
            "channel": prepared.channel.value,
            "cast_on": day,
            "supersedes_id": previous_id,
            "idempotency_hash": prepared.idempotency_hash,
        }
        entries.append((payload, ballot_row))
        answers.append(CastResult(receipt="", ballot=prepared.content, superseded=superseded))
    if not entries:
        return answers
    # The log head last, held to the commit: everything above is done before taking it.
    head, ends_at = await log_mod.lock_head_for_casts(session, round_id)
    if head is None:
        raise Conflict(_("Het stemmen in deze ronde is nog niet begonnen."))
    # Voting ends at its scheduled time, not when the scheduler next moves the phase (its tick
    # comes up to a minute later): from then on nothing is added, whatever the phase still says.
    if head.closed_at is not None or (ends_at is not None and ends_at <= utcnow()):
        raise log_mod.closed_error()
    appended = await log_mod.append_many(
        session, head, [(EventKind.BALLOT, payload) for payload, _row in entries]
    )
    rows = []
    for (_payload, row), event in zip(entries, appended, strict=True):
        row["event_height"] = event.height
        row["receipt"] = receipt_from_hash(event.hash)
        rows.append(row)
    if statements.postgresql:
        # No RETURNING: a multi-row INSERT … RETURNING is new SQL for every batch size (a prepare
        # per size and connection); the plain INSERT is one statement for all sizes, and the
        # voters find their new ballots by the ballots' unique ids.
        await conn.execute(_INSERT_BALLOT_ROWS, rows)
        await conn.execute(_SET_CURRENT_BY_UID, {"uids": [row["ballot_uid"] for row in rows]})
    else:
        ballot_ids = (
            (await conn.execute(_INSERT_BALLOTS, rows)).scalars().all()
            if len(rows) > 1
            else [(await conn.execute(_INSERT_BALLOT, rows[0])).scalar_one()]
        )
        await conn.execute(
            _SET_CURRENT_BALLOT,
            [
                {"voter": row["voter_id"], "ballot": bid}
                for row, bid in zip(rows, ballot_ids, strict=True)
            ],
        )
    receipts_written = iter(rows)
    for i, answer in enumerate(answers):
        if isinstance(answer, CastResult):
            answers[i] = replace(answer, receipt=next(receipts_written)["receipt"])
    return answers


async def cast(
    session: AsyncSession,
    settings: Settings,
    ctx: VoterContext,
    raw: Mapping[str, Any],
    *,
    channel: Channel = Channel.ONLINE,
    idempotency_key: str | None = None,
) -> CastResult:
    """Cast (or replace) the voter's ballot; ``ctx`` must come from a locking context call.

    Everything in one transaction; a refusal stores nothing. With an ``idempotency_key`` a retry
    of the same request returns the first answer instead of casting again."""
    prepared = await prepare_cast(
        session, settings, ctx, raw, channel=channel, idempotency_key=idempotency_key
    )
    if isinstance(prepared, CastResult):
        return prepared
    (answer,) = await append_casts(session, ctx.round.id, [prepared], lock_voters=False)
    if isinstance(answer, DomainError):
        raise answer
    return answer


def _require_paper_codes(round_: Round) -> None:
    """A paper ballot is entered against its voting code, so a round set to accounts only
    (``vote_by_code`` off, frozen from voting on) takes none: codes issued before the switch open
    no booth online (``redeem_code``) and must not count on paper either."""
    if not round_.vote_by_code:
        raise Conflict(
            _(
                "In deze ronde wordt niet met stemcodes gestemd: "
                "een papieren stem op een stemcode kan niet worden ingevoerd."
            )
        )


async def enter_paper_ballot(
    session: AsyncSession,
    settings: Settings,
    round_id: int,
    *,
    code: str,
    ballot: Mapping[str, Any],
    actor_id: int,
) -> CastResult:
    """Enter a paper (or assisted) ballot against the code printed on it: the same checks, the
    same log, the same one-current-ballot rule as online (the later ballot supersedes)."""
    round_ = await _round(session, round_id)
    _require_voting(round_)
    _require_paper_codes(round_)
    found = await _code_row(session, settings, code, round_id=round_id)
    if found is None or found[0].revoked_at is not None or found[1].revoked_at is not None:
        raise ValidationFailed(
            _("Deze stemcode is niet geldig voor deze ronde (onbekend of ingetrokken)."),
            fields={"code": _("Ongeldige stemcode.")},
        )
    voter = await _voter_for_code(session, settings, found[0], found[1])
    locked = (
        await session.execute(
            select(Voter)
            .where(Voter.id == voter.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    ctx = _orm_context(locked, round_)
    result = await cast(session, settings, ctx, ballot, channel=Channel.PAPER)
    # Who entered paper ballots is accountable; what was on them is not in the audit log.
    await record(
        session,
        actor_id=actor_id,
        action="voting.paper_ballot",
        subject_type="round",
        subject_id=round_id,
        details={},
    )
    return result


async def paper_booth(
    session: AsyncSession, settings: Settings, round_id: int, *, code: str
) -> Booth:
    """The ballot form for the code printed on a paper ballot: the projects and rules of the
    code's election, never the code's current ballot (staff entering a paper ballot must not learn
    how its voter voted online). Stores nothing: the voter row is made only when the ballot is
    entered (``enter_paper_ballot``)."""
    round_ = await _round(session, round_id)
    _require_voting(round_)
    _require_paper_codes(round_)
    found = await _code_row(session, settings, code, round_id=round_id)
    if found is None or found[0].revoked_at is not None or found[1].revoked_at is not None:
        raise ValidationFailed(
            _("Deze stemcode is niet geldig voor deze ronde (onbekend of ingetrokken)."),
            fields={"code": _("Ongeldige stemcode.")},
        )
    # A transient voter (never added to the session) with only what the rules depend on.
    voter = BoothVoter(None, None, None, found[0].district_id, None, None)
    return await booth(session, _context(voter, BoothRound.of(round_), definition_of(round_)))


# --- public checks ---------------------------------------------------------------------------------


async def receipt_status(session: AsyncSession, round_id: int, receipt: str) -> ReceiptStatus:
    """``counted`` (the voter's current ballot), ``superseded`` (a later ballot of the same voter
    counts), ``voided`` or ``unknown``. Nothing else about the ballot.

    ``voided``: an admin revoked the voter's code and voided its current ballot
    (``revoke_code`` with ``void_ballot``: a ``void`` event in the log, no current ballot left).
    Then no ballot of that voter counts, so an earlier receipt of the same voter, superseded
    before the void, is ``voided`` too: "superseded" would tell the voter that a later ballot
    counts."""
    normalised = normalise_receipt(receipt)
    if normalised is None:
        return "unknown"
    round_ = await _round(session, round_id)
    if round_.frozen_at is None:
        return "unknown"
    ballot = (
        await session.execute(
            select(Ballot.id, Ballot.voter_id).where(
                Ballot.round_id == round_id, Ballot.receipt == normalised
            )
        )
    ).first()
    if ballot is None:
        return "unknown"
    ballot_id, voter_id = ballot
    current = (
        await session.execute(select(Voter.current_ballot_id).where(Voter.id == voter_id))
    ).scalar_one()
    if current == ballot_id:
        return "counted"
    if current is None:
        return "voided"  # the voter's current ballot was voided: none of theirs counts
    later = (
        await session.execute(select(Ballot.id).where(Ballot.supersedes_id == ballot_id))
    ).scalar_one_or_none()
    return "superseded" if later is not None else "voided"


async def log_head(session: AsyncSession, round_id: int) -> BallotLog:
    """The published head of the round's ballot log (404 before voting opened)."""
    await _round(session, round_id)
    head = await session.get(BallotLog, round_id)
    if head is None:
        raise NotFound(
            _("Het stemlogboek van deze ronde bestaat nog niet: het stemmen is niet begonnen.")
        )
    return head


async def current_ballots(
    session: AsyncSession, round_id: int
) -> list[tuple[int | None, str, str]]:
    """Every current ballot of the round: (election key, ballot uid, canonical content), ordered
    by ballot uid (random, so the order says nothing about who or when)."""
    # In chunks, as plain tuples (``db.fetch_tuples``: 100,000 rows held as ``Row`` objects made
    # the garbage collector stall the event loop).
    return await fetch_tuples(
        session,
        select(Ballot.election_district_id, Ballot.ballot_uid, Ballot.content)
        .join(Voter, Voter.current_ballot_id == Ballot.id)
        .where(Ballot.round_id == round_id)
        .order_by(Ballot.ballot_uid),
    )


__all__ = [
    "Booth",
    "CastResult",
    "IssuedBatch",
    "VoterContext",
    "account_voter_context",
    "booth",
    "cast",
    "current_ballots",
    "enter_paper_ballot",
    "issue_codes",
    "list_batches",
    "log_head",
    "paper_booth",
    "receipt_status",
    "redeem_code",
    "revoke_batch",
    "revoke_code",
    "voter_context",
]
