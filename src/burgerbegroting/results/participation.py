"""Participation: current ballots per district of the voter against the voting codes issued
there, per channel (online, paper) and per age band (where the code batches carried one).

Counts under :data:`SMALL_COUNT` are reported as ``"<10"`` everywhere (page, API, report), so a
district or age band with a handful of voters does not point at individuals; the turnout
percentage of such a cell is left out as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.results.texts import CHANNEL_LABELS
from burgerbegroting.voting.models import Ballot, CodeBatch, Voter, VotingCode

SMALL_COUNT = 10
SMALL_LABEL = "<10"

Count = int | str
"""A participation count: the number, or ``"<10"`` below :data:`SMALL_COUNT`."""


def small(n: int) -> Count:
    """``n``, or ``"<10"`` when it is under :data:`SMALL_COUNT` (zero included)."""
    return SMALL_LABEL if n < SMALL_COUNT else n


def percent(numerator: int, denominator: int, places: int = 1) -> str | None:
    """``numerator / denominator`` as a percentage rounded half up for display ("12.5"), or None
    when the denominator is zero. Exact until the final rounding."""
    if denominator <= 0:
        return None
    scaled = Fraction(numerator * 100 * 10**places, denominator) + Fraction(1, 2)
    whole, frac = divmod(int(scaled), 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


def rounded_cents(value: Fraction) -> int:
    """An exact amount of cents rounded half up to whole cents, for display only."""
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


@dataclass(frozen=True, slots=True)
class ParticipationRow:
    label: str
    codes: int | None  # codes issued (None where it does not apply)
    ballots: Count
    turnout_percent: str | None


@dataclass(frozen=True, slots=True)
class Participation:
    total: Count
    codes: int
    turnout_percent: str | None
    districts: tuple[ParticipationRow, ...]
    channels: tuple[ParticipationRow, ...]
    age_bands: tuple[ParticipationRow, ...]


async def participation(
    session: AsyncSession, round_id: int, definition: Mapping[str, Any]
) -> Participation:
    """Current ballots (blank included) per district of the voter against the codes issued there
    (codes of revoked batches and revoked codes left out), per channel and per age band."""
    names = {int(d["id"]): str(d["name"]) for d in definition.get("districts", [])}
    codes_rows = (
        await session.execute(
            select(VotingCode.district_id, func.count(VotingCode.id))
            .join(CodeBatch, CodeBatch.id == VotingCode.batch_id)
            .where(
                VotingCode.round_id == round_id,
                VotingCode.revoked_at.is_(None),
                CodeBatch.revoked_at.is_(None),
            )
            .group_by(VotingCode.district_id)
        )
    ).all()
    codes = {key: int(n) for key, n in codes_rows}
    # Counted by the database, one row per (district, age band, channel): fetching a row per
    # ballot into Python took 0.35 s of the event loop on every view of a 100,000-ballot round.
    current = (
        select(Voter.district_id, Voter.age_band, Ballot.channel, func.count())
        .join(Ballot, Ballot.id == Voter.current_ballot_id)
        .where(Voter.round_id == round_id)
        .group_by(Voter.district_id, Voter.age_band, Ballot.channel)
    )
    rows = (await session.execute(current)).all()
    by_district: dict[int | None, int] = {}
    by_channel: dict[str, int] = {}
    by_age: dict[str, int] = {}
    total = 0
    for district_id, age_band, channel, counted in rows:
        n = int(counted)
        total += n
        by_district[district_id] = by_district.get(district_id, 0) + n
        by_channel[channel] = by_channel.get(channel, 0) + n
        if age_band is not None:
            by_age[age_band] = by_age.get(age_band, 0) + n

    def row(label: str, n: int, issued: int | None) -> ParticipationRow:
        turnout = percent(n, issued) if issued and n >= SMALL_COUNT else None
        return ParticipationRow(
            label=label, codes=issued, ballots=small(n), turnout_percent=turnout
        )

    keys: list[int | None] = [*names]
    if None in by_district or None in codes:
        keys.append(None)
    districts = tuple(
        row(
            names.get(key, "") if key is not None else N_("zonder wijk"),
            by_district.get(key, 0),
            codes.get(key, 0),
        )
        for key in keys
    )
    channels = tuple(
        row(CHANNEL_LABELS[channel], by_channel.get(channel, 0), None)
        for channel in ("online", "paper")
    )
    age_bands = tuple(row(band, n, None) for band, n in sorted(by_age.items()))
    issued_total = sum(codes.values())
    return Participation(
        total=small(total),
        codes=issued_total,
        turnout_percent=percent(total, issued_total) if total >= SMALL_COUNT else None,
        districts=districts,
        channels=channels,
        age_bands=age_bands,
    )
