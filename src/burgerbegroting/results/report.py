"""The council report (raadsinformatiebrief): what the printable page and the PDF contain.

The PDF holds its tables as text, so it can be searched, copied and read aloud, and a test can
extract it. It embeds DejaVu Sans (``burgerbegroting.pdffonts``), so titles and names print as they
are written ("Kuşadası", "Łódź", "İstanbul"); only a character that font lacks (emoji, Chinese)
prints as "?", in the PDF only: the page shows it as it is.

The report names two digests: the SHA-256 of the audit export (``audit.export``: deterministic,
so anyone who downloads the JSON export gets these very bytes) and that of the stored results
document (``round_results.digest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.audit import export as exports
from burgerbegroting.i18n import _, format_datetime, format_money, get_language
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.pdffonts import MONO, SANS, embedded_fonts, printable
from burgerbegroting.results.service import ElectionView, ResultsView
from burgerbegroting.results.texts import LEFTOVER_NOTE, RULE_NAMES, TIE_BREAK_NAMES
from burgerbegroting.settings import Settings
from burgerbegroting.voting.ballots import election_order

BALLOT_TYPE_TEXTS: dict[str, str] = {
    "knapsack": N_("projecten kiezen die samen binnen het budget passen"),
    "approval": N_("hoogstens een aantal projecten goedkeuren"),
    "cumulative": N_("punten verdelen over projecten"),
    "choose-1": N_("één project kiezen"),
    "ranked": N_("projecten rangschikken"),
}

DIGEST_LABEL = N_("SHA-256 van het opgeslagen uitslagdocument")
EXPORT_DIGEST_LABEL = N_("SHA-256 van de auditexport (JSON)")


async def export_digest(session: AsyncSession, settings: Settings, round_id: int) -> str:
    """SHA-256 of the round's signed JSON audit export (the same bytes every download gets),
    cached once the round is closed (``audit.export.export_digest``)."""
    return await exports.export_digest(session, settings, round_id)


def small_note() -> str:
    """The sentence next to every count shown as "<10" (page and PDF say the same)."""
    return _(
        "Aantallen onder de 10 staan er als %(small)s, zodat niemand herkenbaar is.", small="'<10'"
    )


def percent_text(value: str | None) -> str:
    """A display percentage ("12.5") in the current language: a decimal comma in Dutch."""
    if value is None:
        return "—"
    return value.replace(".", ",") if get_language() == "nl" else value


def election_name(election: ElectionView) -> str:
    if election.district_name is not None:
        return _("Wijk %(name)s", name=election.district_name)
    return _("Hele gemeente")


def definition_rows(view: ResultsView) -> list[tuple[str, str]]:
    """(label, value) of the frozen definition, in the page's language."""
    d: Mapping[str, Any] = view.definition
    budget = d.get("budget", {})
    ballot = d.get("ballot", {})
    rows = [
        (_("Ronde"), f"{view.title} ({_('nr.')} {view.round_id})"),
        (_("Totaal budget"), format_money(int(budget.get("total_cents", 0)))),
        (
            _("Budget"),
            _("per wijk") if budget.get("scope") == "districts" else _("voor de hele gemeente"),
        ),
        (_("Stembiljet"), _(BALLOT_TYPE_TEXTS.get(ballot.get("type", ""), ballot.get("type", "")))),
        (_("Telregel"), f"{_(RULE_NAMES.get(view.rule, view.rule))} ({view.rule})"),
        (
            _("Bij gelijke stand"),
            f"{_(TIE_BREAK_NAMES.get(view.tie_break, view.tie_break))} ({view.tie_break})",
        ),
        (_("Projecten op het stembiljet"), str(len(d.get("projects", [])))),
    ]
    for district in d.get("districts", []):
        if district.get("budget_cents") is not None:
            rows.append(
                (
                    _("Wijk %(name)s", name=district["name"]),
                    format_money(int(district["budget_cents"])),
                )
            )
    for theme in d.get("themes", []):
        if theme.get("max_spend_cents") is not None:
            rows.append(
                (
                    _("Thema %(name)s", name=theme["name"]),
                    _("hoogstens %(amount)s", amount=format_money(int(theme["max_spend_cents"]))),
                )
            )
    return rows


def option_lines(view: ResultsView) -> list[str]:
    """The round's counting options that change who is funded, in plain Dutch (translated): what
    the rule's text does not say by itself. The same sentences as the round page
    (``rounds.counting.describe``), read from the frozen definition the count used."""
    counting: Mapping[str, Any] = view.definition.get("counting", {})
    lines: list[str] = []
    if view.definition.get("ballot", {}).get("type") == "ranked" and view.rule == "greedy":
        scores = counting.get("ranked_scores")
        if scores:
            lines.append(_("Punten per plaats: %(scores)s.", scores=", ".join(map(str, scores))))
        else:
            lines.append(
                _(
                    "Punten per plaats: de eerste keuze krijgt evenveel punten als er projecten "
                    "zijn, de tweede één minder, enzovoort (Borda)."
                )
            )
    if counting.get("threshold") is not None:
        lines.append(
            _(
                "Een project heeft minstens %(n)s stemmen of punten nodig om te worden uitgevoerd.",
                n=counting["threshold"],
            )
        )
    if counting.get("no_skip"):
        lines.append(
            _("De telling stopt bij het eerste project dat niet meer binnen het budget past.")
        )
    if counting.get("leftover") == "fund-by-score":
        lines.append(
            _(
                "Geld dat over blijft doordat thema's hun maximum bereiken, gaat daarna naar de "
                "projecten met de meeste stemmen die nog passen, zonder maximum per thema."
            )
        )
    if view.tie_break == "explicit":
        lines.append(
            _(
                "Bij gelijke stand beslist de vooraf gepubliceerde volgorde van de projecten "
                "(projectnummers, hoogste voorrang eerst): %(order)s.",
                order=", ".join(map(str, counting.get("order") or [])) or "—",
            )
        )
    return lines


def seed_text(view: ResultsView) -> str:
    """How the lot's seed was chosen (Dutch source text)."""
    if view.tie_break != "lowest-cost":
        return N_("Deze telregel voor gelijke stand gebruikt geen loting.")
    if view.seed_fixed:
        return N_("Het zaad van de loting is vooraf vastgelegd, vóór het stemmen opende.")
    return N_(
        "Het zaad van de loting is de vingerafdruk (SHA-256) van de stemmen van de verkiezing "
        "zelf; iedereen kan die uit de auditexport narekenen. Het staat hieronder per verkiezing."
    )


def verify_commands(
    view: ResultsView, base_url: str, public_key_hex: str | None = None
) -> list[tuple[str, str]]:
    """(what it checks, command line) for anyone who wants to check the report themselves.

    ``public_key_hex``: the signing key this report records; the verifier's command pins it, so
    that an export signed with any other key fails (without it the verifier would trust the key
    inside the export and check integrity only)."""
    base = base_url.rstrip("/")
    api = f"{base}/api/v1/rounds/{view.round_id}"
    auth = "-H 'Authorization: Bearer …'"
    commands = [
        (
            _("De vastgelegde spelregels: de uitkomst moet de vingerafdruk zijn."),
            f"curl -s {api}/definition | sha256sum",
        ),
        (
            _(
                "De auditexport (controleurs en beheerders; na publicatie soms iedereen): de uitkomst moet de SHA-256 van de auditexport hierboven zijn."
            ),
            f"curl -s {auth} -o ronde-{view.round_id}-audit.json '{api}/export?format=json' "
            f"&& sha256sum ronde-{view.round_id}-audit.json",
        ),
        (
            _("Het opgeslagen uitslagdocument: de uitkomst moet de SHA-256 hierboven zijn."),
            f"curl -s {auth} {api}/results/document | sha256sum",
        ),
        (
            _("De kop van het stemlogboek: hoogte en hash moeten gelijk zijn aan die hierboven."),
            f"curl -s {api}/log/head",
        ),
        (
            _(
                "De hele export onafhankelijk controleren (handtekening, logboek, elke stem, hertelling) met alleen Python:"
            ),
            f"python -m burgerbegroting.audit.verify verify ronde-{view.round_id}-audit.json"
            + (f" --key {public_key_hex}" if public_key_hex else ""),
        ),
    ]
    counting = view.definition.get("counting", {})
    for election in view.elections:
        label = "city" if election.district_id is None else str(election.district_id)
        seed = f" --seed {election.seed}" if view.seed_fixed and election.seed else ""
        # The round's options the tally command does not take from the file by itself: without
        # them the recount would fund other projects (or refuse the explicit tie-break).
        options = ""
        order = election_order(view.definition, election.district_id)
        if view.tie_break == "explicit" and order:
            options += f" --order {','.join(str(pid) for pid in order)}"
        if counting.get("threshold") is not None:
            options += " --threshold file"
        if counting.get("no_skip"):
            options += " --no-skip"
        commands.append(
            (
                _(
                    "%(name)s zelf hertellen met alleen Python en onze telmachine, op de "
                    "auditexport in pabulib-formaat (voor controleurs).",
                    name=election_name(election),
                ),
                f"curl -s {auth} -o ronde-{view.round_id}-{label}.pb "
                f"'{api}/export?format=pb&district={label}' && "
                f"python -m burgerbegroting.voting.tally ronde-{view.round_id}-{label}.pb "
                f"--rule {view.rule} --tie-break {view.tie_break}{seed}{options} --explain",
            )
        )
    return commands


class _Report(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(SANS, size=8)
        self.cell(0, 8, printable(self, _("Pagina %(page)s", page=self.page_no())), align="C")


def council_report_pdf(
    view: ResultsView,
    *,
    municipality: str,
    base_url: str,
    export_sha256: str,
    signing_key: dict[str, str] | None = None,
) -> bytes:
    """The council report as a PDF whose tables are text."""
    pdf = _Report(format="A4")
    with embedded_fonts(pdf):
        # Document properties are stored as UTF-16 text: no font involved.
        pdf.set_title(_("Raadsinformatiebrief: %(title)s", title=view.title))
        pdf.set_author(municipality)
        pdf.set_creator("burgerbegroting")
        pdf.set_auto_page_break(auto=True, margin=16)
        pdf.add_page()

        def heading(text: str, size: int = 13) -> None:
            pdf.set_font(SANS, style="B", size=size)
            pdf.multi_cell(0, 7, printable(pdf, text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)

        def para(text: str) -> None:
            pdf.set_font(SANS, size=10)
            pdf.multi_cell(0, 5, printable(pdf, text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(2)

        def mono(text: str) -> None:
            pdf.set_font(MONO, size=8)
            pdf.multi_cell(0, 4, printable(pdf, text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)

        def table(rows: list[list[str]], widths: tuple[int, ...] | None = None) -> None:
            pdf.set_font(SANS, size=9)
            with pdf.table(col_widths=widths, text_align="LEFT", line_height=5) as t:
                for row in rows:
                    r = t.row()
                    for cell in row:
                        r.cell(printable(pdf, cell))
            pdf.ln(3)

        heading(_("Raadsinformatiebrief"), 16)
        heading(f"{municipality}: {view.title}", 12)
        status = _("gepubliceerd") if view.published else _("gesloten, nog niet openbaar")
        para(
            _(
                "Uitslag geteld op %(date)s; status: %(status)s.",
                date=format_datetime(view.counted_at, "long"),
                status=status,
            )
        )

        heading(_("Vastgelegde spelregels"))
        table(
            [[_("Onderdeel"), _("Waarde")], *[[a, b] for a, b in definition_rows(view)]], (60, 120)
        )
        para(_("Vingerafdruk (SHA-256) van de definitie:"))
        mono(view.fingerprint)

        heading(_("Zo is geteld"))
        para(_(view.rule_text))
        para(_(view.tie_break_text))
        para(_(seed_text(view)))
        for line in option_lines(view):
            para(line)

        for election in view.elections:
            heading(_("Uitslag: %(name)s", name=election_name(election)))
            para(
                _(
                    "Budget %(budget)s; toegekend %(used)s; over %(left)s. Stemmen: %(ballots)s, "
                    "waarvan %(blank)s blanco.",
                    budget=format_money(election.budget_cents),
                    used=format_money(election.used_cents),
                    left=format_money(election.left_cents),
                    ballots=election.ballots_shown,
                    blank=election.blank_shown,
                )
            )
            if isinstance(election.ballots_shown, str) or isinstance(election.blank_shown, str):
                para(small_note())
            if election.seed is not None:
                para(_("Zaad van de loting: %(seed)s", seed=election.seed))
            if election.per_voter_budget_cents is not None:
                para(
                    _(
                        "Deel van het budget per stemmer: %(share)s (afgerond).",
                        share=format_money(election.per_voter_budget_cents),
                    )
                )
            funded_head = [
                _("Nr"),
                _("Project"),
                _("Punten") if election.scored_by_points else _("Aantal stemmen"),
                _("Kosten"),
                _("Deel van budget"),
            ]
            if view.is_mes:
                funded_head.append(_("Prijs per voorstander"))
            rows = [funded_head]
            for p in election.funded:
                row = [
                    str(p.project_id),
                    p.title + (f" ({_(LEFTOVER_NOTE)})" if p.funded_by_leftover else ""),
                    str(p.votes),
                    format_money(p.cost_cents),
                    f"{percent_text(p.budget_share_percent)} %",
                ]
                if view.is_mes:
                    if p.price_per_voter_cents is not None:
                        row.append(format_money(p.price_per_voter_cents))
                    elif p.price_per_point_cents is not None:
                        row.append(
                            _("%(price)s per punt", price=format_money(p.price_per_point_cents))
                        )
                    else:
                        row.append("-")
                rows.append(row)
            para(_("Gefinancierd"))
            table(rows)
            para(_("Niet gefinancierd"))
            table(
                [
                    [
                        _("Nr"),
                        _("Project"),
                        _("Punten") if election.scored_by_points else _("Aantal stemmen"),
                        _("Kosten"),
                        _("Waarom niet"),
                    ],
                    *[
                        [
                            str(p.project_id),
                            p.title,
                            str(p.votes),
                            format_money(p.cost_cents),
                            _(p.reason_text),
                        ]
                        for p in election.not_funded
                    ],
                ]
            )
            if election.lot_ties:
                para(
                    _(
                        "Gelijke stand beslist door loting: %(groups)s.",
                        groups="; ".join(", ".join(str(i) for i in g) for g in election.lot_ties),
                    )
                )
            if election.comparison is not None:
                c = election.comparison
                para(
                    _(
                        "Ter vergelijking, meeste stemmen eerst op dezelfde stemmen: alleen met gelijke delen "
                        "%(only_mes)s; alleen met meeste stemmen eerst %(only_greedy)s. Stemmers met minstens "
                        "één gefinancierd project: %(mes)s %% (gelijke delen), %(greedy)s %% (meeste stemmen).",
                        only_mes=", ".join(str(i) for i in c.only_mes) or "-",
                        only_greedy=", ".join(str(i) for i in c.only_greedy) or "-",
                        mes=percent_text(c.share_mes),
                        greedy=percent_text(c.share_greedy),
                    )
                )

        heading(_("Opkomst"))
        part = view.participation
        para(small_note())
        table(
            [
                [_("Wijk"), _("Stemcodes"), _("Uitgebrachte stemmen"), _("Opkomst")],
                *[
                    [
                        _(r.label),
                        str(r.codes),
                        str(r.ballots),
                        f"{percent_text(r.turnout_percent)} %" if r.turnout_percent else "-",
                    ]
                    for r in part.districts
                ],
                [
                    _("Totaal"),
                    str(part.codes),
                    str(part.total),
                    f"{percent_text(part.turnout_percent)} %" if part.turnout_percent else "-",
                ],
            ]
        )
        table(
            [
                [_("Kanaal"), _("Uitgebrachte stemmen")],
                *[[_(r.label), str(r.ballots)] for r in part.channels],
            ]
        )
        if part.age_bands:
            table(
                [
                    [_("Leeftijd"), _("Uitgebrachte stemmen")],
                    *[[r.label, str(r.ballots)] for r in part.age_bands],
                ]
            )

        heading(_("Correcties na de stemming"))
        if view.overrides:
            table(
                [
                    [_("Project"), _("Besluit"), _("Reden"), _("Door, op")],
                    *[
                        [
                            f"{o.project_id} {o.project_title}",
                            _("niet gefinancierd")
                            if o.decision == "not-funded"
                            else _("gefinancierd"),
                            o.reason,
                            f"{o.actor_name}, {format_datetime(o.created_at)}",
                        ]
                        for o in view.overrides
                    ],
                ]
            )
        else:
            para(_("Er zijn geen correcties vastgelegd."))

        heading(_("Controleren"))
        para(_("Kop van het stemlogboek (hoogte %(height)s):", height=view.log_height))
        mono(view.log_head)
        para(_(EXPORT_DIGEST_LABEL) + ":")
        mono(export_sha256)
        if signing_key is not None:
            para(
                _(
                    "De export is ondertekend met de Ed25519-sleutel van deze installatie (sleutel-id "
                    "%(key_id)s); de publieke sleutel (hex):",
                    key_id=signing_key["key_id"],
                )
            )
            mono(signing_key["public_key_hex"])
        para(_(DIGEST_LABEL) + ":")
        mono(view.digest)
        para(_("Telmachine: %(version)s", version=view.engine_version))
        key_hex = signing_key["public_key_hex"] if signing_key is not None else None
        for what, command in verify_commands(view, base_url, key_hex):
            para(what)
            mono(command)
        return bytes(pdf.output())
