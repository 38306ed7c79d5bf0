"""The files of the audit export, from a round loaded from the database to their bytes.

CPU only, no database and no request: ``audit.export`` reads a :class:`LoadedRound` in the
request's transaction and calls :func:`render` in a worker thread. The signed JSON is put
together from canonical pieces (the large parts spliced from the text the database holds, never
encoded twice); the ``.pb`` and CSV files are written from that text a ballot at a time, in
slices, so that a 100,000-ballot round neither stalls the event loop nor keeps the garbage
collector busy. What the verifier must compute alike comes from ``audit.exportformat``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any

from burgerbegroting.audit.exportformat import (
    EXPORT_FORMAT,
    PARTS_CLOSED,
    PARTS_VOTING,
    election_label,
    manifest_bytes,
    pabulib_file_of,
)
from burgerbegroting.audit.signing import public_key_info, sign
from burgerbegroting.errors import Conflict, DomainError
from burgerbegroting.i18n import _
from burgerbegroting.proposals.export import euro_cell, neutralise
from burgerbegroting.settings import Settings
from burgerbegroting.voting.ballots import chosen_projects, election_keys
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.tally.pabulib import write_pabulib

__all__ = [
    "CITY_WIDE",
    "ExportFormat",
    "LoadedRound",
    "Rendered",
    "csv_of",
    "render",
    "signed_json",
    "signed_json_digest",
    "to_csv",
]


class ExportFormat(StrEnum):
    PB = "pb"
    JSON = "json"
    CSV = "csv"


CSV_DELIMITER = ";"
# Between the project ids (and points) of one ballot: not a comma, which a Dutch spreadsheet reads
# as a decimal separator ("1,10" becomes the number 1,1), nor "-", "/" or "." (dates, thousands).
CSV_LIST_SEPARATOR = "|"
CITY_WIDE = "Stedelijk"


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


LogRow = tuple[int, str, str, str, str]
"""A log event as stored: height, parent, kind, payload (canonical JSON), hash."""


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


ENCODE_CHUNK = 2_000
"""Items of a long list (log events, ballots) encoded per call of the JSON encoder."""


def _dumps(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_from_database(value: object) -> bytes:
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
    text the database holds, without parsing it: the bytes ``canonical_from_database`` gives
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
        name: spliced[name] if name in spliced else [canonical_from_database(small[name])]
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
