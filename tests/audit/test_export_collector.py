"""The exports of a large closed round keep nothing alive for the garbage collector to walk.

``benchmarks/results.py`` at 100,000 ballots: ``/health`` waited 0.1-0.6 s during every ``.pb`` and
CSV download, because the files were built from the ballots parsed into 100,000 dictionaries and
lists, and the collector's passes over them (in the building thread, holding the GIL) stalled the
event loop; the reads of the log and the ballots held every row as a ``Row`` object on the loop.
These tests count those objects (``tests/collector.py``) instead of timing them.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import tracemalloc
from operator import itemgetter
from typing import Any

import pytest
from benchmarks.close import build, close
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import db
from burgerbegroting.audit import export as export_mod
from burgerbegroting.audit import exportfiles as files_mod
from burgerbegroting.audit.exportformat import _sorted_by_first, pabulib_text
from burgerbegroting.rounds.models import Round
from burgerbegroting.settings import Settings
from burgerbegroting.voting.tally import pabulib as pabulib_mod
from tests.collector import survivors
from tests.proposals.factories import run

BALLOTS = 2_000


def _large_round(settings: Settings) -> int:
    """A closed city-wide round of :data:`BALLOTS` ballots over 12 projects, seeded in bulk as
    ``benchmarks/results.py`` seeds its 100,000 (a valid hash-chained log), counted with greedy."""
    round_id, admin_id = asyncio.run(build(settings, BALLOTS, 12, "greedy", 7, city_wide=True))
    asyncio.run(close(settings, round_id, admin_id))
    return round_id


def _loaded(settings: Settings, round_id: int) -> export_mod.LoadedRound:
    async def work(session: AsyncSession) -> export_mod.LoadedRound:
        round_ = await session.get(Round, round_id)
        assert round_ is not None
        return await export_mod.load_round(session, round_)

    return run(settings, work)


@pytest.mark.parametrize("fmt", ["pb", "csv", "json"])
def test_building_a_large_export_keeps_no_tracked_object_per_ballot(
    settings: Settings, fmt: str
) -> None:
    """The files are written from the stored text a ballot at a time, so at no pass of the
    collector are there even half as many tracked survivors as ballots (parsing them first, as
    before, kept at least three per ballot alive: the ballot, its content and its list)."""
    loaded = _loaded(settings, _large_round(settings))
    assert loaded.ballot_rows is not None
    assert len(loaded.ballot_rows) == BALLOTS
    district = "city" if fmt == "pb" else None
    # Once first, so that what is loaded once per process (locale data for the euro amounts)
    # is not counted.
    export_mod.render(settings, loaded, export_mod.ExportFormat(fmt), district)
    with survivors() as counted:
        rendered = export_mod.render(settings, loaded, export_mod.ExportFormat(fmt), district)
    # No pass at all (the JSON, spliced from text) means fewer than 700 tracked objects were
    # allocated in all: better still.
    assert counted.peak < BALLOTS // 2, counted.peak
    # And the file holds every ballot.
    if fmt == "pb":
        assert f"num_votes;{BALLOTS}\r\n" in rendered.content.decode()
    elif fmt == "csv":
        assert rendered.content.decode("utf-8-sig").count("\r\nStedelijk;") >= BALLOTS
    else:
        assert len(json.loads(rendered.content)["ballots"]) == BALLOTS


def test_reading_the_log_and_ballots_keeps_no_row_objects(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export's reads come in chunks as plain tuples (``db.fetch_tuples``): with chunks of
    50 rows the collector never sees even a quarter as many survivors as the log and the ballots
    have rows. Fetched whole (``execute(…).all()``), every row was a tracked ``Row`` until the
    last one was read, on the event loop."""
    round_id = _large_round(settings)
    monkeypatch.setattr(db, "FETCH_CHUNK", 50)
    before = _loaded(settings, round_id)
    assert before.ballot_rows is not None
    rows = len(before.log_rows) + len(before.ballot_rows)
    assert rows > 2 * BALLOTS

    async def work(session: AsyncSession) -> export_mod.LoadedRound:
        round_ = await session.get(Round, round_id)
        assert round_ is not None
        await export_mod.load_round(session, round_)  # statements compiled and cached
        with survivors() as counted:
            loaded = await export_mod.load_round(session, round_)
        assert counted.samples
        assert counted.peak < rows // 4, (counted.peak, rows)
        return loaded

    assert run(settings, work) == before


def record_writer_calls(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """Make ``module``'s ``csv.writer`` record how many rows each of its calls writes (1 for a
    ``writerow``), in the list returned, and write them as the real one does."""
    written: list[int] = []

    class RecordingWriter:
        def __init__(self, real: Any) -> None:
            self.real = real

        def writerow(self, row: Any) -> Any:
            written.append(1)
            return self.real.writerow(row)

        def writerows(self, rows: Any) -> Any:
            rows = list(rows)
            written.append(len(rows))
            return self.real.writerows(rows)

    class RecordingCsv:
        QUOTE_MINIMAL = csv.QUOTE_MINIMAL

        @staticmethod
        def writer(*args: Any, **kwargs: Any) -> RecordingWriter:
            return RecordingWriter(csv.writer(*args, **kwargs))

    monkeypatch.setattr(module, "csv", RecordingCsv)
    return written


def test_the_csv_lines_are_written_in_slices(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C writer holds the GIL for a whole ``writerows`` call: 0.16 s for 100,000 ballot
    lines, during which the event loop could not answer. No call gets more than
    ``WRITE_CHUNK`` rows, and the file is the one a single call writes."""
    loaded = _loaded(settings, _large_round(settings))
    with monkeypatch.context() as whole_file:
        whole_file.setattr(files_mod, "WRITE_CHUNK", 10**9)
        whole = export_mod.render(settings, loaded, export_mod.ExportFormat.CSV, None).content
    written = record_writer_calls(monkeypatch, files_mod)
    monkeypatch.setattr(files_mod, "WRITE_CHUNK", 300)
    sliced = export_mod.render(settings, loaded, export_mod.ExportFormat.CSV, None).content
    assert sliced == whole
    assert sum(written) > BALLOTS
    assert max(written) <= 300


def test_the_pb_votes_are_written_in_slices_to_the_verifiers_bytes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single ``writerows`` over 100,000 votes holds the GIL for about 60 ms; ``write_pabulib``
    writes ``WRITE_CHUNK`` rows at a time. The server's file is byte for byte the one a single
    call writes, and the one the verifier builds from the JSON export."""
    loaded = _loaded(settings, _large_round(settings))
    document = json.loads(
        export_mod.render(settings, loaded, export_mod.ExportFormat.JSON, None).content
    )
    expected = pabulib_text(document, None).encode("utf-8")
    with monkeypatch.context() as whole_file:
        whole_file.setattr(pabulib_mod, "WRITE_CHUNK", 10**9)
        whole = export_mod.render(settings, loaded, export_mod.ExportFormat.PB, "city").content
    written = record_writer_calls(monkeypatch, pabulib_mod)
    monkeypatch.setattr(pabulib_mod, "WRITE_CHUNK", 300)
    sliced = export_mod.render(settings, loaded, export_mod.ExportFormat.PB, "city").content
    assert sliced == whole == expected
    assert sum(written) >= BALLOTS
    assert max(written) <= 300


@settings_(max_examples=50)
@given(
    st.lists(
        st.tuples(
            st.text("0123456789abcdef", min_size=1, max_size=4),
            st.text(max_size=3),
            st.text(max_size=3),
        ),
        max_size=300,
    )
)
def test_the_bucketed_sort_gives_the_order_of_one_stable_sort(
    rows: list[tuple[str, str, str]],
) -> None:
    assert _sorted_by_first(list(rows)) == sorted(rows, key=itemgetter(0))


def test_the_report_digest_is_hashed_piece_by_piece_and_then_cached(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The council report shows the JSON export's SHA-256. It is hashed from the export's pieces,
    never joined into one document (at 100,000 ballots 43 MB, copied twice in single C calls of
    30-50 ms with the GIL held): hashing takes under 1.5 times the export's size in memory (the
    pieces themselves), and the report's digest is found without building the file. A second
    view is answered from the cache."""
    round_id = _large_round(settings)
    loaded = _loaded(settings, round_id)
    body = files_mod.signed_json(settings, loaded)
    # Pieces of 100 events or ballots: a small share of this round, as 2,000 are of 100,000.
    monkeypatch.setattr(files_mod, "ENCODE_CHUNK", 100)
    tracemalloc.start()
    try:
        hashlib.sha256(files_mod.signed_json(settings, loaded)).hexdigest()
        _size, joined_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert joined_peak >= 1.5 * len(body)  # what joining the document takes, as measured here
    tracemalloc.start()
    try:
        hashed = files_mod.signed_json_digest(settings, loaded)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashed == hashlib.sha256(body).hexdigest()
    assert peak < 1.5 * len(body), (peak, len(body))

    def not_here(*_args: Any) -> Any:
        raise AssertionError("the whole document was built")

    async def digest(session: AsyncSession) -> str:
        return await export_mod.export_digest(session, settings, round_id)

    monkeypatch.setattr(export_mod, "render", not_here)
    monkeypatch.setattr(files_mod, "render", not_here)
    monkeypatch.setattr(files_mod, "signed_json", not_here)
    assert run(settings, digest) == hashed
    monkeypatch.setattr(export_mod, "signed_json_digest", not_here)
    monkeypatch.setattr(files_mod, "signed_json_digest", not_here)
    assert run(settings, digest) == hashed
