"""Reading and writing pabulib ``.pb`` files, exactly and without losing anything.

The format (pabulib.org; ``pb_file_format.md`` in equalshares/equalshares-compute-tool): three
sections ``META``, ``PROJECTS`` and ``VOTES``, each a line with the section name followed by a
header line and rows, fields separated by ``;`` with CSV quoting. Files may start with a BOM
and use CRLF line ends.

``read_pabulib`` keeps every section exactly as written (all fields, in order, as strings) in a
:class:`PabulibFile`, so that ``read_pabulib(write_pabulib(f)) == f``. The :attr:`election`
interprets it:

- money: ``budget``, project ``cost`` and the cap lists are decimals ("1234.50" or "1234,50"),
  parsed exactly; ``decimals`` is the largest number of digits after the decimal separator
  among them and every amount becomes an integer number of ``10 ** -decimals`` units (so a file
  with whole amounts counts in whole currency units);
- ids are arbitrary strings (surrounding spaces ignored); the ``vote`` field lists them
  separated by commas, and for cumulative ballots the ``points`` field holds integer points in
  the same order;
- a project id repeated inside one ballot: approval and choose-1 count it once, cumulative
  ballots add its points up, ordinal ballots keep its first (best) position. Projects with
  zero points total are no support;
- themes: the first entry of the project's ``category``/``categories`` field; districts: its
  ``neighborhood``/``district`` field;
- caps as Amsterdam publishes them: META ``categories`` with ``budget_per_category`` and
  ``neighborhoods`` with ``budget_per_neighborhood``, comma-separated lists in the same order;
- identical ballots are grouped into one :class:`Ballot` with a weight, in order of first
  appearance (approval ballots compared as sets).

Anything malformed raises :class:`PabulibError`, whose message names the line and the problem.
"""

from __future__ import annotations

import csv
import io
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from pathlib import Path

from burgerbegroting.voting.tally.model import (
    Ballot,
    BallotType,
    Cap,
    CapKind,
    Election,
    Project,
    TallyError,
)

__all__ = [
    "PabulibError",
    "PabulibFile",
    "from_election",
    "read_election",
    "read_pabulib",
    "read_pabulib_file",
    "write_pabulib",
]

SECTIONS = ("meta", "projects", "votes")
LEFTOVER_FUND_BY_SCORE = "Fund additional projects that fit within leftover budget ordered by score"
_DECIMAL = re.compile(r"([0-9]+)(?:[.,]([0-9]+))?")
_INTEGER = re.compile(r"-?[0-9]+")
_COUNT = re.compile(r"[0-9]+")
# Longer numbers are refused with a message: no real amount or count needs more digits, and
# Python refuses to convert integers of more than 4,300 digits (a traceback, not an answer).
MAX_WHOLE_DIGITS = 30
MAX_FRACTION_DIGITS = 12
MAX_INTEGER_DIGITS = 18
THEME_FIELDS = ("category", "categories")
DISTRICT_FIELDS = ("neighborhood", "neighbourhood", "district")
CAP_KEYS: tuple[tuple[CapKind, tuple[str, ...], tuple[str, ...]], ...] = (
    (CapKind.THEME, ("categories",), ("budget_per_category",)),
    (
        CapKind.DISTRICT,
        ("neighborhoods", "neighbourhoods", "districts"),
        ("budget_per_neighborhood", "budget_per_neighbourhood", "budget_per_district"),
    ),
)


class PabulibError(TallyError):
    """A pabulib file that cannot be read; the message names the line and what is wrong."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class PabulibFile:
    """A pabulib file as written: every section's header and rows, all fields as strings.

    ``*_lines`` give each row's (last) line number in the source, for error messages; they are
    not part of equality. The interpreted election is :attr:`election`.
    """

    meta: tuple[tuple[str, str], ...]
    project_fields: tuple[str, ...]
    projects: tuple[tuple[str, ...], ...]
    vote_fields: tuple[str, ...]
    votes: tuple[tuple[str, ...], ...]
    meta_lines: tuple[int, ...] = field(default=(), compare=False, repr=False)
    project_lines: tuple[int, ...] = field(default=(), compare=False, repr=False)
    vote_lines: tuple[int, ...] = field(default=(), compare=False, repr=False)
    # Read with group_votes: VOTES is not kept row by row (``votes`` is empty) but as the
    # distinct (vote, points) fields with their number of rows and first line.
    vote_groups: tuple[tuple[str, str, int, int], ...] = field(default=(), repr=False)
    vote_rows: int = field(default=-1, compare=False, repr=False)  # -1: len(votes)
    # lenient: inconsistencies (see ``read_pabulib``) become warnings instead of errors.
    lenient: bool = field(default=False, compare=False, repr=False)
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    def problem(self, message: str, line: int | None) -> None:
        """An inconsistency an auditor must hear about: an error, or a warning if lenient."""
        error = PabulibError(message, line)
        if not self.lenient:
            raise error
        self.warnings.append(str(error))

    @cached_property
    def meta_dict(self) -> dict[str, str]:
        """META as a dict (keys and values stripped; a repeated key keeps its last value, and
        building the :attr:`election` refuses a key repeated with another value)."""
        return {k.strip(): v.strip() for k, v in self.meta}

    @property
    def vote_type(self) -> BallotType:
        """The ballot type named by META ``vote_type``."""
        raw = self.meta_dict.get("vote_type")
        line = self.meta_line("vote_type")
        if raw is None:
            raise PabulibError("META has no vote_type", line)
        try:
            return BallotType(raw.lower())
        except ValueError:
            raise PabulibError(
                f"vote_type {raw!r} is not supported; expected one of "
                + ", ".join(t.value for t in BallotType),
                line,
            ) from None

    @property
    def threshold(self) -> int | None:
        """META ``min_project_score_threshold`` (the greedy-threshold minimum score), if any."""
        raw = self.meta_dict.get("min_project_score_threshold")
        if raw is None or raw == "":
            return None
        return _parse_integer(
            raw, "min_project_score_threshold", self.meta_line("min_project_score_threshold")
        )

    @property
    def leftover(self) -> str:
        """Greedy's leftover policy named by META ``leftover_budget``: ``"fund-by-score"`` for
        Amsterdam's "Fund additional projects that fit within leftover budget ordered by score",
        ``"keep"`` when the key is absent or empty. Any other text is refused: an auditor must
        not count a rule we do not know."""
        raw = self.meta_dict.get("leftover_budget", "")
        if not raw:
            return "keep"
        if raw.lower().startswith("fund additional projects") and "score" in raw.lower():
            return "fund-by-score"
        raise PabulibError(
            f"leftover_budget {raw!r} is not a rule this counter knows",
            self.meta_line("leftover_budget"),
        )

    @cached_property
    def election(self) -> Election:
        """The election this file describes (see the module docstring for the policies)."""
        return _build_election(self)

    def meta_line(self, key: str) -> int | None:
        """The source line of META ``key`` (its last occurrence), if known."""
        found = None
        for (k, _), line in zip(self.meta, self.meta_lines, strict=False):
            if k.strip() == key:
                found = line
        return found


# --------------------------------------------------------------------------------------------
# Reading.


def read_pabulib(
    source: str | bytes, *, lenient: bool = False, group_votes: bool = False
) -> PabulibFile:
    """Parse the text (or UTF-8 bytes) of a pabulib file; raise PabulibError if malformed.

    Files that parse but contradict themselves are refused too, naming the line: a voter id
    that appears twice (one voter counted twice), META ``num_votes``/``num_projects`` that
    disagree with the sections, and (when the election is built) ballots that break META
    ``min_length``/``max_length``, ``min_sum_cost``/``max_sum_cost``,
    ``min_sum_points``/``max_sum_points``, a choose-1 ballot naming several projects, or a META
    key given twice with different values.
    With ``lenient`` each becomes a warning in :attr:`PabulibFile.warnings` and the file is
    counted as written.

    ``group_votes`` keeps VOTES as distinct ballots with their counts instead of row by row
    (see :attr:`PabulibFile.vote_groups`): memory then grows with the distinct ballots, not
    with the voters (plus 8 bytes a voter for the duplicate-id check, see :class:`_VoteGroups`).
    Such a file counts the same but cannot be written back.
    """
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PabulibError(f"the file is not UTF-8 text (byte {exc.start})") from None
    text = source.removeprefix("\ufeff")
    return _read_lines(
        io.StringIO(text, newline=""),
        lenient=lenient,
        group_votes=group_votes,
        reopen=lambda: io.StringIO(text, newline=""),
    )


def read_pabulib_file(
    path: Path, *, lenient: bool = False, group_votes: bool = True
) -> PabulibFile:
    """Read a pabulib file from disk as a stream (never the whole text in memory at once);
    by default with ``group_votes`` (see :func:`read_pabulib`)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return _read_lines(
                stream, lenient=lenient, group_votes=group_votes, reopen=lambda: _lines(path)
            )
    except OSError as exc:
        raise PabulibError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PabulibError(f"the file is not UTF-8 text (byte {exc.start} of a block)") from None


def _lines(path: Path) -> Iterator[str]:
    """The lines of ``path`` once more (the second pass of the duplicate-id check)."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        yield from stream


def _read_lines(
    stream: Iterable[str],
    *,
    lenient: bool,
    group_votes: bool,
    reopen: Callable[[], Iterable[str]],
) -> PabulibFile:
    """Parse the lines of a pabulib file; ``reopen`` gives them once more, for the rare second
    pass of a grouped read's duplicate-id check (see :class:`_VoteGroups`)."""
    reader = csv.reader(stream, delimiter=";", strict=True)
    section = ""
    header: tuple[str, ...] | None = None
    seen: list[str] = []
    meta: list[tuple[str, str]] = []
    meta_lines: list[int] = []
    rows: dict[str, list[tuple[str, ...]]] = {"projects": [], "votes": []}
    lines: dict[str, list[int]] = {"projects": [], "votes": []}
    headers: dict[str, tuple[str, ...]] = {}
    grouped: _VoteGroups | None = None
    vote_width = -1  # with group_votes: the VOTES header's width, once it is read
    try:
        for row in reader:
            if len(row) == vote_width and grouped is not None:
                # The hot path: a full VOTES row of a grouped read (what the code below would
                # do with it, without its checks for section markers, blank or short rows).
                grouped.add(row, reader.line_num)
                continue
            line = reader.line_num
            if not row:
                continue
            name = row[0].strip().lower() if len(row) == 1 else ""
            # A section marker is a one-field line naming the next section; sections come in
            # the fixed order META, PROJECTS, VOTES, so data can never be taken for a marker
            # (the PROJECTS and META sections always have two or more fields per row).
            if name in SECTIONS and section != "votes" and name not in seen:
                expected = SECTIONS[len(seen)]
                if name != expected:
                    raise PabulibError(f"expected section {expected.upper()}, found {row[0]}", line)
                seen.append(name)
                section = name
                header = None
                continue
            if not section:
                raise PabulibError("the file must start with META", line)
            if len(row) == 1 and not row[0].strip() and (header is None or len(header) > 1):
                continue  # a line of spaces
            if header is None:
                header = tuple(row)
                _check_header(section, header, line)
                headers[section] = header
                if section == "votes" and group_votes:
                    grouped = _VoteGroups(header, line)
                    vote_width = len(header)
                continue
            fields = tuple(row)
            if len(fields) != len(header):
                extra = fields[len(header) :]
                if not extra or any(f.strip() for f in extra):
                    raise PabulibError(
                        f"{section.upper()} row has {len(fields)} fields, "
                        f"its header has {len(header)}",
                        line,
                    )
                fields = fields[: len(header)]  # trailing empty fields, e.g. a final ";"
            if section == "meta":
                meta.append((fields[0], fields[1]))
                meta_lines.append(line)
            elif section == "votes" and grouped is not None:
                grouped.add(fields, line)
            else:
                rows[section].append(fields)
                lines[section].append(line)
    except csv.Error as exc:
        raise PabulibError(f"badly quoted field ({exc})", reader.line_num) from None
    for name in SECTIONS:
        if name not in headers:
            where = reader.line_num or 1
            raise PabulibError(f"section {name.upper()} (with its header line) is missing", where)
    parsed = PabulibFile(
        meta=tuple(meta),
        project_fields=headers["projects"],
        projects=tuple(rows["projects"]),
        vote_fields=headers["votes"],
        votes=tuple(rows["votes"]),
        meta_lines=tuple(meta_lines),
        project_lines=tuple(lines["projects"]),
        vote_lines=tuple(lines["votes"]),
        vote_groups=grouped.groups() if grouped is not None else (),
        vote_rows=grouped.rows if grouped is not None else -1,
        lenient=lenient,
    )
    if grouped is not None:
        for message, line in grouped.duplicates(reopen):
            parsed.problem(message, line)
    _check_counts(parsed)
    return parsed


_ID_BUCKETS = 256
_id_hash: Callable[[str], int] = hash


class _VoteGroups:
    """VOTES read row by row into distinct (vote, points) fields with counts and first lines.

    Voter ids are checked for duplicates without keeping them: 7 million ids as a set of strings
    took 0.7 GB. Each id's 64-bit hash goes into one of 256 arrays (8 bytes an id). Ids whose
    hashes all differ are all different, which settles it for nearly every file; only if some
    hash occurs twice (a duplicate id, or two ids sharing a hash) are the ids read a second time,
    those with a repeated hash alone kept, to name the real duplicates with their lines.
    """

    def __init__(self, header: tuple[str, ...], header_line: int) -> None:
        names = [h.strip() for h in header]
        self.width = len(header)
        self.header_line = header_line
        self.vote_col = names.index("vote")
        self.points_col = names.index("points") if "points" in names else None
        self.id_col = names.index("voter_id") if "voter_id" in names else None
        self.counts: dict[tuple[str, str], list[int]] = {}  # -> [rows, first line]
        self.id_hashes = [array("q") for _ in range(_ID_BUCKETS)]
        self.rows = 0

    def add(self, fields: Sequence[str], line: int) -> None:
        self.rows += 1
        points_col = self.points_col
        key = (fields[self.vote_col], fields[points_col] if points_col is not None else "")
        entry = self.counts.get(key)
        if entry is None:
            self.counts[key] = [1, line]
        else:
            entry[0] += 1
        if self.id_col is not None:
            h = _id_hash(fields[self.id_col].strip())
            self.id_hashes[h % _ID_BUCKETS].append(h)

    def groups(self) -> tuple[tuple[str, str, int, int], ...]:
        return tuple((vote, points, n, first) for (vote, points), (n, first) in self.counts.items())

    def _repeated_hashes(self) -> set[int]:
        repeated: set[int] = set()
        for bucket in self.id_hashes:
            if len(set(bucket)) != len(bucket):
                ordered = sorted(bucket)
                repeated.update(a for a, b in pairwise(ordered) if a == b)
        return repeated

    def duplicates(self, reopen: Callable[[], Iterable[str]]) -> list[tuple[str, int]]:
        """(message, line) for every voter id seen before, in file order."""
        repeated = self._repeated_hashes()
        if not repeated:
            return []
        assert self.id_col is not None  # hashes are only kept with an id column
        col, width = self.id_col, self.width
        first: dict[str, int] = {}
        found: list[tuple[str, int]] = []
        reader = csv.reader(reopen(), delimiter=";", strict=True)
        for row in reader:
            line = reader.line_num
            if line <= self.header_line or len(row) < width:
                continue  # before the VOTES rows, or a blank line (the first pass refused others)
            vid = row[col].strip()
            if _id_hash(vid) not in repeated:
                continue
            if vid in first:
                found.append(
                    (
                        f"voter_id {_short(vid)} appears twice (first on line {first[vid]}): "
                        "one voter would be counted twice",
                        line,
                    )
                )
            else:
                first[vid] = line
        return found


def _check_counts(pb: PabulibFile) -> None:
    """Voter ids are unique; META num_votes and num_projects match the sections."""
    vfields = [f.strip() for f in pb.vote_fields]
    if "voter_id" in vfields:
        col = vfields.index("voter_id")
        first: dict[str, int | None] = {}
        for i, row in enumerate(pb.votes):
            vid = row[col].strip()
            line = pb.vote_lines[i] if pb.vote_lines else None
            if vid in first:
                pb.problem(
                    f"voter_id {_short(vid)} appears twice (first on line {first[vid]}): "
                    "one voter would be counted twice",
                    line,
                )
            else:
                first[vid] = line
    for key, actual, section in (
        ("num_votes", pb.vote_rows if pb.vote_rows >= 0 else len(pb.votes), "VOTES"),
        ("num_projects", len(pb.projects), "PROJECTS"),
    ):
        raw = pb.meta_dict.get(key)
        if raw is None or raw == "":
            continue
        line = pb.meta_line(key)
        stated = _parse_integer(raw, key, line)
        if stated != actual:
            pb.problem(f"{key} says {stated} but {section} has {actual} rows", line)


def _check_header(section: str, header: tuple[str, ...], line: int) -> None:
    names = [h.strip() for h in header]
    if len(set(names)) != len(names):
        raise PabulibError(f"{section.upper()} header names a column twice", line)
    required = {"meta": ("key", "value"), "projects": ("project_id", "cost"), "votes": ("vote",)}
    if section == "meta":
        if len(names) != 2:
            raise PabulibError("META header must be 'key;value'", line)
        return
    for column in required[section]:
        if column not in names:
            raise PabulibError(f"{section.upper()} header has no {column!r} column", line)


def read_election(
    source: str | bytes | Path, *, lenient: bool = False, group_votes: bool = False
) -> tuple[PabulibFile, Election]:
    """Read a pabulib file from a path (``Path``), its text or its bytes; return the file
    and its election. Raises PabulibError (also for an unreadable path); with ``lenient``,
    inconsistencies are collected in the file's ``warnings`` instead (see read_pabulib). A path
    is read as a stream; ``group_votes`` keeps only distinct ballots (bounded memory)."""
    if isinstance(source, Path):
        parsed = read_pabulib_file(source, lenient=lenient, group_votes=group_votes)
    else:
        parsed = read_pabulib(source, lenient=lenient, group_votes=group_votes)
    return parsed, parsed.election


def _parse_money(raw: str, what: str, line: int | None) -> tuple[int, str]:
    """A non-negative decimal as (integer part, fraction digits)."""
    match = _DECIMAL.fullmatch(raw.strip())
    if match is None:
        raise PabulibError(f"{what} {_short(raw)} is not a non-negative decimal number", line)
    whole, frac = match.group(1), match.group(2) or ""
    if len(whole.lstrip("0")) > MAX_WHOLE_DIGITS or len(frac) > MAX_FRACTION_DIGITS:
        raise PabulibError(
            f"{what} {_short(raw)} has too many digits (at most {MAX_WHOLE_DIGITS} before and "
            f"{MAX_FRACTION_DIGITS} after the decimal separator)",
            line,
        )
    return int(whole), frac


def _parse_integer(raw: str, what: str, line: int | None, *, negative: bool = False) -> int:
    """A whole number of at most MAX_INTEGER_DIGITS digits (negative only if allowed)."""
    text = raw.strip()
    pattern = _INTEGER if negative else _COUNT
    if not pattern.fullmatch(text):
        raise PabulibError(f"{what} {_short(raw)} is not a whole number", line)
    if len(text.lstrip("-").lstrip("0")) > MAX_INTEGER_DIGITS:
        raise PabulibError(
            f"{what} {_short(raw)} has too many digits (at most {MAX_INTEGER_DIGITS})", line
        )
    return int(text)


def _short(raw: str) -> str:
    """A value for an error message, cut short if long (a number of thousands of digits)."""
    return repr(raw) if len(raw) <= 40 else repr(raw[:20]) + f"… ({len(raw)} characters)"


def _scale(value: tuple[int, str], decimals: int) -> int:
    whole, frac = value
    # Exact: "12.5" with decimals 2 is 12 * 100 + int("50").
    return int(f"{whole}{frac.ljust(decimals, '0')}")


def _check_meta_repeats(pb: PabulibFile) -> None:
    """A META key given twice with different values (two budgets: which one did the city use?)
    is a problem for the count; the file itself keeps both lines (``read_pabulib`` is lossless)."""
    first_value: dict[str, tuple[str, int | None]] = {}
    for index, (raw_key, raw_value) in enumerate(pb.meta):
        key, value = raw_key.strip(), raw_value.strip()
        line = pb.meta_lines[index] if index < len(pb.meta_lines) else None
        if key not in first_value:
            first_value[key] = (value, line)
        elif first_value[key][0] != value:
            earlier, earlier_line = first_value[key]
            where = f" (line {earlier_line})" if earlier_line is not None else ""
            pb.problem(
                f"META key {_short(key)} is given twice, as {_short(earlier)}{where} and "
                f"{_short(value)}: which one holds?",
                line,
            )


def _build_election(pb: PabulibFile) -> Election:
    _check_meta_repeats(pb)
    ballot_type = pb.vote_type
    meta = pb.meta_dict
    budget_line = pb.meta_line("budget")
    if "budget" not in meta:
        raise PabulibError("META has no budget")
    budget_raw = _parse_money(meta["budget"], "budget", budget_line)
    amounts: list[tuple[int, str]] = [budget_raw]

    pfields = [f.strip() for f in pb.project_fields]
    col = {name: i for i, name in enumerate(pfields)}
    id_col, cost_col = col["project_id"], col["cost"]
    name_col = col.get("name")
    theme_col = next((col[f] for f in THEME_FIELDS if f in col), None)
    district_col = next((col[f] for f in DISTRICT_FIELDS if f in col), None)
    raw_projects: list[tuple[str, tuple[int, str], str, str | None, str | None]] = []
    seen: set[str] = set()
    plines = pb.project_lines or (None,) * len(pb.projects)
    for row, line in zip(pb.projects, plines, strict=True):
        pid = row[id_col].strip()
        if not pid:
            raise PabulibError("project_id is empty", line)
        if "," in pid:
            raise PabulibError(f"project_id {pid!r} contains a comma", line)
        if pid in seen:
            raise PabulibError(f"project_id {pid!r} appears twice", line)
        seen.add(pid)
        cost = _parse_money(row[cost_col], f"cost of project {pid!r}", line)
        amounts.append(cost)
        theme = None
        if theme_col is not None:
            first = row[theme_col].split(",")[0].strip()
            theme = first if first and first.lower() != "none" else None
        district = None
        if district_col is not None:
            value = row[district_col].strip()
            district = value if value and value.lower() != "none" else None
        name = row[name_col] if name_col is not None else ""
        raw_projects.append((pid, cost, name, theme, district))

    raw_caps: list[tuple[CapKind, str, tuple[int, str]]] = []
    for kind, list_keys, budget_keys in CAP_KEYS:
        budget_key = next((k for k in budget_keys if k in meta), None)
        if budget_key is None:
            continue
        line = pb.meta_line(budget_key)
        list_key = next((k for k in list_keys if k in meta), None)
        if list_key is None:
            raise PabulibError(f"{budget_key} needs the META list {list_keys[0]}", line)
        keys = [k.strip() for k in meta[list_key].split(",")]
        limits = [v.strip() for v in meta[budget_key].split(",")]
        if len(keys) != len(limits):
            raise PabulibError(
                f"{budget_key} has {len(limits)} amounts but {list_key} names {len(keys)}", line
            )
        for key, limit in zip(keys, limits, strict=True):
            amount = _parse_money(limit, f"{budget_key} for {key!r}", line)
            amounts.append(amount)
            raw_caps.append((kind, key, amount))

    decimals = max(len(frac) for _, frac in amounts)
    projects = tuple(
        Project(pid, _scale(cost, decimals), name=name, theme=theme, district=district)
        for pid, cost, name, theme, district in raw_projects
    )
    caps = tuple(Cap(kind, key, _scale(value, decimals)) for kind, key, value in raw_caps)
    ballots, raw_of = _group_ballots(pb, ballot_type, seen)
    costs = {p.id: p.cost for p in projects}
    _check_ballots(pb, ballot_type, ballots, raw_of=raw_of, costs=costs, decimals=decimals)
    return Election(
        budget=_scale(budget_raw, decimals),
        projects=projects,
        ballots=ballots,
        ballot_type=ballot_type,
        decimals=decimals,
        caps=caps,
    )


_RawOf = dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[str, str]]


def _group_ballots(
    pb: PabulibFile, ballot_type: BallotType, known: set[str]
) -> tuple[tuple[Ballot, ...], _RawOf]:
    """The grouped ballots, and for each the first raw (vote, points) fields that gave it."""
    vfields = [f.strip() for f in pb.vote_fields]
    vote_col = vfields.index("vote")
    points_col = vfields.index("points") if "points" in vfields else None
    cumulative = ballot_type is BallotType.CUMULATIVE
    if cumulative and points_col is None and (pb.votes or pb.vote_groups):
        raise PabulibError("cumulative VOTES need a 'points' column", None)
    # Real files repeat the same vote field many times: count the raw fields first (the only
    # per-row work), then interpret each distinct one once.
    raw_counts: Iterable[tuple[tuple[str, str], int]]
    if pb.vote_groups:  # distinct already: no second dict of a million entries
        raw_counts = (((vote, points), n) for vote, points, n, _ in pb.vote_groups)
    else:
        raw_counts = _count_raw(pb, vote_col, points_col if cumulative else None).items()
    # Every ballot names its projects through the one id object of each project (a vote field
    # split anew gives new strings): a million distinct ballots held 150 MB of copies.
    canon = {pid: pid for pid in known}
    counts: dict[tuple[tuple[str, ...], tuple[int, ...]], int] = {}
    raw_of: _RawOf = {}
    for (raw, raw_points), n in raw_counts:
        try:
            key = _ballot_key(raw, raw_points, ballot_type, known)
        except PabulibError as exc:
            raise PabulibError(
                str(exc), _first_line(pb, vote_col, points_col, raw, raw_points)
            ) from None
        key = (tuple(map(canon.__getitem__, key[0])), key[1])
        counts[key] = counts.get(key, 0) + n
        raw_of.setdefault(key, (raw, raw_points))
    ballots = tuple(
        Ballot(projects, points, weight) for (projects, points), weight in counts.items()
    )
    return ballots, raw_of


def _count_raw(
    pb: PabulibFile, vote_col: int, points_col: int | None
) -> dict[tuple[str, str], int]:
    """How often each raw (vote, points) pair occurs among the rows (points "" if not used)."""
    raw_counts: dict[tuple[str, str], int] = {}
    if points_col is not None:
        for row in pb.votes:
            raw_key = (row[vote_col], row[points_col])
            raw_counts[raw_key] = raw_counts.get(raw_key, 0) + 1
    else:
        for row in pb.votes:
            raw_key = (row[vote_col], "")
            raw_counts[raw_key] = raw_counts.get(raw_key, 0) + 1
    return raw_counts


def _check_ballots(
    pb: PabulibFile,
    ballot_type: BallotType,
    ballots: tuple[Ballot, ...],
    *,
    raw_of: _RawOf,
    costs: dict[str, int],
    decimals: int,
) -> None:
    """Every ballot keeps META's limits on its length, cost and points; choose-1 names one.
    A blank ballot is exempt from the minimums."""
    meta = pb.meta_dict
    limits: dict[str, int] = {}
    for key in ("min_length", "max_length", "min_sum_points", "max_sum_points"):
        if meta.get(key):
            limits[key] = _parse_integer(meta[key], key, pb.meta_line(key))
    money: dict[str, tuple[int, int]] = {}  # key -> (amount, its scale)
    for key in ("min_sum_cost", "max_sum_cost"):
        if meta.get(key):
            whole, frac = _parse_money(meta[key], key, pb.meta_line(key))
            money[key] = (_scale((whole, frac), len(frac)), len(frac))
    if ballot_type is BallotType.CHOOSE1:
        limits["max_length"] = min(limits.get("max_length", 1), 1)
    if not limits and not money:
        return
    vfields = [f.strip() for f in pb.vote_fields]
    vote_col = vfields.index("vote")
    points_col = vfields.index("points") if "points" in vfields else None
    for ballot in ballots:
        found: list[str] = []
        n = len(ballot.projects)
        if "max_length" in limits and n > limits["max_length"]:
            what = "a choose-1 ballot" if ballot_type is BallotType.CHOOSE1 else "max_length"
            found.append(
                f"vote names {n} projects; {what} allows {limits['max_length']}"
                if what == "max_length"
                else f"vote names {n} projects; {what} names one"
            )
        # A blank ballot (no project at all) is an abstention, which a voter may cast: the
        # minimums apply to ballots that name something.
        if "min_length" in limits and 0 < n < limits["min_length"]:
            found.append(f"vote names {n} projects; min_length asks {limits['min_length']}")
        if ballot_type is BallotType.CUMULATIVE:
            total_points = sum(ballot.points)
            if "max_sum_points" in limits and total_points > limits["max_sum_points"]:
                found.append(
                    f"vote gives {total_points} points; max_sum_points is "
                    f"{limits['max_sum_points']}"
                )
            if "min_sum_points" in limits and 0 < total_points < limits["min_sum_points"]:
                found.append(
                    f"vote gives {total_points} points; min_sum_points is "
                    f"{limits['min_sum_points']}"
                )
        spent = sum(costs[pid] for pid in ballot.projects) if money else 0
        for key, (amount, scale) in money.items():
            # Compare spent / 10**decimals with amount / 10**scale exactly.
            left, right = spent * 10**scale, amount * 10**decimals
            if (key == "max_sum_cost" and left > right) or (
                key == "min_sum_cost" and n and left < right
            ):
                found.append(
                    f"the projects on the vote cost {_money(spent, decimals)}; {key} is {meta[key]}"
                )
        if not found:
            continue
        raw, raw_points = raw_of.get((ballot.projects, ballot.points), ("", ""))
        line = _first_line(pb, vote_col, points_col, raw, raw_points)
        for message in found:
            pb.problem(
                message + (f" ({ballot.weight} such ballots)" if ballot.weight > 1 else ""), line
            )


def _first_line(
    pb: PabulibFile, vote_col: int, points_col: int | None, raw: str, raw_points: str
) -> int | None:
    """The line of the first vote row with these fields (for an error message)."""
    for vote, points, _, first in pb.vote_groups:
        if vote == raw and (points_col is None or points == raw_points):
            return first
    for i, row in enumerate(pb.votes):
        if row[vote_col] == raw and (points_col is None or row[points_col] == raw_points):
            return pb.vote_lines[i] if pb.vote_lines else None
    return None  # pragma: no cover - the fields came from some row


def _ballot_key(
    raw: str, raw_points: str, ballot_type: BallotType, known: set[str]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """One vote field (and points field) in normal form; PabulibError (without a line) if bad."""
    ids = raw.split(",") if raw.strip() else []
    if not known.issuperset(ids):
        # Known ids are stripped, so ids found as they are need no stripping (the usual case).
        ids = [s.strip() for s in ids]
        for pid in ids:
            if pid not in known:
                if not pid:
                    raise PabulibError(f"vote {raw!r} has an empty project id")
                raise PabulibError(f"vote names project {pid!r}, which is not in PROJECTS")
    if ballot_type is BallotType.CUMULATIVE:
        pts = [s.strip() for s in raw_points.split(",")] if raw_points.strip() else []
        if len(pts) != len(ids):
            raise PabulibError(f"vote names {len(ids)} projects but points has {len(pts)} values")
        total: dict[str, int] = {}
        for pid, p in zip(ids, pts, strict=True):
            total[pid] = total.get(pid, 0) + _parse_integer(p, "points value", None, negative=True)
        if any(v < 0 for v in total.values()):
            raise PabulibError("points must not be negative")
        items = sorted((pid, v) for pid, v in total.items() if v > 0)
        return (tuple(pid for pid, _ in items), tuple(v for _, v in items))
    if ballot_type is BallotType.ORDINAL:
        return (tuple(dict.fromkeys(ids)), ())
    return (tuple(sorted(set(ids))), ())


# --------------------------------------------------------------------------------------------
# Writing.


WRITE_CHUNK = 2_000
"""Rows per call of the C writer. One ``writerows`` is one C call that holds the GIL
throughout: about 60 ms for 100,000 votes, during which a server's event loop (the audit
export writes in a thread) could not answer. Slices give other threads their turn; the text is
the same."""


def write_pabulib(pb: PabulibFile) -> str:
    """The file's text: sections in order, ``;``-separated, quoted where needed, CRLF line ends
    (so that quoted fields holding a line break survive any reader). Rows are written
    :data:`WRITE_CHUNK` at a time."""
    if pb.vote_groups:
        raise PabulibError("a file read with group_votes has no vote rows to write")
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for title, fields, rows in (
        ("META", ("key", "value"), pb.meta),
        ("PROJECTS", pb.project_fields, pb.projects),
        ("VOTES", pb.vote_fields, pb.votes),
    ):
        writer.writerow([title])
        writer.writerow(fields)
        for start in range(0, len(rows), WRITE_CHUNK):
            writer.writerows(rows[start : start + WRITE_CHUNK])
    return out.getvalue()


def _money(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}"


def from_election(
    election: Election,
    *,
    meta: dict[str, str] | None = None,
    voter_ids: bool = True,
    leftover: str = "keep",
) -> PabulibFile:
    """A pabulib file for an election (e.g. our own round for the audit export).

    ``meta`` adds or overrides META entries (description, country, unit, …); ``budget``,
    ``vote_type``, ``num_projects``, ``num_votes`` and the cap lists come from the election.
    Weighted ballots are written as that many rows, voters numbered from 1. Reading the result
    gives back the same election (same projects, caps and grouped ballots). ``leftover``
    ``"fund-by-score"`` writes META ``leftover_budget`` with Amsterdam's wording, so that
    :attr:`PabulibFile.leftover` reads it back.
    """
    for project in election.projects:
        pid = project.id
        if not pid or pid != pid.strip() or "," in pid:
            raise PabulibError(f"project id {pid!r} cannot be written to a pabulib file")
    d = election.decimals
    voters = sum(b.weight for b in election.ballots)
    entries: dict[str, str] = {
        "num_projects": str(len(election.projects)),
        "num_votes": str(voters),
        "budget": _money(election.budget, d),
        "vote_type": str(election.ballot_type),
    }
    for kind, list_key, budget_key in (
        (CapKind.THEME, "categories", "budget_per_category"),
        (CapKind.DISTRICT, "neighborhoods", "budget_per_neighborhood"),
    ):
        caps = [c for c in election.caps if c.kind is kind]
        if caps:
            entries[list_key] = ",".join(c.key for c in caps)
            entries[budget_key] = ",".join(_money(c.limit, d) for c in caps)
    if leftover == "fund-by-score":
        entries["leftover_budget"] = LEFTOVER_FUND_BY_SCORE
    elif leftover != "keep":
        raise PabulibError(f"unknown leftover policy {leftover!r}")
    entries.update(meta or {})
    project_fields = ["project_id", "cost", "name"]
    has_theme = any(p.theme is not None for p in election.projects)
    has_district = any(p.district is not None for p in election.projects)
    if has_theme:
        project_fields.append("category")
    if has_district:
        project_fields.append("neighborhood")
    projects = []
    for p in election.projects:
        row = [p.id, _money(p.cost, d), p.name]
        if has_theme:
            row.append(p.theme or "")
        if has_district:
            row.append(p.district or "")
        projects.append(tuple(row))
    cumulative = election.ballot_type is BallotType.CUMULATIVE
    vote_fields = (
        (["voter_id"] if voter_ids else []) + ["vote"] + (["points"] if cumulative else [])
    )
    votes = []
    n = 0
    for ballot in election.ballots:
        for _ in range(ballot.weight):
            n += 1
            row = [str(n)] if voter_ids else []
            row.append(",".join(ballot.projects))
            if cumulative:
                row.append(",".join(str(p) for p in ballot.points))
            votes.append(tuple(row))
    return PabulibFile(
        meta=tuple(entries.items()),
        project_fields=tuple(project_fields),
        projects=tuple(projects),
        vote_fields=tuple(vote_fields),
        votes=tuple(votes),
    )
