"""The audit export of a round: signed JSON, one pabulib file per election, and CSV.

**Who, when.** After voting closed: auditors and admins; anyone once the round is published with
``export_public`` set. During voting only an auditor, and only the JSON, which then holds the
definition, the projects and the ballot log so far (for ``burgerbegroting audit diff``), without
the current ballots and without an outcome. The log's ballot events do carry ballot contents, so
a running count *can* be computed from it: that is why no one but the auditor (whose job is to
watch the log grow) may download it before the close, and not even admins (live counts leaked
through open data in Decidim #12348). Before voting opens there is nothing to export (409).

**Determinism.** Nothing in a file depends on when it was made or by whom: parts in fixed order,
canonical JSON (sorted keys, no whitespace), ballots by ballot id, pabulib voters in an order
keyed on the round fingerprint, no timestamps but those of the log. Ed25519 signatures are
deterministic too, so two exports of the same state are byte-identical.

**Logged.** Every download is written to the staff action log in the request's transaction, which
commits before the file leaves (``web/transactions.py``); a failed commit is a 503 and no file.

The files' bytes are made in ``audit.exportfiles`` (CPU only, in a worker thread); the format
the verifier must compute alike (part digests, manifest bytes, the pabulib files) in
``audit.exportformat``, which the verifier an auditor runs imports too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import db
from burgerbegroting.accounts import ratelimit
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service as audit
from burgerbegroting.audit.exportfiles import (
    ExportFormat,
    LoadedRound,
    LogRow,
    canonical_from_database,
    render,
    signed_json_digest,
)
from burgerbegroting.audit.exportformat import election_label
from burgerbegroting.audit.signing import public_key_info
from burgerbegroting.errors import Conflict, DomainError, Forbidden, NotAuthenticated, NotFound
from burgerbegroting.i18n import _
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.proposals.service import Actor
from burgerbegroting.results.models import RoundResult
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting.models import BallotLog, LogEvent
from burgerbegroting.voting.public_checks import current_ballots

__all__ = [
    "ExportFile",
    "ExportFormat",
    "build_export",
    "export_digest",
    "json_export",
    "parse_format",
]


# Litestar adds "; charset=utf-8" to text/* media types itself.
MEDIA_TYPES: dict[ExportFormat, str] = {
    ExportFormat.PB: "text/plain",
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv",
}


@dataclass(frozen=True, slots=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str


def parse_format(raw: str | None) -> ExportFormat:
    """``json`` (the default), ``pb`` or ``csv``; anything else is a 400 with a Dutch message."""
    value = (raw or ExportFormat.JSON.value).strip().lower()
    try:
        return ExportFormat(value)
    except ValueError:
        raise DomainError(
            _("Onbekend formaat voor de audit-export: kies pb, json of csv."),
            fields={"format": _("Kies pb, json of csv.")},
        ) from None


def _authorise(round_: Round, user: Actor | None, fmt: ExportFormat) -> bool:
    """Check who may download what when (module docstring); True for a public download."""
    staff = user is not None and user.has(Role.ADMIN, Role.AUDITOR)
    public = round_.phase == Phase.PUBLISHED.value and round_.export_public
    if not staff and not public:
        if user is None:
            raise NotAuthenticated(
                _("Log in als controleur of beheerder om de audit-export te downloaden.")
            )
        raise Forbidden(_("Alleen controleurs en beheerders kunnen de audit-export downloaden."))
    if round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        return not staff
    if round_.phase == Phase.VOTING.value:
        if user is None or not user.has(Role.AUDITOR) or fmt is not ExportFormat.JSON:
            raise Conflict(
                _(
                    "Het stemmen loopt nog: alleen een controleur kan nu de JSON-export (het "
                    "stemlogboek zonder uitslag) downloaden. De andere formaten komen na de "
                    "sluiting."
                )
            )
        return False
    raise Conflict(
        _("Het stemmen in deze ronde is nog niet begonnen: er is nog niets te exporteren.")
    )


async def _round(session: AsyncSession, round_id: int) -> Round:
    round_ = None
    if 0 < round_id <= db.MAX_ID:
        round_ = (
            await session.execute(
                select(Round).where(Round.id == round_id).execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
    if round_ is None or round_.phase == Phase.DRAFT.value:
        raise NotFound(_("Deze begrotingsronde bestaat niet."))
    return round_


async def _projects(session: AsyncSession, definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The projects on the ballot as the definition froze them, with their public summary and
    the names of their theme and district."""
    ids = [int(p["id"]) for p in definition["projects"]]
    summaries: dict[int, str] = {}
    if ids:
        rows = await session.execute(
            select(Proposal.id, Proposal.summary).where(Proposal.id.in_(ids))
        )
        summaries = {int(pid): str(summary) for pid, summary in rows.all()}
    themes = {t["id"]: t["name"] for t in definition["themes"]}
    districts = {d["id"]: d["name"] for d in definition["districts"]}
    return [
        {
            "id": p["id"],
            "title": p["title"],
            "summary": summaries.get(int(p["id"]), ""),
            "cost_cents": p["cost_cents"],
            "theme_id": p["theme_id"],
            "theme": themes.get(p["theme_id"]),
            "district_id": p["district_id"],
            "district": districts.get(p["district_id"]),
        }
        for p in sorted(definition["projects"], key=lambda p: int(p["id"]))
    ]


PB_LOG_KINDS = ("genesis", "end")
"""The log events the ``.pb`` and CSV files need (the dates of the pabulib META)."""


async def _log(
    session: AsyncSession, round_id: int, kinds: tuple[str, ...] | None = None
) -> list[LogRow]:
    """Every event of the round's log in height order (or only those of ``kinds``), as stored;
    :meth:`LoadedRound.body` shapes each as ``voting.log.event_json`` does (read as plain tuples
    in chunks, ``db.fetch_tuples``: a log of 100,000 events as ORM objects is seconds of
    overhead, and as ``Row`` objects it kept the garbage collector busy on the event loop)."""
    statement = (
        select(LogEvent.height, LogEvent.parent, LogEvent.kind, LogEvent.payload, LogEvent.hash)
        .where(LogEvent.round_id == round_id)
        .order_by(LogEvent.height)
    )
    if kinds is not None:
        statement = statement.where(LogEvent.kind.in_(kinds))
    return await db.fetch_tuples(session, statement)


async def load_round(
    session: AsyncSession, round_: Round, *, whole_log: bool = True
) -> LoadedRound:
    """Read the parts of the export of ``round_`` as it stands (voting or closed).

    ``whole_log=False`` (the ``.pb`` and CSV files, which use of the log only the dates of its
    genesis and end events) reads just those two events instead of the whole log."""
    if round_.frozen_definition is None or round_.fingerprint is None:
        raise Conflict(
            _("Het stemmen in deze ronde is nog niet begonnen: er is nog niets te exporteren.")
        )
    head = await session.get(BallotLog, round_.id, populate_existing=True)
    if head is None:
        raise Conflict(_("Deze ronde heeft geen stemlogboek; er is nog niets te exporteren."))
    definition: dict[str, Any] = json.loads(round_.frozen_definition)
    closed = round_.phase in {Phase.CLOSED.value, Phase.PUBLISHED.value}
    projects = await _projects(session, definition)
    log_rows = await _log(session, round_.id, None if whole_log else PB_LOG_KINDS)
    ballot_rows = None
    outcome_text = None
    engine_version = None
    if closed:
        result = await session.get(RoundResult, round_.id)
        if result is None:
            raise Conflict(
                _("Deze ronde is nog niet geteld; er is nog geen uitslag om te exporteren.")
            )
        ballot_rows = await current_ballots(session, round_.id)
        outcome_text = result.document
        engine_version = result.engine_version
    return LoadedRound(
        round_id=round_.id,
        closed=closed,
        fingerprint=round_.fingerprint,
        definition=definition,
        projects=projects,
        log_rows=log_rows,
        ballot_rows=ballot_rows,
        outcome_text=outcome_text,
        engine_version=engine_version,
    )


async def build_export(
    session: AsyncSession,
    settings: Settings,
    *,
    round_id: int,
    user: Actor | None,
    fmt: ExportFormat,
    district: str | None = None,
    client_ip: str = "unknown",
) -> ExportFile:
    """The export file of ``round_id`` in ``fmt`` for ``user``, logged in the staff action log.

    Three steps, so that a large export never holds SQLite's write lock (casts would queue behind
    it during voting) nor the event loop: (1) read everything in one read transaction (one
    snapshot on SQLite), and end it; (2) build the file in a worker thread; (3) write the audit
    line in a short write transaction (``BEGIN IMMEDIATE``), which the request commits before the
    file leaves (``web/transactions.py``). A refusal at any step writes nothing but the counter
    below.

    Anonymous requests are first counted against ``export_downloads_per_window`` per client
    address (``accounts.ratelimit``, committed at once): every public download reads the whole log
    and builds the file, so an unlimited stream of them is a cheap way to load the server. Refused
    and unauthorised anonymous attempts count too (``hit``). Signed-in staff are not limited: they
    are named in the audit line of every download.
    """
    if user is None:
        token = db.set_read_only(False)
        try:
            await ratelimit.hit(
                session,
                ratelimit.ip_key("export", client_ip),
                settings.export_downloads_per_window,
                settings.rate_limit_window_seconds,
            )
        finally:
            db.reset_read_only(token)
    token = db.set_read_only(True)
    try:
        round_ = await _round(session, round_id)
        public = _authorise(round_, user, fmt)
        loaded = await load_round(session, round_, whole_log=fmt is ExportFormat.JSON)
        await session.commit()  # ends the read transaction; nothing was written
    finally:
        db.reset_read_only(token)
    rendered = await asyncio.to_thread(partial(render, settings, loaded, fmt, district))
    token = db.set_read_only(False)
    try:
        await audit.record(
            session,
            actor_id=user.id if user is not None else None,
            action="round.audit_export",
            subject_type="round",
            subject_id=loaded.round_id,
            details={
                "format": fmt.value,
                "election": election_label(rendered.election) if fmt is ExportFormat.PB else None,
                "state": rendered.state,
                "log_height": rendered.log_height,
                "public": public,
            },
        )
    finally:
        db.reset_read_only(token)
    return ExportFile(
        content=rendered.content, media_type=MEDIA_TYPES[fmt], filename=rendered.filename
    )


_DIGEST_CACHE: OrderedDict[tuple[object, ...], str] = OrderedDict()
_DIGEST_CACHE_SIZE = 64


async def _digest_key(
    session: AsyncSession, settings: Settings, round_: Round
) -> tuple[object, ...] | None:
    """Everything the closed round's JSON export is a function of, read cheaply; None when the
    round is not closed and counted (the export is then not final: no caching).

    The log head commits to every event, hence to the ballots (the current ballots are the ones
    the log leaves standing once it is closed: nothing can be cast or voided after the end
    event); the definition is in the fingerprint; the outcome is in the results digest. The
    projects' public summaries are read from the proposals, which the app no longer edits once
    voting opens but the database still allows (``rounds`` freeze triggers), so they are part of
    the key, as is the signing key (a new ``BB_SECRET_KEY`` signs differently). Overrides are
    stored beside the outcome and are not in the export (a test holds this), so they do not
    change it.
    """
    if round_.phase not in {Phase.CLOSED.value, Phase.PUBLISHED.value}:
        return None
    if round_.frozen_definition is None or round_.fingerprint is None:
        return None
    head = await session.get(BallotLog, round_.id, populate_existing=True)
    result = await session.get(RoundResult, round_.id, populate_existing=True)
    if head is None or head.closed_at is None or result is None:
        return None
    projects = await _projects(session, json.loads(round_.frozen_definition))
    return (
        round_.id,
        round_.fingerprint,
        head.height,
        head.head,
        result.digest,
        result.engine_version,
        public_key_info(settings)["key_id"],
        hashlib.sha256(canonical_from_database(projects)).hexdigest(),
    )


async def export_digest(session: AsyncSession, settings: Settings, round_id: int) -> str:
    """SHA-256 of the round's signed JSON audit export: the bytes every download gets.

    The council report shows it on every view; building the export reads and encodes the whole
    log and every ballot (seconds for 100,000 ballots). Once the round is closed the export is a
    pure function of what ``_digest_key`` reads, so the digest is cached per process under that
    key: a later change to any of it is a new key, and the next view computes afresh. Before the
    close it is computed every time.
    """
    round_ = await _round(session, round_id)
    key = await _digest_key(session, settings, round_)
    if key is not None and (cached := _DIGEST_CACHE.get(key)) is not None:
        _DIGEST_CACHE.move_to_end(key)
        return cached
    # Hashed piece by piece: the 43 MB document of a 100,000-ballot round is never put together
    # for the council report, which only shows its digest.
    loaded = await load_round(session, round_)
    digest = await asyncio.to_thread(signed_json_digest, settings, loaded)
    if key is not None:
        _DIGEST_CACHE[key] = digest
        while len(_DIGEST_CACHE) > _DIGEST_CACHE_SIZE:
            _DIGEST_CACHE.popitem(last=False)
    return digest


async def json_export(session: AsyncSession, settings: Settings, round_id: int) -> bytes:
    """The JSON export of ``round_id`` without access check or audit line: for benchmarks and the
    operator's own scripts (``benchmarks/close.py``). The API goes through ``build_export``."""
    loaded = await load_round(session, await _round(session, round_id))
    return await asyncio.to_thread(
        lambda: render(settings, loaded, ExportFormat.JSON, None).content
    )
