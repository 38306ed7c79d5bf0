"""The voter context of a booth request: the voter, the round and the election rules that apply
to them, read in one statement on the hot path of every cast.

Frozen definitions are parsed once per worker and kept by (round id, fingerprint) (``_FROZEN``):
a voter session's cast can then be checked without reading the database (``cached_context``),
and its writer checks the rest after locking the voter (``voting.casting.append_casts``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import RevokedToken
from burgerbegroting.db import MAX_ID
from burgerbegroting.errors import Conflict, NotAuthenticated
from burgerbegroting.i18n import _
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.voting import ballots as rules_mod
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.models import Ballot, CodeBatch, Voter, VotingCode
from burgerbegroting.voting.round_access import BoothRound, definition_of, round_not_found


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


def code_revoked(code_id: Any) -> Any:
    """SQL: the voting code ``code_id`` (a column or parameter) or its batch is revoked. The one
    definition of a revoked code for the booth, the cast writer and the lock re-check."""
    return exists().where(
        VotingCode.id == code_id,
        CodeBatch.id == VotingCode.batch_id,
        or_(VotingCode.revoked_at.is_not(None), CodeBatch.revoked_at.is_not(None)),
    )


_CODE_REVOKED = select(code_revoked(bindparam("code_id")))


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


def build_context(
    voter: BoothVoter,
    round_: BoothRound,
    definition: Mapping[str, Any],
    rules_cache: dict[int | None, rules_mod.ElectionRules] | None = None,
    *,
    current_receipt: str | None = None,
) -> VoterContext:
    """The context of ``voter`` in ``round_`` under ``definition``: the rules of the voter's
    election (from ``rules_cache`` when it has them); a voter whose district does not take part is
    refused."""
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


def orm_context(voter: Voter, round_: Round) -> VoterContext:
    """The context of a voter and round read with the ORM (accounts, paper ballots)."""
    return build_context(BoothVoter.of(voter), BoothRound.of(round_), definition_of(round_))


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
            code_revoked(Voter.code_id).label("code_revoked"),
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
        raise round_not_found()
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
        raise round_not_found()
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
    return build_context(
        voter,
        BoothRound(round_id, row.title, row.phase, closes_at),
        *frozen,
        current_receipt=row.current_receipt,
    )


def cached_context(token: voter_tokens.VoterToken) -> VoterContext | None:
    """The context of a voter session's cast from what the session names (its round's
    fingerprint, the voter, the district) and this worker's cache, without reading the database;
    None when the cache does not hold the round's frozen definition yet."""
    frozen = _FROZEN.get((token.round_id, token.fingerprint)) if token.fingerprint else None
    if frozen is None:
        return None
    voter = BoothVoter(token.voter_id, None, None, token.district_id, None, None)
    return build_context(voter, BoothRound(token.round_id, "", Phase.VOTING.value, None), *frozen)
