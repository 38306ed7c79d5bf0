"""Counting a closed round and storing its outcome.

The count is ``voting.ballots.results_document``: a pure function of the frozen definition and
the current ballots. Before it runs, the round's definition as the database holds it now is
fingerprinted again and compared with the fingerprint frozen when voting opened: a definition
changed behind the application's back (the database triggers refuse it, but a superuser could
drop them) stops the count with a Conflict instead of producing a result nobody can trust.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.errors import Conflict
from burgerbegroting.i18n import _
from burgerbegroting.results.models import RoundResult
from burgerbegroting.rounds.definition import verify_fingerprint
from burgerbegroting.rounds.models import Round
from burgerbegroting.voting.ballots import BallotProblem, engine_version, results_document
from burgerbegroting.voting.canonical import canonical_json, sha256_hex
from burgerbegroting.voting.models import Ballot, BallotLog, Voter
from burgerbegroting.voting.tally.model import TallyError

logger = logging.getLogger(__name__)


async def current_contents(
    session: AsyncSession, round_id: int
) -> list[tuple[int | None, dict[str, Any]]]:
    """(election key, canonical content) of every current ballot, by ballot uid."""
    rows = (
        await session.execute(
            select(Ballot.election_district_id, Ballot.content)
            .join(Voter, Voter.current_ballot_id == Ballot.id)
            .where(Ballot.round_id == round_id)
            .order_by(Ballot.ballot_uid)
        )
    ).all()
    return [(key, json.loads(content)) for key, content in rows]


async def compute(session: AsyncSession, round_: Round) -> dict[str, Any]:
    """The results document of ``round_`` as the database holds it now (not stored)."""
    if round_.frozen_definition is None or round_.fingerprint is None:
        raise Conflict(_("Deze ronde is nooit bevroren; er valt niets te tellen."))
    if not await verify_fingerprint(session, round_):
        raise Conflict(
            _(
                "De vingerafdruk van de ronde klopt niet meer met de bevroren definitie: "
                "de telling is gestopt. Neem contact op met de controleur."
            )
        )
    head = await session.get(BallotLog, round_.id)
    if head is None:
        raise Conflict(_("Deze ronde heeft geen stemlogboek; er valt niets te tellen."))
    definition = json.loads(round_.frozen_definition)
    contents = await current_contents(session, round_.id)
    try:
        # In a worker thread: a city-wide round of 100,000 ballots counted with mes-add1 can take
        # seconds to minutes of CPU, and on the event loop it would stall every other request of
        # this worker for that long (pages, health checks, downloads). The count is a pure
        # function of the values read above; the transaction (and its locks) stays open around it.
        return await asyncio.to_thread(
            results_document,
            definition,
            round_.fingerprint,
            contents,
            log_head=head.head,
            log_height=head.height,
        )
    except (TallyError, BallotProblem) as exc:
        # The settings are checked when saved so the engine can count them; should it still
        # refuse, the close is refused (the caller's transaction rolls back: voting stays open,
        # the log unended) with a message for the admin instead of a server error, and the
        # scheduler logs it and moves on (it skips moves that raise Conflict).
        logger.error("round %s not counted: %s", round_.id, exc)
        raise Conflict(
            _(
                "De uitslag kan niet worden geteld, dus het stemmen is niet gesloten: de "
                "telmachine weigert deze ronde (%(problem)s). Neem contact op met de "
                "ontwikkelaars.",
                problem=str(exc),
            )
        ) from exc


async def count_and_store(session: AsyncSession, round_: Round, *, now: datetime) -> RoundResult:
    """Count the round and store the outcome once (a second count of a closed round is refused
    by the primary key)."""
    document = await compute(session, round_)
    encoded = canonical_json(document)
    result = RoundResult(
        round_id=round_.id,
        document=encoded.decode("utf-8"),
        digest=sha256_hex(encoded),
        engine_version=engine_version(),
        log_head=document["log_head"],
        log_height=document["log_height"],
        counted_at=now,
    )
    session.add(result)
    await session.flush()
    return result
