"""The TrueType fonts the PDFs (council report, voting letters) embed, and text made printable.

fpdf2's core fonts (Helvetica, Courier) hold only Windows-1252: a name such as "Kuşadası",
"Łódź", "Győr", "Čapek" or "İstanbul" printed as "?" there. These are DejaVu Sans and DejaVu Sans
Mono (regular and bold, the styles the PDFs use), vendored unmodified under ``fonts/`` with their
licence by ``scripts/vendor-fonts`` (which records the Debian package and SHA-256 of each file in
``fonts/VERSIONS``). fpdf2 embeds only the glyphs a document uses, so a PDF grows by tens of KB,
not by the 2 MB of the files; parsing the four files takes about 0.1 s per document.

A character none of these fonts has (emoji, Chinese) would silently vanish from the text: fpdf2
drops it and only logs. :func:`printable` shows it as "?" instead, so a reader sees that something
was there.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fpdf import FPDF

SANS = "DejaVuSans"
MONO = "DejaVuSansMono"
FONT_DIR = Path(__file__).parent / "fonts"
_FILES = {
    (SANS, ""): "DejaVuSans.ttf",
    (SANS, "B"): "DejaVuSans-Bold.ttf",
    (MONO, ""): "DejaVuSansMono.ttf",
    (MONO, "B"): "DejaVuSansMono-Bold.ttf",
}
REPLACEMENT = "?"


def add_fonts(pdf: FPDF) -> None:
    """Register the sans and mono families (regular and bold) with ``pdf``."""
    for (family, style), name in _FILES.items():
        pdf.add_font(family, style, str(FONT_DIR / name))


@contextmanager
def embedded_fonts(pdf: FPDF) -> Iterator[FPDF]:
    """:func:`add_fonts`, and the font files closed when the document is done. fontTools reads a
    font lazily and keeps its file open until the font is closed; left to the garbage collector,
    every PDF leaked four open files (a ResourceWarning wherever the collector happened to run)."""
    add_fonts(pdf)
    try:
        yield pdf
    finally:
        for font in pdf.fonts.values():
            ttfont = getattr(font, "ttfont", None)
            if ttfont is not None:
                ttfont.close()


def printable(pdf: FPDF, text: str) -> str:
    """``text`` in composed form (NFC: "C" + combining caron becomes "Č", which the font has as
    one glyph), with every character the current font lacks shown as "?" instead of vanishing.
    Line breaks and tabs stay: the layout functions handle them before any glyph is looked up."""
    text = unicodedata.normalize("NFC", text)
    cmap = getattr(pdf.current_font, "cmap", None)
    if cmap is None:  # no TrueType font set: nothing to check against
        return text
    if all(ord(ch) in cmap or ch in "\n\r\t" for ch in text):
        return text
    return "".join(ch if ord(ch) in cmap or ch in "\n\r\t" else REPLACEMENT for ch in text)
