"""What the municipality prints from a batch of voting codes: a mail-merge CSV and letters (PDF).

Plain codes exist only in the answer that issued them (``roll.issue_codes``): this module turns
that answer into files and stores nothing. No name or address is in them: the municipality (or
its printer) merges the CSV with the population register, which this system never sees (AVG).

**CSV** for Dutch Excel and mail-merge: UTF-8 with a byte order mark, ``;`` as separator, one row
per code: batch, district, age band, code, booth link. The column names are a fixed data format
(a mail-merge template refers to them), so they are not translated. Every text cell is neutralised
against formula injection the way ``proposals/export.py`` does it (a district name is typed by an
admin and could start with ``=``).

**Letters** (PDF, one A4 page per code): municipality, round, the voting address, the code and a
QR code that opens the booth with the code filled in: ``{BB_BASE_URL}/stemmen#code=XXXX-…``. The
code travels in the *fragment*, which a browser never sends to the server, so it appears in no
access log; the booth reads it with JavaScript and a resident without a camera types it.

The PDF is built with fpdf2 (pure Python) with DejaVu Sans and DejaVu Sans Mono embedded
(``burgerbegroting.pdffonts``): a round title or district name such as "Łódź" or "İstanbul" prints
as it is written, where fpdf2's built-in fonts (Windows-1252 only) printed "?". fpdf2 keeps the whole document
in memory until it is written, about 20 KB per page here, and takes a few milliseconds per page
(``docs/performance.md``), so one download holds at most ``MAX_PDF_LETTERS`` letters: bigger print
runs go to the printer as CSV, or are issued in several batches.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import IO, BinaryIO

import segno
from fpdf import FPDF

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.i18n import _, format_datetime
from burgerbegroting.pdffonts import MONO, SANS, embedded_fonts, printable

BOOTH_PATH = "/stemmen"
MAX_PDF_LETTERS = 5_000
"""Letters in one PDF download: about 30 s and 180 MB of memory on the reference machine."""
CSV_DELIMITER = ";"
CSV_COLUMNS = ("reeks", "wijk", "leeftijdsgroep", "stemcode", "stemlink")
CITY_WIDE = "Stedelijk"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PROGRESS_EVERY = 500

# Page layout in millimetres (A4 portrait).
_LEFT = 25.0
_WIDTH = 160.0
_QR_SIZE = 45.0
_LINE = 5.5


class LetterFormat(StrEnum):
    """What the issue form (and the CLI) hands out."""

    CSV = "csv"
    PDF = "pdf"
    ZIP = "zip"  # the CSV and the PDF together


MEDIA_TYPES: dict[LetterFormat, str] = {
    LetterFormat.CSV: "text/csv",
    LetterFormat.PDF: "application/pdf",
    LetterFormat.ZIP: "application/zip",
}


@dataclass(frozen=True, slots=True)
class LetterBatch:
    """One issued batch and what its letters say around the codes."""

    municipality: str
    base_url: str
    round_id: int
    round_title: str
    batch_id: int
    district_name: str | None
    age_band: str | None
    codes: list[str]
    closes_at: datetime | None = None


def booth_url(base_url: str, code: str) -> str:
    """The address in the QR code: the booth, with the code in the fragment (never sent)."""
    return f"{base_url.rstrip('/')}{BOOTH_PATH}#code={code}"


def booth_address(base_url: str) -> str:
    """The address printed on the letter for residents who type it."""
    return f"{base_url.rstrip('/')}{BOOTH_PATH}"


def qr_code(base_url: str, code: str) -> segno.QRCode:
    """The QR code of a letter: error level M (readable with a crease or a stain), mask fixed.

    Fixing the mask skips segno's evaluation of all eight, which is most of its time: a fixed mask
    gives a valid code that every reader decodes, at 100,000 letters a saving of minutes."""
    return segno.make(booth_url(base_url, code), error="m", mask=0, micro=False, boost_error=False)


def check_format(fmt: LetterFormat, count: int) -> None:
    """Refuse a PDF too big to build in one request, *before* any code is issued."""
    if fmt in {LetterFormat.PDF, LetterFormat.ZIP} and count > MAX_PDF_LETTERS:
        limit = f"{MAX_PDF_LETTERS:,}".replace(",", ".")
        raise ValidationFailed(
            _(
                "Brieven als PDF kunnen voor hoogstens %(max)s codes tegelijk. Kies CSV voor de "
                "drukker, of geef de codes uit in meerdere reeksen.",
                max=limit,
            ),
            fields={"output": _("PDF: hoogstens %(max)s codes per reeks.", max=limit)},
        )


def filename(letters: LetterBatch, fmt: LetterFormat) -> str:
    return f"stemcodes-ronde-{letters.round_id}-reeks-{letters.batch_id}.{fmt.value}"


# --- CSV -------------------------------------------------------------------------------------------


def _cell(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_rows(letters: LetterBatch) -> Iterable[tuple[str, ...]]:
    district = letters.district_name if letters.district_name is not None else CITY_WIDE
    fixed = (str(letters.batch_id), _cell(district), _cell(letters.age_band or ""))
    for code in letters.codes:
        yield (*fixed, code, _cell(booth_url(letters.base_url, code)))


def write_csv(letters: LetterBatch, out: IO[str]) -> None:
    """Write the mail-merge CSV to a text stream (the caller opens it with ``newline=""``)."""
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(letters))


def csv_bytes(letters: LetterBatch) -> bytes:
    buffer = io.StringIO(newline="")
    write_csv(letters, buffer)
    return buffer.getvalue().encode("utf-8")


# --- letters (PDF) -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Texts:
    """Everything on a letter but the code: laid out once, drawn on every page."""

    heading: list[str]
    intro: list[str]
    details: list[str]
    qr_caption: list[str]
    footer: list[str]


def _wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Greedy word wrap at ``width`` mm in the current font (laid out once per batch)."""
    lines: list[str] = []
    current = ""
    for word in printable(pdf, text).split():
        candidate = f"{current} {word}" if current else word
        if current and pdf.get_string_width(candidate) > width:
            lines.append(current)
            candidate = word
        current = candidate
    if current:
        lines.append(current)
    return lines


def _layout(pdf: FPDF, letters: LetterBatch) -> _Texts:
    address = booth_address(letters.base_url)
    pdf.set_font(SANS, "B", 15)
    heading = _wrap(pdf, _("Uw stemcode voor %(round)s", round=letters.round_title), _WIDTH)
    pdf.set_font(SANS, "", 11)
    intro = _wrap(
        pdf,
        _(
            "U mag meebeslissen waar de gemeente geld aan uitgeeft. Ga naar %(address)s en vul "
            "de stemcode hieronder in, of scan de QR-code met de camera van uw telefoon.",
            address=address,
        ),
        _WIDTH,
    )
    details: list[str] = []
    if letters.district_name is not None:
        details.append(printable(pdf, _("Wijk: %(district)s", district=letters.district_name)))
    if letters.closes_at is not None:
        details.append(
            printable(
                pdf,
                _("Stemmen kan tot %(moment)s.", moment=format_datetime(letters.closes_at, "long")),
            )
        )
    caption = _wrap(
        pdf, _("Scan deze code om meteen naar het stemhokje te gaan."), _WIDTH - _QR_SIZE - 10
    )
    footer = _wrap(
        pdf,
        _(
            "Deze code is persoonlijk: geef hem niet aan een ander. Niemand kan zien wat u kiest, "
            "want uw stem is niet aan uw naam gekoppeld. U kunt uw keuze veranderen zolang het "
            "stemmen open is; de laatste keuze telt. Liever op papier of met hulp stemmen? Neem "
            "contact op met de gemeente."
        ),
        _WIDTH,
    )
    return _Texts(heading, intro, details, caption, footer)


def _draw_qr(pdf: FPDF, qr: segno.QRCode, x: float, y: float, size: float) -> None:
    """The QR code as filled rectangles, one per horizontal run of dark modules, in one path.

    Written with fpdf2's low-level ``_out`` (fpdf2 is pinned): drawing the same rectangles one by
    one through ``FPDF.rect`` or embedding a PNG per letter doubles the time per letter. The
    letters test decodes the code back from these rectangles, so a change in fpdf2 shows there."""
    matrix = qr.matrix
    module = size / len(matrix)
    k = pdf.k
    top = pdf.h
    ops: list[str] = []
    for row_index, row in enumerate(matrix):
        width = len(row)
        col = 0
        y_pt = (top - y - (row_index + 1) * module) * k
        while col < width:
            if not row[col]:
                col += 1
                continue
            start = col
            while col < width and row[col]:
                col += 1
            ops.append(
                f"{(x + start * module) * k:.3f} {y_pt:.3f} "
                f"{(col - start) * module * k:.3f} {module * k:.3f} re"
            )
    ops.append("f")
    pdf._out("0 g\n" + "\n".join(ops))  # private on purpose: see the docstring


def _lines(pdf: FPDF, lines: list[str], x: float, y: float, step: float = _LINE) -> float:
    for line in lines:
        pdf.text(x, y, line)
        y += step
    return y


def write_pdf(
    letters: LetterBatch,
    out: BinaryIO,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write one A4 letter per code to ``out``."""
    if len(letters.codes) > MAX_PDF_LETTERS:
        check_format(LetterFormat.PDF, len(letters.codes))
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    with embedded_fonts(pdf):
        pdf.set_auto_page_break(auto=False)
        # Document properties are stored as UTF-16 text: no font involved.
        pdf.set_title(letters.round_title)
        pdf.set_author(letters.municipality)
        pdf.set_creator("Burgerbegroting")
        texts = _layout(pdf, letters)
        pdf.set_font(SANS, "B", 18)
        municipality = printable(pdf, letters.municipality)
        pdf.set_font(SANS, "", 9)
        batch_line = printable(pdf, _("Reeks %(batch)s", batch=letters.batch_id))
        total = len(letters.codes)
        for index, code in enumerate(letters.codes):
            pdf.add_page()
            pdf.set_font(SANS, "B", 18)
            pdf.text(_LEFT, 28, municipality)
            pdf.set_font(SANS, "B", 15)
            y = _lines(pdf, texts.heading, _LEFT, 95, 7)
            pdf.set_font(SANS, "", 11)
            y = _lines(pdf, texts.intro, _LEFT, y + 4)
            y = _lines(pdf, texts.details, _LEFT, y + 2)
            pdf.set_font(MONO, "B", 24)
            pdf.text(_LEFT, y + 12, code)
            qr_top = y + 22
            _draw_qr(pdf, qr_code(letters.base_url, code), _LEFT, qr_top, _QR_SIZE)
            pdf.set_font(SANS, "", 11)
            _lines(pdf, texts.qr_caption, _LEFT + _QR_SIZE + 10, qr_top + 8)
            pdf.set_font(SANS, "", 9)
            _lines(pdf, texts.footer, _LEFT, 255, 4.5)
            pdf.text(_LEFT, 285, batch_line)
            if progress is not None and ((index + 1) % PROGRESS_EVERY == 0 or index + 1 == total):
                progress(index + 1, total)
        pdf.output(out)


def pdf_bytes(letters: LetterBatch) -> bytes:
    buffer = io.BytesIO()
    write_pdf(letters, buffer)
    return buffer.getvalue()


# --- the download ------------------------------------------------------------------------------------


def zip_bytes(letters: LetterBatch) -> bytes:
    """The CSV and the letters in one ZIP (the PDF is already compressed inside)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(filename(letters, LetterFormat.CSV), csv_bytes(letters))
        archive.writestr(
            filename(letters, LetterFormat.PDF),
            pdf_bytes(letters),
            compress_type=zipfile.ZIP_STORED,
        )
    return buffer.getvalue()


def render(letters: LetterBatch, fmt: LetterFormat) -> bytes:
    """The download's bytes in ``fmt``."""
    if fmt is LetterFormat.CSV:
        return csv_bytes(letters)
    if fmt is LetterFormat.PDF:
        return pdf_bytes(letters)
    return zip_bytes(letters)
