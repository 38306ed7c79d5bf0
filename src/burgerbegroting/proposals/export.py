"""Exporting a round's proposals for civil servants: CSV for Dutch spreadsheets, JSON for tools.

What goes out is what staff see in the gallery and on the proposal pages, and no more: every
proposal that is not private to its authors (drafts and withdrawn proposals are left out, by the
same status rule as the gallery), the credited authors' *display names* (never e-mail addresses or
user ids), support *counts* (never who supports), and the moderators' internal feasibility notes
only when a moderator exports (the review form promises "Alleen zichtbaar voor toetsers").

The output is deterministic: rows in id order, fixed column names, no export time in the file, so
the same data gives byte-identical files (``docs/security.md``). Every export is written to the
staff action log before the file leaves the server, because it hands personal data (names) out of
the system.

CSV follows what Dutch Excel expects: UTF-8 with a byte order mark (without it Excel reads UTF-8 as
Windows-1252 and garbles ë, é, €), ``;`` as delimiter (the list separator of the Dutch locale,
where the comma is the decimal sign), amounts with a decimal comma. Text cells that start with
``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading apostrophe, so a spreadsheet shows
them as text instead of running them as a formula (OWASP "CSV Injection"); numbers are left alone.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import msgspec
from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import db
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service as audit
from burgerbegroting.errors import DomainError
from burgerbegroting.i18n import _, babel_locale, to_local
from burgerbegroting.proposals.gallery import GalleryRow, gallery_row, rows_query, visible
from burgerbegroting.proposals.models import Proposal, ProposalAuthor
from burgerbegroting.proposals.schemas import ProposalExportItem, ProposalExportOut
from burgerbegroting.proposals.service import STATUS_LABELS, Actor
from burgerbegroting.rounds import service as rounds


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


# Litestar adds "; charset=utf-8" to text/* media types itself.
MEDIA_TYPES: dict[ExportFormat, str] = {
    ExportFormat.CSV: "text/csv",
    ExportFormat.JSON: "application/json",
}
CSV_DELIMITER = ";"
# OWASP CSV injection: a cell starting with one of these is a formula (or becomes one after the
# spreadsheet trims a leading tab or carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CITY_WIDE = "Stedelijk"


def parse_format(raw: str | None) -> ExportFormat:
    """``csv`` (the default) or ``json``; anything else is a 400 with a Dutch message."""
    value = (raw or ExportFormat.CSV.value).strip().lower()
    try:
        return ExportFormat(value)
    except ValueError:
        # A plain DomainError is "Ongeldig verzoek" (400) in web/errors.py: the request itself is
        # wrong, not the value of a field in a form.
        raise DomainError(
            _("Onbekend formaat voor de download: kies csv of json."),
            fields={"format": _("Kies csv of json.")},
        ) from None


def filename(round_id: int, fmt: ExportFormat) -> str:
    return f"voorstellen-ronde-{round_id}.{fmt.value}"


@dataclass(frozen=True, slots=True)
class RoundExport:
    round_id: int
    round_title: str
    include_internal: bool
    rows: tuple[GalleryRow, ...]
    authors: dict[int, tuple[str, ...]]


async def load_export(
    session: AsyncSession, *, round_id: int, user: Actor, fmt: ExportFormat
) -> RoundExport:
    """The rows of an export of ``round_id`` for staff member ``user``, logged in the audit log.

    A round in preparation is "not found" for everyone but admins, as in the gallery. The request
    is a GET, but it writes the audit line, so its transaction begins as a write (``BEGIN
    IMMEDIATE`` on SQLite): a read transaction that later writes fails with "database is locked"
    when another writer got in between.
    """
    token = db.set_read_only(False)
    try:
        round_ = await rounds.get_visible_round(
            session, round_id, include_drafts=user.has(Role.ADMIN)
        )
        include_internal = user.has(Role.MODERATOR)
        # The same visibility as the gallery for anonymous visitors: a staff member's own drafts
        # (should they also be a resident) are still private and stay out of the file.
        in_round = (Proposal.round_id == round_.id, visible(None))
        stmt = rows_query().where(*in_round).order_by(Proposal.id)
        rows = tuple(gallery_row(r) for r in (await session.execute(stmt)).all())
        names: defaultdict[int, list[str]] = defaultdict(list)
        credits = await session.execute(
            select(ProposalAuthor.proposal_id, User.display_name, ProposalAuthor.organisation_name)
            .join(User, User.id == ProposalAuthor.user_id)
            .join(Proposal, Proposal.id == ProposalAuthor.proposal_id)
            .where(*in_round)
            # As on the proposal page: the author, then co-authors in the order they were added.
            .order_by(ProposalAuthor.proposal_id, ProposalAuthor.role, ProposalAuthor.id)
        )
        for proposal_id, display_name, organisation in credits.all():
            # A co-author who accepted for an organisation is credited with it, as on the page.
            names[proposal_id].append(
                f"{display_name} ({organisation})" if organisation else display_name
            )
        # Who exported which round in which format. Nothing of the file itself is copied into the
        # log (it is append-only: names written there could never be erased).
        await audit.record(
            session,
            actor_id=user.id,
            action="proposal.export",
            subject_type="round",
            subject_id=round_.id,
            details={
                "format": fmt.value,
                "proposals": len(rows),
                "feasibility_notes": include_internal,
            },
        )
    finally:
        db.reset_read_only(token)
    return RoundExport(
        round_id=round_.id,
        round_title=round_.title,
        include_internal=include_internal,
        rows=rows,
        authors={k: tuple(v) for k, v in names.items()},
    )


# --- values -------------------------------------------------------------------------------------


def euro_decimal(cents: int | None) -> str | None:
    """Integer cents as an exact decimal string for JSON: 1250050 -> "12500.50"."""
    if cents is None:
        return None
    return f"{Decimal(cents).scaleb(-2):.2f}"


def euro_cell(cents: int | None) -> str:
    """Integer cents as Dutch Excel reads a number: 1250050 -> "12500,50" (no grouping, no €).

    ``i18n.format_money`` gives "€ 12.500,50" with a non-breaking space, which a spreadsheet
    keeps as text; here the same exact Decimal is formatted with the Dutch decimal comma only.
    """
    if cents is None:
        return ""
    return format_decimal(Decimal(cents).scaleb(-2), format="0.00", locale=babel_locale("nl"))


def utc_cell(value: datetime | None) -> str:
    """ISO 8601 in UTC to the second: ``2027-03-03T13:05:00Z``."""
    if value is None:
        return ""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_cell(value: datetime | None) -> str:
    """Europe/Amsterdam wall time that Dutch Excel reads as a date: ``2027-03-03 14:05:00``."""
    if value is None:
        return ""
    return to_local(value).strftime("%Y-%m-%d %H:%M:%S")


def neutralise(text: str) -> str:
    """Prefix an apostrophe when a text cell would start a spreadsheet formula (OWASP)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# --- CSV ----------------------------------------------------------------------------------------

Cell = Callable[[RoundExport, GalleryRow], str | None]


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    value: Cell
    text: bool = True
    """Text cells are neutralised against formula injection; numbers, amounts and times are not
    (they are produced here from integers and datetimes and cannot start a formula)."""


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _internal(export: RoundExport, row: GalleryRow) -> str | None:
    return row.proposal.feasibility_notes if export.include_internal else None


# The headers are a fixed contract for spreadsheets and scripts: not translated, so a file means
# the same whoever downloads it; each time column says its zone.
COLUMNS: tuple[Column, ...] = (
    Column("Id", lambda e, r: _number(r.proposal.id), text=False),
    Column("Status (code)", lambda e, r: r.proposal.status),
    Column("Status", lambda e, r: STATUS_LABELS.get(r.proposal.status, r.proposal.status)),
    Column("Titel", lambda e, r: r.proposal.title),
    Column("Samenvatting", lambda e, r: r.proposal.summary),
    Column("Beschrijving", lambda e, r: r.proposal.description),
    Column("Beoogd maatschappelijk effect", lambda e, r: r.proposal.societal_effect),
    Column("Doelgroep", lambda e, r: r.proposal.target_group),
    Column("Thema", lambda e, r: r.theme_name),
    Column(
        "Wijk",
        lambda e, r: r.district_name if r.proposal.district_id is not None else CITY_WIDE,
    ),
    Column("Locatie", lambda e, r: r.proposal.location),
    Column("Organisatie (uitdaagrecht)", lambda e, r: r.proposal.organisation_name),
    Column("Indieners", lambda e, r: ", ".join(e.authors.get(r.proposal.id, ()))),
    Column(
        "Kosten inwoner (cent)", lambda e, r: _number(r.proposal.estimated_cost_cents), text=False
    ),
    Column(
        "Kosten inwoner (euro)", lambda e, r: euro_cell(r.proposal.estimated_cost_cents), text=False
    ),
    Column(
        "Kosten gemeente (cent)", lambda e, r: _number(r.proposal.municipal_cost_cents), text=False
    ),
    Column(
        "Kosten gemeente (euro)",
        lambda e, r: euro_cell(r.proposal.municipal_cost_cents),
        text=False,
    ),
    Column("Aantal steunbetuigingen", lambda e, r: _number(r.support_count), text=False),
    Column("Haalbaarheid (intern)", _internal),
    Column("Openbare toelichting", lambda e, r: r.proposal.public_reasoning),
    Column("Besluit (UTC, ISO 8601)", lambda e, r: utc_cell(r.proposal.reviewed_at), text=False),
    Column(
        "Besluit (Europe/Amsterdam)", lambda e, r: local_cell(r.proposal.reviewed_at), text=False
    ),
    Column("Samengevoegd met (id)", lambda e, r: _number(r.proposal.merged_into_id), text=False),
    Column("Ingediend (UTC, ISO 8601)", lambda e, r: utc_cell(r.proposal.submitted_at), text=False),
    Column(
        "Ingediend (Europe/Amsterdam)",
        lambda e, r: local_cell(r.proposal.submitted_at),
        text=False,
    ),
)
TEXT_HEADERS: tuple[str, ...] = tuple(c.header for c in COLUMNS if c.text)


def _csv_row(export: RoundExport, row: GalleryRow) -> list[str]:
    cells: list[str] = []
    for column in COLUMNS:
        value = column.value(export, row) or ""
        cells.append(neutralise(value) if column.text else value)
    return cells


def to_csv(export: RoundExport) -> bytes:
    """The export as CSV for Dutch Excel: UTF-8 with BOM, ``;``, CRLF, quoting by ``csv``."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    writer.writerows(_csv_row(export, row) for row in export.rows)
    return buffer.getvalue().encode("utf-8-sig")


# --- JSON ---------------------------------------------------------------------------------------


def _item(export: RoundExport, row: GalleryRow) -> ProposalExportItem:
    p = row.proposal
    return ProposalExportItem(
        id=p.id,
        status=p.status,
        status_label=STATUS_LABELS.get(p.status, p.status),
        title=p.title,
        summary=p.summary,
        description=p.description,
        societal_effect=p.societal_effect,
        target_group=p.target_group,
        theme=row.theme_name,
        district=row.district_name if p.district_id is not None else None,
        city_wide=p.district_id is None,
        location=p.location,
        organisation_name=p.organisation_name,
        right_to_challenge=p.is_right_to_challenge,
        authors=list(export.authors.get(p.id, ())),
        estimated_cost_cents=p.estimated_cost_cents,
        estimated_cost_euro=euro_decimal(p.estimated_cost_cents),
        municipal_cost_cents=p.municipal_cost_cents,
        municipal_cost_euro=euro_decimal(p.municipal_cost_cents),
        support_count=row.support_count,
        feasibility_notes=_internal(export, row),
        public_reasoning=p.public_reasoning,
        reviewed_at=p.reviewed_at,
        merged_into_id=p.merged_into_id,
        submitted_at=p.submitted_at,
    )


def to_json(export: RoundExport) -> bytes:
    """The export as JSON in the documented ``ProposalExportOut`` shape (msgspec, UTF-8)."""
    return msgspec.json.encode(
        ProposalExportOut(
            round_id=export.round_id,
            round_title=export.round_title,
            includes_feasibility_notes=export.include_internal,
            items=[_item(export, row) for row in export.rows],
        )
    )


RENDERERS: dict[ExportFormat, Callable[[RoundExport], bytes]] = {
    ExportFormat.CSV: to_csv,
    ExportFormat.JSON: to_json,
}


def render(export: RoundExport, fmt: ExportFormat) -> bytes:
    return RENDERERS[fmt](export)
