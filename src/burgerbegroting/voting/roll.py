"""The roll: issuing voting codes in batches, listing the batches, revoking a batch or one code
(optionally voiding its ballot), and finding the row of a typed code.

Only keyed hashes of the codes are stored (``voting.codes``); the plain codes exist only in what
``issue_codes`` returns. A change to the roll while voting is open is a ``roll`` event in the
ballot log, with the roll's new fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.audit.service import record
from burgerbegroting.db import MAX_ID, utcnow
from burgerbegroting.errors import Conflict, NotFound, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.rounds.models import District, Phase
from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import log as log_mod
from burgerbegroting.voting.models import (
    AGE_BANDS,
    Ballot,
    BallotLog,
    CodeBatch,
    EventKind,
    Voter,
    VotingCode,
)
from burgerbegroting.voting.round_access import load_round

MAX_CODES_PER_BATCH = 200_000
_INSERT_CHUNK = 5_000
_CODES: Table = VotingCode.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class IssuedBatch:
    batch_id: int
    round_id: int
    round_title: str
    district_id: int | None
    district_name: str | None
    age_band: str | None
    codes: list[str]


def band_oldest(band: str) -> int | None:
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
    round_ = await load_round(session, round_id)
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
        oldest = band_oldest(age_band)
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
    await load_round(session, round_id)
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
    round_ = await load_round(session, round_id)
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


async def find_code(
    session: AsyncSession, settings: Settings, text: str, *, round_id: int | None = None
) -> tuple[VotingCode, CodeBatch] | None:
    """The row of a typed code and its batch (in ``round_id`` when given), revoked or not; None
    for a code that is mistyped or unknown."""
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
    round_ = await load_round(session, round_id)
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        raise log_mod.closed_error()
    found = await find_code(session, settings, code, round_id=round_id)
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
