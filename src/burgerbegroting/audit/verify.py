"""The independent verifier of an audit export: ``python -m burgerbegroting.audit.verify``.

Imports only the standard library, the counting engine (``voting.tally``), the pure ballot rules
(``voting.ballots``), canonical JSON (``voting.canonical``) and, for the signature alone,
``cryptography``: never the app, the database or the web stack (an import-linter contract and
``tests/audit/test_verify_purity.py`` keep it so). An auditor can run it on a laptop with nothing
but this file's package and the export.

What it checks, in this order, stopping at the first problem (which it names):

1. the manifest's Ed25519 signature (with the instance's published key, ``--key``), the
   SHA-256 of every part's canonical JSON, and no part beside the signed ones (a part whose
   SHA-256 differs is named by the first problem the later checks find inside it, with the
   digest beside it, and by the part's name only when they find none);
2. the round definition's SHA-256 equals the round fingerprint, and the projects agree with it;
3. the ballot log: from genesis (round fingerprint + voter-roll fingerprint) to the end event,
   every height, parent and hash;
4. last ballot counts: replaying ``ballot`` events (with ``supersedes``) and ``void`` events gives
   exactly the export's current ballots;
5. every ballot is valid under the round's rules (``voting.ballots.normalise`` gives back exactly
   the stored content);
6. the recount (``voting.ballots.results_document``) equals the published outcome byte for byte;
   counted with another engine version than this one, it is recounted all the same and the report
   says that the versions differ (a ``LET OP`` line, ``engine_version`` in ``--json``): equal but
   for the version passes; anything else fails, and where only the explanation differs (trace,
   reasons, parameters) the problem says that the results themselves agree and which version
   checks the explanation byte for byte;
7. the given ``.pb`` files agree with the export (projects, costs, ballots, selected).

The pieces of the export format that the server and this verifier must compute alike (the part
digests, the manifest bytes, the pabulib files) are in ``audit.exportformat``, so that the two
cannot drift.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burgerbegroting.audit.exportformat import (
    EXPORT_FORMAT,
    GENESIS_PARENT,
    PARTS_CLOSED,
    PARTS_VOTING,
    SIGNATURE_ALGORITHM,
    election_label,
    key_id,
    manifest_bytes,
    pabulib_file,
)
from burgerbegroting.voting.ballots import (
    BallotProblem,
    election_keys,
    election_rules,
    normalise,
    results_document,
)
from burgerbegroting.voting.canonical import canonical_json, event_hash, receipt_from_hash
from burgerbegroting.voting.tally.model import TallyError
from burgerbegroting.voting.tally.pabulib import PabulibError, read_pabulib

__all__ = [
    "Report",
    "VerificationError",
    "check_pb",
    "diff",
    "main",
    "verify",
]


class VerificationError(Exception):
    """The first problem found: ``place`` says where (a part, an event height, a project, a
    ballot), ``message`` what is wrong."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(f"{place}: {message}")
        self.place = place
        self.message = message


@dataclass
class Report:
    """What was checked, one line each, for the auditor's report."""

    lines: list[str] = field(default_factory=list)
    #: (the export's, this verifier's) engine version, once a closed export was recounted.
    engine_versions: tuple[str | None, str] | None = None

    def add(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines)

    def warnings(self) -> list[str]:
        """The lines an auditor must read: what was not checked, or checked with a caveat."""
        return [line for line in self.lines if line.startswith("LET OP")]

    def to_json(self) -> dict[str, Any]:
        """The report for ``--json``: every line, the warnings again, and the engine versions."""
        versions = None
        if self.engine_versions is not None:
            export, verifier = self.engine_versions
            versions = {"export": export, "verifier": verifier, "same": export == verifier}
        return {
            "ok": True,
            "lines": list(self.lines),
            "warnings": self.warnings(),
            "engine_version": versions,
        }


# --- checks --------------------------------------------------------------------------------------


def _same(a: object, b: object) -> bool:
    """Equal as JSON values: ``1`` and ``true`` (equal in Python) are not the same value."""
    return canonical_json(a) == canonical_json(b)


def _need(condition: bool, place: str, message: str) -> None:
    if not condition:
        raise VerificationError(place, message)


def _decode_key(text: str) -> bytes:
    """A public key as given on the command line: hex, base64, or a file holding either or the
    JSON of ``/.well-known/burgerbegroting-key``."""
    candidate = text.strip()
    path = Path(candidate)
    if len(candidate) < 200 and path.is_file():
        candidate = path.read_text(encoding="utf-8").strip()
        if candidate.startswith("{"):
            data = json.loads(candidate)
            candidate = str(data.get("public_key_hex") or data.get("public_key") or "")
    try:
        raw = bytes.fromhex(candidate)
    except ValueError:
        try:
            raw = base64.b64decode(candidate, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != 32:
        raise VerificationError(
            "sleutel", "de opgegeven sleutel is geen Ed25519-sleutel van 32 bytes"
        )
    return raw


def check_signature(
    export: Mapping[str, Any], public_key: bytes | None, report: Report
) -> list[str]:
    """The manifest's signature; returns the parts whose digest differs from the manifest (for
    :func:`verify` to name the place inside them first, see there)."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 - signature only
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PublicKey,
    )

    _need(export.get("format") == EXPORT_FORMAT, "format", f"geen {EXPORT_FORMAT}-export")
    manifest = export.get("manifest")
    _need(isinstance(manifest, dict), "manifest", "ontbreekt")
    assert isinstance(manifest, dict)
    key_info = manifest.get("key") or {}
    embedded = base64.b64decode(str(key_info.get("public_key", "")))
    _need(
        key_info.get("algorithm") == SIGNATURE_ALGORITHM
        and key_info.get("key_id") == key_id(embedded),
        "manifest/key",
        "algoritme of sleutel-id klopt niet met de sleutel",
    )
    if public_key is None:
        public_key = embedded
        report.add(
            "LET OP: ondertekening gecontroleerd met de sleutel in de export zelf; geef --key met "
            "de gepubliceerde sleutel van de gemeente om ook de herkomst te controleren."
        )
    else:
        _need(
            embedded == public_key,
            "manifest/key",
            "de export noemt een andere sleutel dan de opgegeven sleutel",
        )
    try:
        signature = base64.b64decode(str(export.get("signature", "")), validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, manifest_bytes(manifest))
    except (InvalidSignature, ValueError, binascii.Error):
        raise VerificationError(
            "handtekening", "de handtekening van het manifest klopt niet"
        ) from None
    report.add(f"Handtekening klopt (Ed25519, sleutel {key_id(public_key)}).")
    _need(manifest.get("format") == EXPORT_FORMAT, "manifest/format", f"geen {EXPORT_FORMAT}")
    state = manifest.get("state")
    _need(state in {"voting", "closed"}, "manifest/state", f"onbekende toestand {state!r}")
    parts = PARTS_CLOSED if state == "closed" else PARTS_VOTING
    listed = manifest.get("parts") or {}
    _need(
        sorted(listed) == sorted(parts), "manifest/parts", f"verwacht de delen {', '.join(parts)}"
    )
    for name in parts:
        _need(name in export, name, "dit deel ontbreekt")
    # Nothing beside the signed parts: an unsigned addition would be read by people, not checked.
    unsigned = sorted(str(k) for k in set(export) - {*parts, "format", "manifest", "signature"})
    _need(not unsigned, unsigned[0] if unsigned else "", "dit deel is niet ondertekend")
    differing = [
        name
        for name in parts
        if hashlib.sha256(canonical_json(export[name])).hexdigest() != listed[name]
    ]
    if not differing:
        report.add(f"SHA-256 van {len(parts)} delen kloppen met het manifest.")
    return differing


DIGEST_DIFFERS = (
    "de SHA-256 van dit deel wijkt af van het manifest: het is na het ondertekenen veranderd, "
    "of de server bewaarde het niet in de vaste (canonieke) vorm"
)


def check_definition(export: Mapping[str, Any], report: Report) -> None:
    """The definition's SHA-256 is the fingerprint; the projects agree with the definition."""
    manifest = export["manifest"]
    definition = export["definition"]
    fingerprint = hashlib.sha256(canonical_json(definition)).hexdigest()
    _need(
        fingerprint == manifest["fingerprint"],
        "definition",
        "de SHA-256 van de rondedefinitie is niet de vingerafdruk van de ronde",
    )
    _need(
        _same(definition.get("round_id"), manifest.get("round_id")),
        "definition/round_id",
        "andere ronde",
    )
    by_id = {p["id"]: p for p in definition["projects"]}
    listed = export["projects"]
    _need(
        [p.get("id") for p in listed] == sorted(by_id),
        "projects",
        "de projectenlijst is niet die van de rondedefinitie",
    )
    themes = {t["id"]: t["name"] for t in definition["themes"]}
    districts = {d["id"]: d["name"] for d in definition["districts"]}
    for project in listed:
        frozen = by_id[project["id"]]
        # The summary is the one field the definition does not freeze: shown, never counted.
        expected = {
            "title": frozen.get("title"),
            "cost_cents": frozen.get("cost_cents"),
            "theme_id": frozen.get("theme_id"),
            "district_id": frozen.get("district_id"),
            "theme": themes.get(frozen.get("theme_id")),
            "district": districts.get(frozen.get("district_id")),
        }
        for name, value in expected.items():
            # Compared as canonical JSON: 1 and true, or 1 and "1", are different values.
            _need(
                canonical_json(project.get(name)) == canonical_json(value),
                f"project {project['id']}",
                f"{name} wijkt af van de rondedefinitie",
            )
    report.add(f"Vingerafdruk {fingerprint} klopt; {len(listed)} projecten volgens de definitie.")


@dataclass
class Replay:
    """The log replayed: the current ballots (by receipt) and the head."""

    current: dict[str, tuple[int | None, str, dict[str, Any]]]
    head: str
    height: int
    ballots_cast: int
    voids: int
    ended: bool


def check_log(export: Mapping[str, Any], report: Report, *, require_end: bool) -> Replay:
    """The hash chain from genesis, and last-ballot-counts over it."""
    manifest = export["manifest"]
    round_id = manifest["round_id"]
    log = export["log"]
    _need(isinstance(log, list) and len(log) > 0, "log", "het stemlogboek is leeg")
    keys = set(election_keys(export["definition"]))
    rules = {key: election_rules(export["definition"], key) for key in keys}
    parent = GENESIS_PARENT
    current: dict[str, tuple[int | None, str, dict[str, Any]]] = {}
    seen_uids: set[str] = set()
    cast = voids = 0
    ended = False
    for index, event in enumerate(log):
        place = f"gebeurtenis {index}"
        _need(
            _same(event.get("height"), index),
            place,
            f"hoogte {event.get('height')!r}, verwacht {index}",
        )
        _need(event.get("parent") == parent, place, "de ouder-hash is niet de hash van de vorige")
        kind = event.get("kind")
        payload = event.get("payload")
        _need(isinstance(payload, dict), place, "geen geldige inhoud")
        assert isinstance(payload, dict)
        digest = event_hash(
            round_id=round_id, height=index, parent=parent, kind=str(kind), payload=payload
        )
        _need(event.get("hash") == digest, place, "de hash klopt niet met de inhoud")
        _need(not ended, place, "een gebeurtenis na de sluiting")
        if index == 0:
            _need(kind == "genesis", place, "het logboek begint niet met genesis")
            _need(
                payload.get("round_fingerprint") == manifest["fingerprint"],
                place,
                "genesis noemt een andere vingerafdruk van de ronde",
            )
            _need(
                payload.get("roll_fingerprint")
                == hashlib.sha256(canonical_json(payload.get("roll"))).hexdigest(),
                place,
                "de vingerafdruk van de kiezerslijst klopt niet",
            )
        elif kind == "ballot":
            cast += 1
            uid = payload.get("ballot_id")
            _need(
                isinstance(uid, str) and uid not in seen_uids,
                place,
                "stembiljet-id dubbel of ongeldig",
            )
            assert isinstance(uid, str)
            seen_uids.add(uid)
            key = payload.get("election")
            _need(any(_same(key, k) for k in keys), place, f"onbekende verkiezing {key!r}")
            content = payload.get("ballot")
            _check_content(rules[key], content, place)
            supersedes = payload.get("supersedes")
            if supersedes is not None:
                _need(
                    supersedes in current,
                    place,
                    f"vervangt bon {supersedes}, die op dat moment niet telde",
                )
                _need(
                    current[supersedes][0] == key,
                    place,
                    f"vervangt bon {supersedes} uit een andere verkiezing",
                )
                del current[supersedes]
            assert isinstance(content, dict)
            current[receipt_from_hash(digest)] = (key, uid, content)
        elif kind == "void":
            voids += 1
            target = payload.get("voids")
            _need(target in current, place, f"vernietigt bon {target}, die niet telde")
            del current[str(target)]
        elif kind == "roll":
            _need(
                payload.get("roll_fingerprint")
                == hashlib.sha256(canonical_json(payload.get("roll"))).hexdigest(),
                place,
                "de vingerafdruk van de kiezerslijst klopt niet",
            )
        elif kind == "end":
            _need(
                payload.get("events") == index,
                place,
                f"noemt {payload.get('events')!r} gebeurtenissen, verwacht {index}",
            )
            ended = True
        else:
            raise VerificationError(place, f"onbekende soort {kind!r}")
        parent = digest
    last = log[-1]
    if require_end:
        _need(ended, "log", "het logboek eindigt niet met de sluiting")
    _need(
        _same(manifest.get("log_head"), last["hash"])
        and _same(manifest.get("log_height"), last["height"]),
        "manifest",
        "de kop van het logboek in het manifest is niet de laatste gebeurtenis",
    )
    report.add(
        f"Stemlogboek: {len(log)} gebeurtenissen van genesis tot "
        f"{'sluiting' if ended else 'hoogte ' + str(last['height'])}, keten klopt "
        f"(kop {last['hash']})."
    )
    report.add(
        f"Laatste stem telt: {cast} stemmen uitgebracht, {voids} vernietigd, {len(current)} tellen."
    )
    return Replay(
        current=current,
        head=last["hash"],
        height=last["height"],
        ballots_cast=cast,
        voids=voids,
        ended=ended,
    )


def _check_content(rules: Any, content: object, place: str) -> None:
    _need(isinstance(content, dict), place, "het stembiljet is geen object")
    assert isinstance(content, dict)
    try:
        canonical = normalise(rules, content)
    except BallotProblem as problem:
        raise VerificationError(
            place, f"ongeldig stembiljet ({problem.rule} bij {problem.pointer})"
        ) from None
    _need(
        canonical_json(canonical) == canonical_json(content),
        place,
        "het stembiljet staat niet in de vaste (canonieke) vorm",
    )


def check_ballots(export: Mapping[str, Any], replay: Replay, report: Report) -> None:
    """The export's current ballots are exactly those the log replay leaves, in ballot-id order."""
    ballots = export["ballots"]
    uids = [b.get("ballot_id") for b in ballots]
    for i in range(1, len(uids)):
        _need(
            str(uids[i - 1]) < str(uids[i]),
            f"stembiljet {uids[i]}",
            "de stembiljetten staan niet op volgorde van id (of een id komt twee keer voor)",
        )
    expected = {uid: (key, content) for key, uid, content in replay.current.values()}
    for ballot in ballots:
        uid = ballot.get("ballot_id")
        place = f"stembiljet {uid}"
        _need(uid in expected, place, "telt volgens het logboek niet (toegevoegd of vervangen)")
        key, content = expected[str(uid)]
        _need(_same(ballot.get("election"), key), place, "andere verkiezing dan in het logboek")
        _need(
            canonical_json(ballot.get("content")) == canonical_json(content),
            place,
            "inhoud wijkt af van het logboek",
        )
    missing = sorted(set(expected) - {str(u) for u in uids})
    _need(
        not missing,
        f"stembiljet {missing[0] if missing else ''}",
        "telt volgens het logboek maar ontbreekt",
    )
    report.add(
        f"Huidige stembiljetten: {len(ballots)}, gelijk aan het logboek; elk geldig volgens de regels."
    )


def _first_difference(a: object, b: object, pointer: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{pointer}/{k}"
            if canonical_json(a[k]) != canonical_json(b[k]):
                return _first_difference(a[k], b[k], f"{pointer}/{k}")
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if canonical_json(x) != canonical_json(y):
                return _first_difference(x, y, f"{pointer}/{i}")
        if len(a) != len(b):
            return f"{pointer}/{min(len(a), len(b))}"
    return pointer or "/"


#: The parts of an election's outcome that are its result (what was chosen, with what money, by
#: which tie-break); the rest (``parameters``, ``unselected``, ``trace``) explains it, and its
#: wording may change between engine versions (docs/counting.md, "Engine versions").
OUTCOME_RESULT_KEYS = (
    "rule",
    "selected",
    "cost",
    "budget",
    "leftover",
    "tie_break",
    "tie_break_order",
    "seed",
)


def _result_only(document: Mapping[str, Any]) -> dict[str, Any]:
    """A results document without the explanations: each election's outcome cut down to
    ``OUTCOME_RESULT_KEYS``, and no ``engine_version``; everything else (votes, ballots, blank,
    budgets, log head) stays."""
    elections = [
        {
            **election,
            "outcome": {key: election["outcome"].get(key) for key in OUTCOME_RESULT_KEYS},
        }
        for election in document["elections"]
    ]
    rest = {k: v for k, v in document.items() if k not in {"elections", "engine_version"}}
    return {**rest, "elections": elections}


def _where(pointer: str, recount: Mapping[str, Any]) -> str:
    where = "outcome" + pointer
    parts = pointer.split("/")
    if len(parts) > 2 and parts[1] == "elections" and parts[2].isdigit():
        index = int(parts[2])
        if index < len(recount["elections"]):
            where += f" (verkiezing {election_label(recount['elections'][index]['district_id'])})"
    return where


def check_recount(export: Mapping[str, Any], replay: Replay, report: Report) -> None:
    """Recount every election from the definition and the current ballots; compare bytes.

    Counted with another engine version than this verifier's, the export is still recounted and
    checked: the report says plainly that the versions differ. The bytes must then be equal but
    for the version. Where only the explanation differs (parameters, reasons, trace: what changed
    between versions) and every result is the same (chosen projects, cost, money left, votes,
    ballots, tie-break and seed), it still fails: the council reads that explanation, and this
    verifier cannot vouch for what another version wrote. The problem then says that the results
    agree and names the version to verify with, byte for byte.
    """
    definition = export["definition"]
    published = export["outcome"]
    ballots = [(b["election"], b["content"]) for b in export["ballots"]]
    try:
        recount = results_document(
            definition,
            export["manifest"]["fingerprint"],
            ballots,
            log_head=replay.head,
            log_height=replay.height,
        )
    except (BallotProblem, TallyError) as exc:
        raise VerificationError("herteling", f"de telling faalt: {exc}") from None
    theirs, ours = published.get("engine_version"), recount["engine_version"]
    _need(
        _same(theirs, export["manifest"].get("engine_version")),
        "outcome/engine_version",
        f"{theirs!r} wijkt af van de versie in het manifest "
        f"({export['manifest'].get('engine_version')!r})",
    )
    same_version = _same(theirs, ours)
    report.engine_versions = (theirs if isinstance(theirs, str) else None, ours)
    if not same_version:
        report.add(
            f"LET OP: de uitslag is geteld met {theirs}, deze controle telt met {ours}: de "
            f"versies verschillen. Hieronder de herteling met {ours}."
        )
    if canonical_json(published) == canonical_json({**recount, "engine_version": theirs}):
        winners = sum(len(e["outcome"]["selected"]) for e in recount["elections"])
        same = "" if same_version else " (op de versie na)"
        report.add(
            f"Herteling ({definition['counting']['rule']}, {ours}) gelijk aan de "
            f"gepubliceerde uitslag{same}, byte voor byte: {len(recount['elections'])} "
            f"verkiezing(en), {winners} gekozen projecten."
        )
        return
    pointer = _first_difference(published, {**recount, "engine_version": theirs})
    if same_version or canonical_json(_result_only(published)) != canonical_json(
        _result_only(recount)
    ):
        message = "de herteling wijkt af van de gepubliceerde uitslag"
        if not same_version:
            message += f" (geteld met {theirs}, hergeteld met {ours})"
        raise VerificationError(_where(pointer, recount), message)
    raise VerificationError(
        _where(pointer, recount),
        f"de herteling met {ours} geeft dezelfde uitslag (gekozen projecten, kosten, stemmen, "
        f"loting en restbedragen), maar de toelichting (parameters, redenen of stappen) wijkt af "
        f"van wat {theirs} schreef, zoals tussen versies van de telmachine kan (docs/counting.md, "
        f"'Engine versions'); controleer met {theirs} voor een vergelijking byte voor byte",
    )


def check_pb(export: Mapping[str, Any], name: str, text: str | bytes, report: Report) -> None:
    """A ``.pb`` file agrees with the export: same projects, costs, selected and ballots."""
    try:
        pb = read_pabulib(text)
    except PabulibError as exc:
        raise VerificationError(name, f"geen leesbaar pabulib-bestand ({exc})") from None
    label = pb.meta_dict.get("election", "")
    keys = {election_label(k): k for k in election_keys(export["definition"])}
    _need(label in keys, f"{name} META election", f"onbekende verkiezing {label!r}")
    expected = pabulib_file(export, keys[label])
    want_meta = dict(expected.meta)
    # The counting keys first (the usual tampering is named by them), then every other entry:
    # a recount of the file uses the caps, the lot's seed, the leftover rule, the ballot limits …
    first = ("budget", "vote_type", "num_projects", "num_votes", "fingerprint", "rule")
    for meta_key in (*first, *(k for k in want_meta if k not in first)):
        _need(
            pb.meta_dict.get(meta_key) == want_meta.get(meta_key),
            f"{name} META {meta_key}",
            f"{pb.meta_dict.get(meta_key)!r}, verwacht {want_meta.get(meta_key)!r}",
        )
    unknown = sorted(set(pb.meta_dict) - set(want_meta))
    _need(not unknown, f"{name} META {unknown[0] if unknown else ''}", "staat niet in de export")
    _need(
        [f.strip() for f in pb.project_fields] == list(expected.project_fields),
        f"{name} PROJECTS",
        f"kolommen {';'.join(pb.project_fields)!r}, verwacht {';'.join(expected.project_fields)!r}",
    )
    got = _rows(pb.project_fields, pb.projects)
    want = _rows(expected.project_fields, expected.projects)
    _need(
        sorted(got) == sorted(want),
        f"{name} PROJECTS",
        "andere projecten dan in de export: "
        + ", ".join(sorted(set(got) ^ set(want)) or ["dubbele regels"]),
    )
    for pid, row in sorted(want.items()):
        # Every column: the theme (category) decides a cap, the name is what the council read.
        for column in expected.project_fields:
            _need(
                _money_equal(got[pid].get(column), row[column])
                if column == "cost"
                else (got[pid].get(column) or "").strip() == row[column].strip(),
                f"{name} project {pid}",
                f"{column} {got[pid].get(column)!r}, verwacht {row[column]!r}",
            )
    got_votes = Counter(_vote_key(pb.vote_fields, v) for v in pb.votes)
    want_votes = Counter(_vote_key(expected.vote_fields, v) for v in expected.votes)
    if got_votes != want_votes:
        extra = got_votes - want_votes
        lacking = want_votes - got_votes
        what = (
            f"stembiljet {sorted(extra)[0]} staat er te veel in"
            if extra
            else f"stembiljet {sorted(lacking)[0]} ontbreekt"
        )
        raise VerificationError(f"{name} VOTES", what)
    report.add(
        f"{name}: verkiezing {label}, {len(pb.projects)} projecten en {len(pb.votes)} stemmen kloppen met de export."
    )


def _rows(fields: Sequence[str], rows: Iterable[Sequence[str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    names = [f.strip() for f in fields]
    for row in rows:
        values = dict(zip(names, row, strict=False))
        out[values.get("project_id", "").strip()] = values
    return out


def _money_equal(a: str | None, b: str) -> bool:
    def cents(text: str) -> int | None:
        whole, _sep, frac = text.strip().replace(",", ".").partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
            return None
        return int(whole) * 100 + int((frac or "0").ljust(2, "0"))

    return a is not None and cents(a) is not None and cents(a) == cents(b)


def _vote_key(fields: Sequence[str], row: Sequence[str]) -> str:
    values = {f.strip(): v.strip() for f, v in zip(fields, row, strict=False)}
    vote = values.get("vote", "")
    points = values.get("points")
    return vote if points is None else f"{vote} [{points}]"


def verify(
    export: Mapping[str, Any],
    *,
    public_key: bytes | None = None,
    pb_files: Sequence[tuple[str, str | bytes]] = (),
) -> Report:
    """Run every check on a parsed export (and ``.pb`` files); raise VerificationError at the
    first problem, else return the report."""
    report = Report()
    try:
        differing = check_signature(export, public_key, report)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as exc:
        raise VerificationError(
            "structuur", f"de export is onvolledig of misvormd ({exc!r})"
        ) from None
    try:
        _check_contents(export, report, pb_files)
    except VerificationError as problem:
        # A part that differs from the manifest is named by the place inside it that the checks
        # find (the ballot, the event height, the outcome field), with the part's digest beside
        # it: a change the server signed in a form the verifier does not re-encode alike (stored
        # text edited by hand into non-canonical JSON) would otherwise hide the place.
        if differing:
            raise VerificationError(
                problem.place,
                f"{problem.message} (en de SHA-256 van deel {', '.join(differing)} wijkt af van "
                "het manifest)",
            ) from None
        raise
    _need(not differing, differing[0] if differing else "", DIGEST_DIFFERS)
    return report


def _check_contents(
    export: Mapping[str, Any], report: Report, pb_files: Sequence[tuple[str, str | bytes]]
) -> None:
    """Every check after the signature, in order, stopping at the first problem."""
    try:
        check_definition(export, report)
        closed = export["manifest"]["state"] == "closed"
        replay = check_log(export, report, require_end=closed)
        if closed:
            check_ballots(export, replay, report)
            check_recount(export, replay, report)
        # After the recount, so that a changed outcome is named there first.
        _need(
            _same(
                export["manifest"].get("engine_version"),
                export["outcome"].get("engine_version") if closed else None,
            ),
            "manifest/engine_version",
            "wijkt af van de versie waarmee de uitslag is geteld",
        )
        if closed:
            for name, text in pb_files:
                check_pb(export, name, text, report)
        else:
            _need(not pb_files, "pb", "een export tijdens het stemmen heeft geen .pb-bestanden")
            report.add("Export tijdens het stemmen: geen uitslag en geen huidige stembiljetten.")
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as exc:
        raise VerificationError(
            "structuur", f"de export is onvolledig of misvormd ({exc!r})"
        ) from None


def diff(
    old: Mapping[str, Any], new: Mapping[str, Any], *, public_key: bytes | None = None
) -> Report:
    """Prove that NEW extends OLD: both verify, same round and genesis, OLD's events are a prefix
    of NEW's (nothing removed or rewritten). Without ``public_key`` both must name the same key,
    and the report says that origin was not checked."""
    old_report = verify(old, public_key=public_key)
    new_report = verify(new, public_key=public_key)
    report = Report(engine_versions=new_report.engine_versions)
    if public_key is None:
        # Each was checked with the key inside it: they must at least name the same key, or NEW
        # may come from anyone.
        _need(
            _same(old["manifest"].get("key"), new["manifest"].get("key")),
            "manifest/key",
            "OLD en NEW zijn met verschillende sleutels ondertekend; geef --key met de "
            "gepubliceerde sleutel van de gemeente",
        )
    # Keep verify's warnings of either export: origin not checked (no --key), or a closed export
    # counted with another engine version than this verifier's.
    for line in (*old_report.warnings(), *new_report.warnings()):
        if line not in report.lines:
            report.add(line)
    _need(
        old["manifest"]["fingerprint"] == new["manifest"]["fingerprint"],
        "definition",
        "de twee exports hebben een andere vingerafdruk van de ronde",
    )
    old_log, new_log = old["log"], new["log"]
    _need(len(new_log) >= len(old_log), "log", "NEW heeft minder gebeurtenissen dan OLD")
    for index, event in enumerate(old_log):
        _need(
            canonical_json(event) == canonical_json(new_log[index]),
            f"gebeurtenis {index}",
            "herschreven of verwijderd in NEW",
        )
    report.add(
        f"NEW verlengt OLD: dezelfde genesis ({old_log[0]['hash']}), de {len(old_log)} "
        f"gebeurtenissen van OLD staan ongewijzigd in NEW, {len(new_log) - len(old_log)} erbij."
    )
    return report


# --- command line --------------------------------------------------------------------------------


def _load(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise VerificationError(path, f"niet te lezen als JSON ({exc})") from None
    except RecursionError:
        # Arrays or objects nested deeper than Python's recursion limit: no export is like that.
        raise VerificationError(path, "niet te lezen als JSON (te diep genest)") from None
    if not isinstance(data, dict):
        raise VerificationError(path, "geen JSON-object")
    return data


def _read_pb(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise VerificationError(path, f"niet te lezen ({exc.strerror})") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", required=True)
    check = sub.add_parser("verify", help="controleer een audit-export (JSON) en .pb-bestanden")
    check.add_argument("export", help="de JSON-export van de ronde")
    check.add_argument("--pb", action="append", default=[], help="een .pb-bestand (herhaalbaar)")
    check.add_argument("--key", help="publieke sleutel: hex, base64 of een bestand")
    check.add_argument("--json", action="store_true", help="het verslag als één JSON-object")
    compare = sub.add_parser("diff", help="bewijs dat NEW de export OLD verlengt")
    compare.add_argument("old")
    compare.add_argument("new")
    compare.add_argument("--key", help="publieke sleutel: hex, base64 of een bestand")
    compare.add_argument("--json", action="store_true", help="het verslag als één JSON-object")


def run(args: argparse.Namespace) -> int:
    """Run ``verify`` or ``diff``; print the report (exit 0) or the first problem (exit 1).

    With ``--json`` both go to stdout as one object: ``{"ok": true, "lines", "warnings",
    "engine_version": {"export", "verifier", "same"} | null}`` or ``{"ok": false, "error":
    {"place", "message"}}``."""
    as_json = bool(getattr(args, "json", False))
    try:
        key = _decode_key(args.key) if args.key else None
        if args.audit_command == "verify":
            pb_files = [(Path(p).name, _read_pb(p)) for p in args.pb]
            report = verify(_load(args.export), public_key=key, pb_files=pb_files)
        else:
            report = diff(_load(args.old), _load(args.new), public_key=key)
    except VerificationError as exc:
        if as_json:
            error = {"place": exc.place, "message": exc.message}
            print(json.dumps({"ok": False, "error": error}, ensure_ascii=False))
        else:
            print(f"FOUT bij {exc.place}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"FOUT: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    print(report.text())
    print("OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m burgerbegroting.audit.verify",
        description="Onafhankelijke controle van een audit-export van de burgerbegroting.",
    )
    add_arguments(parser)
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in {"verify", "diff", "-h", "--help"}:
        # `python -m burgerbegroting.audit.verify EXPORT.json` is what an auditor types first;
        # verifying is what this module is named after, so it is the default command.
        args.insert(0, "verify")
    return run(parser.parse_args(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
