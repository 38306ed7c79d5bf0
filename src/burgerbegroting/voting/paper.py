"""Paper (and assisted) ballots, entered by staff against the voting code printed on them: the
ballot form for the code, and the ballot entered with the same checks, the same log and the same
one-current-ballot rule as online (``voting.casting``; the later ballot supersedes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.audit.service import record
from burgerbegroting.errors import Conflict, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.rounds.models import Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting import voters
from burgerbegroting.voting.booths import Booth, booth
from burgerbegroting.voting.casting import CastResult, cast
from burgerbegroting.voting.context import BoothVoter, build_context, orm_context
from burgerbegroting.voting.models import Channel, CodeBatch, Voter, VotingCode
from burgerbegroting.voting.roll import find_code
from burgerbegroting.voting.round_access import (
    BoothRound,
    definition_of,
    load_round,
    require_voting,
)


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


async def _paper_code(
    session: AsyncSession, settings: Settings, round_id: int, code: str
) -> tuple[Round, tuple[VotingCode, CodeBatch]]:
    """The round, open for voting and taking paper ballots on codes, and the live code printed on
    the ballot with its batch; a code that is unknown, of another round or revoked is refused."""
    round_ = await load_round(session, round_id)
    require_voting(round_)
    _require_paper_codes(round_)
    found = await find_code(session, settings, code, round_id=round_id)
    if found is None or found[0].revoked_at is not None or found[1].revoked_at is not None:
        raise ValidationFailed(
            _("Deze stemcode is niet geldig voor deze ronde (onbekend of ingetrokken)."),
            fields={"code": _("Ongeldige stemcode.")},
        )
    return round_, found


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
    round_, found = await _paper_code(session, settings, round_id, code)
    voter = await voters.voter_for_code(session, settings, found[0], found[1])
    locked = (
        await session.execute(
            select(Voter)
            .where(Voter.id == voter.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    ctx = orm_context(locked, round_)
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
    round_, found = await _paper_code(session, settings, round_id, code)
    # A transient voter (never added to the session) with only what the rules depend on.
    voter = BoothVoter(None, None, None, found[0].district_id, None, None)
    return await booth(session, build_context(voter, BoothRound.of(round_), definition_of(round_)))
