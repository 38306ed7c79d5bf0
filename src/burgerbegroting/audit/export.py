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

The format itself (part digests, manifest bytes, the pabulib files) lives in ``audit.verify``, the
module an auditor runs, so the server and the verifier compute them with the same code.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import db
from burgerbegroting.accounts import ratelimit
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service as audit
from burgerbegroting.audit.exportformat import (
    EXPORT_FORMAT,
    PARTS_CLOSED,
    PARTS_VOTING,
    election_label,
    manifest_bytes,
    pabulib_file_of,
)
from burgerbegroting.audit.signing import public_key_info, sign
from burgerbegroting.errors import Conflict, DomainError, Forbidden, NotAuthenticated, NotFound
from burgerbegroting.i18n import _
from burgerbegroting.proposals.export import euro_cell, neutralise
from burgerbegroting.proposals.models import Proposal
from burgerbegroting.proposals.service import Actor
from burgerbegroting.results.models import RoundResult
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting.ballots import chosen_projects, election_keys
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.models import BallotLog, LogEvent
from burgerbegroting.voting.service import current_ballots
from burgerbegroting.voting.tally.pabulib import write_pabulib

__all__ = [
    "ExportFile",
    "ExportFormat",
    "build_export",
    "export_digest",
    "json_export",
    "parse_format",
]


class ExportFormat(StrEnum):
    PB = "pb"
    JSON = "json"
    CSV = "csv"


# Litestar adds "; charset=utf-8" to text/* media types itself.
MEDIA_TYPES: dict[ExportFormat, str] = {
    ExportFormat.PB: "text/plain",
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv",
}
CSV_DELIMITER = ";"
# Between the project ids (and points) of one ballot: not a comma, which a Dutch spreadsheet reads
# as a decimal separator ("1,10" becomes the number 1,1), nor "-", "/" or "." (dates, thousands).
CSV_LIST_SEPARATOR = "|"
CITY_WIDE = "Stedelijk"


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


def _parse_district(definition: dict[str, Any], raw: str | None) -> int | None:
    """The election a pabulib download is for: ``city``, a district id, or (when the round has
    one election only) nothing."""
    keys = election_keys(definition)
    if raw is None or not raw.strip():
        if len(keys) == 1:
            return keys[0]
        raise DomainError(
            _("Deze ronde heeft een verkiezing per wijk: kies er een met district=<wijk-id>."),
            fields={"district": _("Kies een wijk.")},
        )
    text = raw.strip().lower()
    labels = {election_label(k): k for k in keys}
    if text not in labels:
        raise DomainError(
            _(
                "Onbekende verkiezing voor deze ronde: kies %(choices)s.",
                choices=", ".join(sorted(labels)),
            ),
            fields={"district": _("Onbekende wijk.")},
        )
    return labels[text]


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


LogRow = tuple[int, str, str, str, str]
"""A log event as stored: height, parent, kind, payload (canonical JSON), hash."""
PB_LOG_KINDS = ("genesis", "end")
"""The log events the ``.pb`` and CSV files need (the dates of the pabulib META)."""


@dataclass(frozen=True, slots=True)
class LoadedRound:
    """What the export of a round is made of, as read from the database in one transaction.

    The large parts (the log, the current ballots, the outcome) are kept as the text the
    database holds: parsing 100,000 events and ballots is about a CPU second, so it happens in
    :meth:`body`, which :func:`render` calls in its worker thread, not on the event loop.
    """

    round_id: int
    closed: bool
    fingerprint: str
    definition: dict[str, Any]
    projects: list[dict[str, Any]]
    log_rows: list[LogRow]
    ballot_rows: list[tuple[int | None, str, str]] | None  # once closed
    outcome_text: str | None  # once closed: the stored results document
    engine_version: str | None

    @property
    def log_height(self) -> int:
        return self.log_rows[-1][0]

    def body(self) -> dict[str, Any]:
        """The parts: definition, projects, log (+ ballots, outcome once closed). CPU only."""
        body: dict[str, Any] = {
            "definition": self.definition,
            "projects": self.projects,
            "log": [
                {
                    "height": height,
                    "parent": parent,
                    "kind": kind,
                    "payload": json.loads(payload),
                    "hash": digest,
                }
                for height, parent, kind, payload, digest in self.log_rows
            ],
        }
        if self.ballot_rows is not None:
            body["ballots"] = [
                {"election": key, "ballot_id": uid, "content": json.loads(content)}
                for key, uid, content in self.ballot_rows
            ]
        if self.outcome_text is not None:
            body["outcome"] = json.loads(self.outcome_text)
        return body


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


ENCODE_CHUNK = 2_000
"""Items of a long list (log events, ballots) encoded per call of the JSON encoder."""


def _dumps(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _canonical_from_database(value: object) -> bytes:
    """``canonical_json`` without its float check, for values parsed from canonical JSON that the
    database holds (definition, events, ballots, outcome: each was written by ``canonical_json``,
    which refuses floats). The same bytes, several times faster on a large log; were a float ever
    there, the verifier's own ``canonical_json`` would refuse the export.

    A long list is encoded :data:`ENCODE_CHUNK` items at a time and joined (the same bytes): the
    C encoder holds the GIL for a whole call, and one call over 100,000 log events held it for
    hundreds of milliseconds, stalling the event loop even though the export is built in a
    worker thread.
    """
    if isinstance(value, list) and len(value) > ENCODE_CHUNK:
        return (
            b"["
            + b",".join(
                _dumps(value[i : i + ENCODE_CHUNK])[1:-1]
                for i in range(0, len(value), ENCODE_CHUNK)
            )
            + b"]"
        )
    return _dumps(value)


_string = json.encoder.encode_basestring  # a str as JSON, as json.dumps(ensure_ascii=False)


def _list_pieces(items: Iterator[bytes]) -> list[bytes]:
    """A JSON list of encoded ``items`` as pieces to be joined: ``[``, the items
    :data:`ENCODE_CHUNK` at a time with ``,`` between them, ``]``."""
    pieces = [b"["]
    while batch := list(islice(items, ENCODE_CHUNK)):
        if len(pieces) > 1:
            pieces.append(b",")
        pieces.append(b",".join(batch))
    pieces.append(b"]")
    return pieces


def _spliced_pieces(loaded: LoadedRound) -> dict[str, list[bytes]]:
    """The JSON export's large parts (log, ballots, outcome) put together from the canonical JSON
    text the database holds, without parsing it: the bytes ``_canonical_from_database`` gives
    for the parsed parts, since every stored payload, ballot content and results document was
    written by ``canonical_json`` (sorted keys, no whitespace, no floats), and the keys of an
    event (hash, height, kind, parent, payload) and of a ballot (ballot_id, content, election)
    are written here in sorted order.

    Parsing 100,000 events and ballots into Python objects only to encode them again cost 2 CPU s
    per download and, through the garbage collector's full collections in the building thread,
    held the GIL (so the event loop) for up to 0.4 s at a time; text allocates nothing the
    collector tracks. Each part is a list of pieces (:func:`_list_pieces`), joined only once for
    the whole document (:func:`signed_json`) or never (:func:`signed_json_digest`): joining the
    33 MB log of 100,000 events, then adding its brackets, were two copies of 30-40 ms each in one
    C call, with the GIL held.
    """
    log = (
        (
            f'{{"hash":{_string(digest)},"height":{height},"kind":{_string(kind)},'
            f'"parent":{_string(parent)},"payload":{payload}}}'
        ).encode()
        for height, parent, kind, payload, digest in loaded.log_rows
    )
    parts = {"log": _list_pieces(log)}
    if loaded.ballot_rows is not None:
        ballots = (
            (
                f'{{"ballot_id":{_string(uid)},"content":{content},'
                f'"election":{"null" if key is None else int(key)}}}'
            ).encode()
            for key, uid, content in loaded.ballot_rows
        )
        parts["ballots"] = _list_pieces(ballots)
    if loaded.outcome_text is not None:
        parts["outcome"] = [loaded.outcome_text.encode("utf-8")]
    return parts


def _spliced_parts(loaded: LoadedRound) -> dict[str, bytes]:
    """:func:`_spliced_pieces`, each part joined."""
    return {name: b"".join(pieces) for name, pieces in _spliced_pieces(loaded).items()}


def _sha256(pieces: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)  # releases the GIL for pieces over 2 KB
    return digest.hexdigest()


def _signed_pieces(settings: Settings, loaded: LoadedRound) -> list[bytes]:
    """The JSON export's bytes as pieces: the parts, and the manifest of their digests with its
    signature.

    Each part is encoded to canonical JSON once (the large ones spliced from the stored text,
    :func:`_spliced_pieces`), hashed for the manifest, and the document is put together from
    those bytes: the same bytes ``canonical_json`` gives for the whole document (sorted keys, no
    whitespace), without encoding every ballot twice.
    """
    parts = PARTS_CLOSED if loaded.closed else PARTS_VOTING
    spliced = _spliced_pieces(loaded)
    small = {"definition": loaded.definition, "projects": loaded.projects}
    encoded = {
        name: spliced[name] if name in spliced else [_canonical_from_database(small[name])]
        for name in parts
    }
    height, _parent, _kind, _payload, head = loaded.log_rows[-1]
    key = public_key_info(settings)
    manifest = {
        "format": EXPORT_FORMAT,
        "round_id": loaded.round_id,
        "state": "closed" if loaded.closed else "voting",
        "fingerprint": loaded.fingerprint,
        "log_head": head,
        "log_height": height,
        "engine_version": loaded.engine_version,
        "parts": {name: _sha256(pieces) for name, pieces in encoded.items()},
        "key": {
            "algorithm": key["algorithm"],
            "key_id": key["key_id"],
            "public_key": key["public_key"],
        },
    }
    signed_manifest = manifest_bytes(manifest)
    encoded["format"] = [canonical_json(EXPORT_FORMAT)]
    encoded["manifest"] = [signed_manifest]
    encoded["signature"] = [canonical_json(sign(settings, signed_manifest))]
    document = [b"{"]
    for name in sorted(encoded):
        if len(document) > 1:
            document.append(b",")
        document += [canonical_json(name), b":", *encoded[name]]
    document.append(b"}")
    return document


def signed_json(settings: Settings, loaded: LoadedRound) -> bytes:
    """The JSON export's bytes (:func:`_signed_pieces`, joined once)."""
    return b"".join(_signed_pieces(settings, loaded))


def signed_json_digest(settings: Settings, loaded: LoadedRound) -> str:
    """SHA-256 (hex) of :func:`signed_json`'s bytes, without putting the document together."""
    return _sha256(_signed_pieces(settings, loaded))


WRITE_CHUNK = 2_000
"""CSV lines written per call of the C writer (as ``write_pabulib``'s own slices)."""

CsvBallot = tuple[int | None, str, Mapping[str, Any]]
"""A current ballot for the CSV: election key, ballot id, canonical content."""


def to_csv(document: dict[str, Any]) -> bytes:
    """Projects with their results, then one ballot a line; for Dutch Excel (BOM, ``;``, a
    ballot's project ids and points separated by ``|``), text cells neutralised against formula
    injection. ``document`` is a closed round's JSON export (parsed)."""
    return csv_of(
        document["definition"],
        document["projects"],
        document["outcome"],
        ((b["election"], b["ballot_id"], b["content"]) for b in document["ballots"]),
    )


def csv_of(
    definition: Mapping[str, Any],
    project_list: Iterable[Mapping[str, Any]],
    outcome: Mapping[str, Any],
    ballots: Iterable[CsvBallot],
) -> bytes:
    """:func:`to_csv` from its parts; ``ballots`` are read once, in the export's order.

    Each ballot is reduced at once to a tuple of strings (its line), so that :func:`render` can
    pass contents parsed one at a time from the stored text: 100,000 ballots held as
    dictionaries and lists kept the garbage collector's full passes busy (about 0.7 s per
    download at 50,000 ballots, holding the GIL, so the event loop, although in a thread).
    """
    districts = {d["id"]: d["name"] for d in definition["districts"]}
    supporters: dict[int | None, Counter[int]] = {}
    lines: list[tuple[str, str, str, str, str]] = []
    for key, uid, content in ballots:
        label = CITY_WIDE if key is None else districts.get(key, str(key))
        points = content.get("points")
        named = chosen_projects(content)
        supporters.setdefault(key, Counter()).update(named)
        lines.append(
            (
                neutralise(str(label)),
                str(uid),
                "ja" if "blank" in content else "nee",
                CSV_LIST_SEPARATOR.join(str(pid) for pid in named),
                CSV_LIST_SEPARATOR.join(str(points[str(pid)]) for pid in named) if points else "",
            )
        )
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(
        [
            "Verkiezing",
            "Project id",
            "Titel",
            "Thema",
            "Wijk",
            "Kosten (cent)",
            "Kosten (euro)",
            "Stembiljetten met dit project",
            "Score",
            "Gekozen",
        ]
    )
    projects = {p["id"]: p for p in project_list}
    for election in outcome["elections"]:
        key = election["district_id"]
        label = CITY_WIDE if key is None else districts.get(key, str(key))
        selected = set(election["outcome"]["selected"])
        counted = supporters.get(key, Counter())
        for pid_text in sorted(election["votes"], key=int):
            project = projects[int(pid_text)]
            writer.writerow(
                [
                    neutralise(str(label)),
                    str(project["id"]),
                    neutralise(str(project["title"])),
                    neutralise(str(project["theme"] or "")),
                    neutralise(str(project["district"] or CITY_WIDE)),
                    str(project["cost_cents"]),
                    euro_cell(int(project["cost_cents"])),
                    str(counted[int(pid_text)]),
                    str(election["votes"][pid_text]),
                    "ja" if pid_text in selected else "nee",
                ]
            )
    writer.writerow([])
    writer.writerow(["Verkiezing", "Stembiljet", "Blanco", "Projecten", "Punten"])
    # In slices: one ``writerows`` is one C call that holds the GIL throughout (0.16 s for
    # 100,000 lines, the event loop waiting although this runs in a thread).
    for start in range(0, len(lines), WRITE_CHUNK):
        writer.writerows(lines[start : start + WRITE_CHUNK])
    return buffer.getvalue().encode("utf-8-sig")


def _parsed_ballots(rows: Iterable[tuple[int | None, str, str]]) -> Iterator[CsvBallot]:
    """The stored ballots with their content parsed one at a time (each parsed dictionary is
    dropped as soon as its ballot has been written out)."""
    for key, uid, content in rows:
        yield key, uid, json.loads(content)


def _event_payload(loaded: LoadedRound, kind: str) -> dict[str, Any]:
    payload = next((p for _h, _parent, k, p, _d in loaded.log_rows if k == kind), None)
    return {} if payload is None else dict(json.loads(payload))


@dataclass(frozen=True, slots=True)
class Rendered:
    content: bytes
    filename: str
    election: int | None
    state: str
    log_height: int


def render(
    settings: Settings, loaded: LoadedRound, fmt: ExportFormat, district: str | None
) -> Rendered:
    """The file's bytes (CPU only: run off the event loop)."""
    key: int | None = None
    if fmt is ExportFormat.JSON:
        content = signed_json(settings, loaded)
        name = f"ronde-{loaded.round_id}-audit.json"
    else:
        # The .pb and CSV files are not signed: the signed JSON is what they are checked against.
        # They are written from the stored text, a ballot at a time, never as a parsed document
        # (``pabulib_file_of``, ``csv_of``: no garbage-collector stalls).
        if loaded.ballot_rows is None or loaded.outcome_text is None:
            raise Conflict(
                _("Deze ronde is nog niet geteld; er is nog geen uitslag om te exporteren.")
            )
        outcome = json.loads(loaded.outcome_text)
        ballots = _parsed_ballots(loaded.ballot_rows)
        if fmt is ExportFormat.PB:
            key = _parse_district(loaded.definition, district)
            pb = pabulib_file_of(
                loaded.definition,
                loaded.fingerprint,
                outcome,
                key,
                opened=_event_payload(loaded, "genesis").get("opened"),
                closed=_event_payload(loaded, "end").get("closed"),
                ballots=((uid, content) for k, uid, content in ballots if k == key),
            )
            content = write_pabulib(pb).encode("utf-8")
            # As the query names the election (city or the district id), and the council report.
            name = f"ronde-{loaded.round_id}-{election_label(key)}.pb"
        else:
            content = csv_of(loaded.definition, loaded.projects, outcome, ballots)
            name = f"ronde-{loaded.round_id}-uitslag.csv"
    state = "closed" if loaded.closed else "voting"
    return Rendered(content, name, key, state, loaded.log_height)


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
        hashlib.sha256(_canonical_from_database(projects)).hexdigest(),
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
