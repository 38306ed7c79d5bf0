"""Casting: checking a ballot and writing it, one at a time (``cast``) or a batch of one round's
casts in one transaction (``append_casts``, which ``voting.batching`` feeds).

Plain async functions over an ``AsyncSession``; domain errors with Dutch messages; no Litestar.

**Casting** is one transaction (``cast``): lock the voter row, check the ballot against every rule
of the round (``voting.ballots``), lock the round's log head, append the ``ballot`` event, store
the ballot and make it the voter's current one. The voter-row lock makes casts of one voter
strictly ordered, so each cast names exactly the ballot it supersedes; the log-head lock makes
the log a single chain and makes the close and a late cast mutually exclusive.

**Last ballot counts**: a later cast supersedes the earlier one, whatever the channel (online or
paper, entered by staff against the code printed on it: ``voting.paper``). The earlier ballot
stays stored and in the log; its receipt then reads "superseded". A voter who votes online and
also hands in a paper ballot is counted once, with whichever reached us last; the booth says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, Table, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import RevokedToken
from burgerbegroting.accounts.tokens import derive_key
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, DomainError, NotAuthenticated, ValidationFailed
from burgerbegroting.i18n import TIMEZONE, _
from burgerbegroting.settings import Settings
from burgerbegroting.voting import log as log_mod
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.booths import check_ballot
from burgerbegroting.voting.canonical import canonical_json, receipt_from_hash
from burgerbegroting.voting.context import VoterContext, cached_context, code_revoked
from burgerbegroting.voting.models import Ballot, Channel, EventKind, Voter
from burgerbegroting.voting.round_access import require_voting

IDEMPOTENCY_KEY_MAX_LENGTH = 200


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
            _any_of(_VOTERS.c.id, "ids", postgresql=postgresql), code_revoked(_VOTERS.c.code_id)
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
    require_voting(ctx.round)
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
    from this worker's cache (``context.cached_context``). Everything else a context read would check is checked
    by the writer, after locking the voter (``append_casts``): the voter belongs to the round and
    the district, the session was not ended, the code was not revoked, and the log is open (so
    voting is). A ballot that breaks a rule is refused here, before any of those."""
    if token.round_id != round_id:
        raise NotAuthenticated(
            _("Uw stemsessie hoort bij een andere ronde. Log opnieuw in met uw stemcode.")
        )
    ctx = cached_context(token)
    if ctx is None:
        return None
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
