"""The PDF fonts: every name prints as written, a character the font lacks as "?" (not nothing),
and the fonts ship in the wheel."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from fpdf import FPDF

from burgerbegroting import pdffonts

ROOT = Path(__file__).resolve().parents[1]


def _printed(text: str, family: str = pdffonts.SANS, style: str = "") -> str:
    with pdffonts.embedded_fonts(FPDF()) as pdf:
        pdf.set_font(family, style, 10)
        return pdffonts.printable(pdf, text)


def _open_font_files() -> list[str]:
    """The font files this process holds open (Linux: /proc/self/fd)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith(str(pdffonts.FONT_DIR)):
            found.append(target)
    return found


def test_names_outside_windows_1252_are_kept_in_every_face() -> None:
    text = "Kuşadası, Łódź, Győr, Čapek, İstanbul, Ĳsselstein € …"
    for family in (pdffonts.SANS, pdffonts.MONO):
        for style in ("", "B"):
            assert _printed(text, family, style) == text


def test_a_character_the_font_lacks_becomes_a_question_mark() -> None:
    assert _printed("Feest 🎉 in 北京\nWijk Noord") == "Feest ? in ??\nWijk Noord"


def test_decomposed_letters_are_composed_first() -> None:
    # "C" + combining caron (as some keyboards and macOS file names produce it) is one glyph.
    assert _printed("C\u030capek") == "Čapek"


def test_a_pdf_left_unwritten_leaves_no_font_file_open() -> None:
    # fontTools reads fonts lazily and keeps the files open until fpdf2 writes the document. A
    # document never written (a refusal half-way, or a test that only measures text) left four
    # files to the garbage collector, which raised ResourceWarnings in whatever test ran next
    # (a CI failure far from any PDF).
    before = _open_font_files()
    with pdffonts.embedded_fonts(FPDF()) as pdf:
        pdf.add_page()
        pdf.set_font(pdffonts.SANS, "B", 12)
        pdf.cell(text="Łódź")
        assert len(_open_font_files()) == len(before) + 4  # read from open files
    assert _open_font_files() == before


def test_the_wheel_and_sdist_include_every_vendored_font_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["burgerbegroting"]
    package = ROOT / "src" / "burgerbegroting"
    files = sorted(p.relative_to(package).as_posix() for p in pdffonts.FONT_DIR.iterdir())
    assert {"fonts/DejaVuSans.ttf", "fonts/LICENSE"} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
