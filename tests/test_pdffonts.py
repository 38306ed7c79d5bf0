"""The PDF fonts: every name prints as written, a character the font lacks as "?" (not nothing),
and the fonts ship in the wheel."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from fpdf import FPDF

from burgerbegroting import pdffonts

ROOT = Path(__file__).resolve().parents[1]


def _pdf(family: str = pdffonts.SANS, style: str = "") -> FPDF:
    pdf = FPDF()
    pdffonts.add_fonts(pdf)
    pdf.set_font(family, style, 10)
    return pdf


def test_names_outside_windows_1252_are_kept_in_every_face() -> None:
    text = "Kuşadası, Łódź, Győr, Čapek, İstanbul, Ĳsselstein € …"
    for family in (pdffonts.SANS, pdffonts.MONO):
        for style in ("", "B"):
            assert pdffonts.printable(_pdf(family, style), text) == text


def test_a_character_the_font_lacks_becomes_a_question_mark() -> None:
    assert pdffonts.printable(_pdf(), "Feest 🎉 in 北京\nWijk Noord") == "Feest ? in ??\nWijk Noord"


def test_decomposed_letters_are_composed_first() -> None:
    # "C" + combining caron (as some keyboards and macOS file names produce it) is one glyph.
    assert pdffonts.printable(_pdf(), "C\u030capek") == "Čapek"


def test_the_wheel_and_sdist_include_every_vendored_font_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["burgerbegroting"]
    package = ROOT / "src" / "burgerbegroting"
    files = sorted(p.relative_to(package).as_posix() for p in pdffonts.FONT_DIR.iterdir())
    assert {"fonts/DejaVuSans.ttf", "fonts/LICENSE"} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
