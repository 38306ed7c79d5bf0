"""The mail-merge CSV and the letters: Dutch Excel's format, no formula injection, one A4 per code
with the round and the code on it, and a QR code that decodes to the booth link."""

from __future__ import annotations

import csv
import io
import re

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from pypdf import PdfReader

from burgerbegroting.errors import ValidationFailed
from burgerbegroting.voting import letters
from burgerbegroting.voting.codes import new_code, normalise

BASE = "https://stemmen.voorbeeld.nl"
A4_HEIGHT_PT = 841.89
_RECT = re.compile(r"(-?[\d.]+) (-?[\d.]+) ([\d.]+) ([\d.]+) re")


def _batch(
    codes: list[str], *, title: str = "Burgerbegroting 2027", district: str | None = "Noord"
) -> letters.LetterBatch:
    return letters.LetterBatch(
        municipality="Gemeente Voorbeeld",
        base_url=BASE + "/",
        round_id=4,
        round_title=title,
        batch_id=9,
        district_name=district,
        age_band="12-17",
        codes=codes,
    )


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_booth_url_carries_the_code_in_the_fragment() -> None:
    assert letters.booth_url(BASE + "/", "ABCD-EFGH-JKMN-PQR0") == (
        f"{BASE}/stemmen#code=ABCD-EFGH-JKMN-PQR0"
    )


def test_csv_is_utf8_with_bom_semicolons_and_crlf() -> None:
    codes = [new_code() for _ in range(3)]
    content = letters.csv_bytes(_batch(codes, district="Zuidoost-Bijlmer; ë"))
    assert content.startswith(b"\xef\xbb\xbf")
    assert content.count(b"\r\n") == 4
    header, *rows = _rows(content)
    assert header == ["reeks", "wijk", "leeftijdsgroep", "stemcode", "stemlink"]
    assert rows == [
        ["9", "Zuidoost-Bijlmer; ë", "12-17", c, f"{BASE}/stemmen#code={c}"] for c in codes
    ]


def test_city_wide_codes_say_so() -> None:
    (row,) = _rows(letters.csv_bytes(_batch([new_code()], district=None)))[1:]
    assert row[1] == letters.CITY_WIDE


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_never_start_a_formula(start: str) -> None:
    name = f'{start}HYPERLINK("http://kwaad.example")'
    (row,) = _rows(letters.csv_bytes(_batch([new_code()], district=name)))[1:]
    assert row[1] == "'" + name


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_district_name_round_trips_as_one_text_cell(name: str) -> None:
    code = new_code()
    (row,) = _rows(letters.csv_bytes(_batch([code], district=name)))[1:]
    assert row[3] == code
    assert row[1] in {name, "'" + name}
    assert not row[1].startswith(letters.FORMULA_STARTS[:4])


def test_pdf_has_one_page_per_code_with_the_round_and_the_code() -> None:
    codes = [new_code() for _ in range(4)]
    reader = PdfReader(io.BytesIO(letters.pdf_bytes(_batch(codes))))
    assert len(reader.pages) == 4
    for code, page in zip(codes, reader.pages, strict=True):
        text = page.extract_text() or ""
        assert code in text
        assert "Burgerbegroting 2027" in text
        assert "Gemeente Voorbeeld" in text
        assert f"{BASE}/stemmen" in text
        assert "Noord" in text
        assert [c for c in codes if c in text] == [code]


def _qr_image(page: object) -> Image.Image:
    """Paint the page's filled rectangles (the QR code's modules) onto a white image."""
    content = page.get_contents().get_data().decode("latin-1")  # type: ignore[attr-defined]
    image = Image.new("L", (600, 850), 255)
    draw = ImageDraw.Draw(image)
    for match in _RECT.finditer(content):
        x, y, w, h = (float(v) for v in match.groups())
        top = A4_HEIGHT_PT - y - h
        draw.rectangle([x, top, x + w - 0.01, top + h - 0.01], fill=0)
    return image.resize((1200, 1700))


def test_the_qr_code_on_each_letter_decodes_to_its_booth_link() -> None:
    # A real decoder reads the rectangles drawn in the PDF: what a phone camera would see.
    codes = [new_code() for _ in range(3)]
    reader = PdfReader(io.BytesIO(letters.pdf_bytes(_batch(codes))))
    for code, page in zip(codes, reader.pages, strict=True):
        found = [barcode.text for barcode in zxingcpp.read_barcodes(_qr_image(page))]
        assert found == [f"{BASE}/stemmen#code={code}"]
        assert normalise(found[0].split("#code=")[1]) is not None


NAMES = ("Kuşadası", "Łódź", "Győr", "Čapek", "İstanbul")


def test_names_outside_windows_1252_print_as_written() -> None:
    # The PDF's core fonts printed these as "Ku?adas?", "?ód?", "Gy?r", "?apek", "?stanbul".
    code = new_code()
    title = "Burgerbegroting " + " ".join(NAMES)
    pdf = letters.pdf_bytes(_batch([code], title=title, district="Wijk " + NAMES[1]))
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text() or ""
    assert code in text
    for name in NAMES:
        assert text.count(name) >= 1, name
    assert f"Wijk: Wijk {NAMES[1]}" in text
    # Everything above the code: the title, the intro, the district (the footer asks a question).
    assert "?" not in text.split(code)[0]


def test_a_character_the_font_lacks_prints_as_a_question_mark_not_nothing() -> None:
    code = new_code()
    pdf = letters.pdf_bytes(_batch([code], title="Budget 🎉 Ĳsselstein €"))
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text() or ""
    assert code in text
    assert "Budget ? Ĳsselstein €" in text


def test_pdf_letters_are_limited_per_batch() -> None:
    letters.check_format(letters.LetterFormat.PDF, letters.MAX_PDF_LETTERS)
    letters.check_format(letters.LetterFormat.CSV, letters.MAX_PDF_LETTERS * 10)
    for fmt in (letters.LetterFormat.PDF, letters.LetterFormat.ZIP):
        with pytest.raises(ValidationFailed) as refused:
            letters.check_format(fmt, letters.MAX_PDF_LETTERS + 1)
        assert "output" in refused.value.fields
