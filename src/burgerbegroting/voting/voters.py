"""Becoming a voter: a voting code redeemed for a voter session, or a logged-in resident's voter
row in a round that allows voting with an account.

One voter per code and per account per round is the database's rule (UNIQUE on the voter key):
the voter row is inserted with ON CONFLICT DO NOTHING and read back, so simultaneous first uses
of one code end up as the same voter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import ratelimit
from burgerbegroting.db import utcnow
from burgerbegroting.errors import Conflict, NotAuthenticated, ValidationFailed
from burgerbegroting.i18n import _
from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.context import VoterContext, orm_context
from burgerbegroting.voting.models import AGE_BANDS, CodeBatch, Voter, VoterMethod, VotingCode
from burgerbegroting.voting.roll import band_oldest, find_code
from burgerbegroting.voting.round_access import definition_of, load_round, require_voting

GLOBAL_CODE_ATTEMPTS_FACTOR = 1_000
"""The global limit on code redemptions per window is this many times the per-address limit: high
enough for a whole city's evening peak, low enough that a botnet cannot try codes at full speed."""


def _bad_code() -> NotAuthenticated:
    # One answer for a mistyped, unknown, revoked or other round's code: nothing to learn from it.
    return NotAuthenticated(
        _("Deze stemcode is niet geldig. Controleer de code op uw brief en probeer het opnieuw.")
    )


def _insert_voter(session: AsyncSession, values: dict[str, Any]) -> Any:
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(Voter).values(**values)
    return statement.on_conflict_do_nothing(index_elements=["round_id", "voter_key"])


async def voter_for_code(
    session: AsyncSession, settings: Settings, code_row: VotingCode, batch: CodeBatch
) -> Voter:
    """The voter of a code, made on its first use (a redemption or a paper ballot)."""
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
    found = await find_code(session, settings, code)
    if found is None:
        raise _bad_code()
    code_row, batch = found
    if code_row.revoked_at is not None or batch.revoked_at is not None:
        raise _bad_code()
    round_ = await load_round(session, code_row.round_id)
    require_voting(round_)
    if not round_.vote_by_code:
        # Codes issued before the round was set to accounts only (it is frozen from here on).
        raise Conflict(
            _("In deze ronde stemt u met uw account, niet met een stemcode. Log in om te stemmen.")
        )
    voter = await voter_for_code(session, settings, code_row, batch)
    for key, _limit in limits:
        await ratelimit.refund(session, key, window, now=now)
    return voter_tokens.issue(
        settings,
        voter_id=voter.id,
        round_id=round_.id,
        district_id=voter.district_id,
        fingerprint=round_.fingerprint,
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
    round_ = await load_round(session, round_id)
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
        require_voting(round_)
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
    return orm_context(voter, round_)


def _account_age_band_problem(age_band: str | None, min_age: int) -> str | None:
    """Why an account voter's declared age band cannot vote in a round with ``min_age``."""
    if age_band is None or age_band not in AGE_BANDS:
        return _("Kies uw leeftijdsgroep.")
    oldest = band_oldest(age_band)
    if oldest is not None and oldest < min_age:
        return _(
            "In deze ronde mag u stemmen vanaf %(age)s jaar; in uw leeftijdsgroep is niemand zo oud.",
            age=min_age,
        )
    return None
