"""``burgerbegroting codes issue`` and the demo's codes: files with the plain codes, hashes only in
the database, nothing stored when the command refuses."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from pypdf import PdfReader

from burgerbegroting.cli import build_parser
from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes as codes_mod
from burgerbegroting.voting import letters
from burgerbegroting.voting.cli import DEMO_CODES, demo_codes
from tests.voting.factories import open_round, redeem, scalar
from tests.voting.test_admin_pages import _csv_rows


def _run(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["codes", "issue", *argv])
    status: int = args.handler(args, settings)
    return status


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the command writes (tmp_path itself holds the SQLite database)."""
    path = tmp_path / "uit"
    path.mkdir()
    return path


def _stored(settings: Settings) -> tuple[int, int]:
    return (
        scalar(settings, "SELECT count(*) FROM code_batches"),
        scalar(settings, "SELECT count(*) FROM voting_codes"),
    )


def test_issue_writes_a_csv_with_the_codes_and_stores_only_their_hashes(
    settings: Settings, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vr = open_round(settings)
    out = folder / "brieven.csv"
    status = _run(
        settings,
        "--round", str(vr.round_id),
        "--district", str(vr.districts[0]),
        "--count", "7",
        "--age-band", "67+",
        "--out", str(out),
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Stemcodes: 7/7" in captured.err
    assert str(out) in captured.out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    header, *rows = _csv_rows(out.read_bytes())
    assert header == list(letters.CSV_COLUMNS)
    assert len(rows) == 7
    assert {(row[1], row[2]) for row in rows} == {("Noord", "67+")}
    assert _stored(settings) == (1, 7)
    key = codes_mod.code_key(settings)
    for row in rows:
        normalised = codes_mod.normalise(row[3])
        assert normalised is not None
        digest = codes_mod.hash_code(key, normalised)
        assert (
            scalar(settings, "SELECT count(*) FROM voting_codes WHERE code_hash = :h", h=digest)
            == 1
        )
        assert (
            scalar(
                settings,
                "SELECT count(*) FROM voting_codes WHERE code_hash LIKE :c",
                c=f"%{normalised}%",
            )
            == 0
        )
    assert not list(folder.glob(".*.tmp"))


def test_issue_with_pdf_letters(settings: Settings, folder: Path) -> None:
    vr = open_round(settings)
    out, pdf = folder / "codes.csv", folder / "brieven.pdf"
    status = _run(
        settings, "--round", str(vr.round_id), "--count", "2", "--out", str(out), "--pdf", str(pdf)
    )
    assert status == 0
    rows = _csv_rows(out.read_bytes())[1:]
    pages = PdfReader(io.BytesIO(pdf.read_bytes())).pages
    assert len(pages) == 2
    assert [
        row[3] in (page.extract_text() or "") for row, page in zip(rows, pages, strict=True)
    ] == [True, True]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--district", "987654"], 1),
        (["--count", "0"], 1),
        (["--count", str(letters.MAX_PDF_LETTERS + 1), "--pdf", "brieven.pdf"], 1),
    ],
)
def test_a_refused_issue_stores_nothing_and_leaves_no_file(
    settings: Settings,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    expected: int,
) -> None:
    vr = open_round(settings)
    out = folder / "codes.csv"
    argv = ["--round", str(vr.round_id), "--count", "3", "--out", str(out)]
    argv += [str(folder / a) if a.endswith(".pdf") else a for a in extra]
    assert _run(settings, *argv) == expected
    assert capsys.readouterr().err.strip()
    assert _stored(settings) == (0, 0)
    assert list(folder.iterdir()) == []


def test_an_existing_file_is_never_overwritten(settings: Settings, folder: Path) -> None:
    vr = open_round(settings)
    out = folder / "codes.csv"
    out.write_text("eerdere codes")
    assert _run(settings, "--round", str(vr.round_id), "--count", "3", "--out", str(out)) == 2
    assert out.read_text() == "eerdere codes"
    assert _stored(settings) == (0, 0)


def test_demo_codes_open_the_booth_and_a_second_run_prints_the_same(
    settings: Settings, client: TestClient[Litestar]
) -> None:
    vr = open_round(settings)
    first = demo_codes(settings, "Burgerbegroting Stemtest")
    lines = [line.split() for line in first.splitlines() if "#code=" in line]
    assert len(lines) == DEMO_CODES
    for code, url in lines:
        assert url == f"{settings.base_url}/stemmen#code={code}"
    audit = scalar(settings, "SELECT count(*) FROM audit_log")
    assert _stored(settings) == (1, DEMO_CODES)
    assert demo_codes(settings, "Burgerbegroting Stemtest") == first
    assert _stored(settings) == (1, DEMO_CODES)
    assert scalar(settings, "SELECT count(*) FROM audit_log") == audit
    voter = redeem(client, lines[0][0])
    booth = client.get(f"/api/v1/rounds/{vr.round_id}/ballot", headers=voter)
    assert booth.status_code == 200


def test_the_same_file_for_csv_and_pdf_is_refused_before_anything_is_issued(
    settings: Settings, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vr = open_round(settings)
    out = folder / "codes.csv"
    same = folder / "." / "codes.csv"  # the same file, spelled differently
    status = _run(
        settings, "--round", str(vr.round_id), "--count", "2", "--out", str(out), "--pdf", str(same)
    )
    assert status == 2
    assert capsys.readouterr().err.strip() == ("Kies voor --pdf een ander bestand dan voor --out.")
    assert _stored(settings) == (0, 0)
    assert list(folder.iterdir()) == []
