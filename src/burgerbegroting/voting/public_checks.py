"""What anyone may check of a round's voting: a receipt's status, the head of the ballot log, and
the current ballots (what the count and the audit export are computed from).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.db import fetch_tuples
from burgerbegroting.errors import NotFound
from burgerbegroting.i18n import _
from burgerbegroting.voting.canonical import normalise_receipt
from burgerbegroting.voting.models import Ballot, BallotLog, ReceiptStatus, Voter
from burgerbegroting.voting.round_access import load_round


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
    round_ = await load_round(session, round_id)
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
    await load_round(session, round_id)
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
