"""Helpers for results tests: casting through the real API and reading page tables as text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from litestar import Litestar
from litestar.testing import TestClient

from tests.voting.factories import redeem


def cast(
    client: TestClient[Litestar], round_id: int, code: str, *ballots: dict[str, object]
) -> None:
    """Redeem ``code`` and cast each ballot in turn (the last one counts)."""
    voter = redeem(client, code)
    for ballot in ballots:
        response = client.put(f"/api/v1/rounds/{round_id}/ballot", json=ballot, headers=voter)
        assert response.status_code == 200, response.text


class _Tables(HTMLParser):
    """Captions and rows of every table, cell text joined with " | "."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            self.lines.append(_clean("".join(self._caption)))
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(_clean("".join(self._cell)))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.lines.append(" | ".join(self._row))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def table_lines(html: str) -> list[str]:
    parser = _Tables()
    parser.feed(html)
    return parser.lines
