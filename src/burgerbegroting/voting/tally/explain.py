"""A readable Dutch explanation of an outcome, for residents and the council.

One table: per project its number of votes, its cost, its effective support and whether it was
funded, or why not. Rounding happens only here, for display; the count itself is exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

from burgerbegroting.voting.tally.model import BallotType, Election, Outcome, Reason, supporters

__all__ = ["RULE_NAMES", "TIE_BREAK_NAMES", "explain", "format_money", "reason_text"]

RULE_NAMES: dict[str, str] = {
    "greedy": "meeste stemmen eerst",  # shown as "meeste stemmen eerst (greedy)"
    "mes": "Method of Equal Shares (gelijke delen), zonder aanvulling",
    "mes-add1": "Method of Equal Shares met Add1-aanvulling (zoals in echte verkiezingen)",
    "mes-add1-exhaustive": "Method of Equal Shares met Add1-aanvulling tot het budget is uitgeput",
    "mes-add1-greedy": "Method of Equal Shares met Add1, aangevuld op meeste stemmen",
    "phragmen": "sequentiële Phragmén",
}

TIE_BREAK_NAMES: dict[str, str] = {
    "lowest-cost": "laagste kosten, dan meeste stemmen, dan loting",
    "lexicographic": "projectnummer als tekst (zoals pabutools)",
    "explicit": "vooraf vastgestelde volgorde",
}

REASONS: dict[Reason, str] = {
    Reason.SELECTED: "gefinancierd",
    Reason.NO_SUPPORT: "niet gefinancierd: niemand heeft erop gestemd",
    Reason.INSUFFICIENT_SUPPORT: "niet gefinancierd: te weinig stemmen voor de kosten",
    Reason.SUPPORTERS_SPENT: (
        "niet gefinancierd: het geld van de voorstanders ging naar andere projecten"
    ),
    Reason.DOES_NOT_FIT: "niet gefinancierd: past niet in het resterende budget",
    Reason.BELOW_THRESHOLD: "niet gefinancierd: minder stemmen dan de drempel",
    Reason.CAP_REACHED: "niet gefinancierd: het maximum voor dit thema of deze wijk is bereikt",
    Reason.NOT_REACHED: "niet gefinancierd: de telling stopte voordat het aan de beurt was",
    Reason.LEFTOVER: "gefinancierd uit het restbudget (buiten het maximum per thema of wijk)",
    Reason.FREE_NOT_FUNDED: (
        "niet gefinancierd: kost niets, en deze telling financiert gratis projecten niet"
    ),
}

CURRENCY_SYMBOLS = {"EUR": "€", "PLN": "zł", "HUF": "Ft", "USD": "$", "GBP": "£", "CHF": "CHF"}


def reason_text(reason: Reason) -> str:
    """The Dutch phrase for a reason."""
    return REASONS[reason]


def _group(digits: str) -> str:
    """Thousands separated by dots, the Dutch way: 1234567 -> 1.234.567."""
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return ".".join(parts)


def format_money(units: int, decimals: int, currency: str | None = None) -> str:
    """An amount in Dutch notation: ``€ 1.234,50`` (decimals 2, euro) or ``1.234.567 zł``.

    Without a currency, two decimals mean euro cents (our own rounds); other scales are shown
    as plain numbers.
    """
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    number = sign + _group(str(whole)) + (f",{frac:0{decimals}d}" if decimals else "")
    code = currency.upper() if currency else ("EUR" if decimals == 2 else None)
    if code is None:
        return number
    symbol = CURRENCY_SYMBOLS.get(code, code)
    return f"€ {number}" if symbol == "€" else f"{number} {symbol}"


def _decimal(value: Fraction, places: int = 2) -> str:
    """A fraction rounded (half up) for display, Dutch decimal comma."""
    scaled = math.floor(value * 10**places + Fraction(1, 2))
    whole, frac = divmod(scaled, 10**places)
    return _group(str(whole)) + (f",{frac:0{places}d}" if places else "")


def _effective(outcome: Outcome, election: Election, detail: dict[str, str], votes: int) -> str:
    if "effective_votes" in detail:
        return _decimal(Fraction(detail["effective_votes"])) + " stemmen"
    if "effective_points" in detail:
        return _decimal(Fraction(detail["effective_points"])) + " punten"
    if outcome.rule == "greedy":
        if election.ballot_type is BallotType.CUMULATIVE:
            return _count(votes, "punt", "punten")
        if election.ballot_type is BallotType.ORDINAL:
            return _count(votes, "rangordepunt", "rangordepunten")
        return _count(votes, "stem", "stemmen")
    return "—"


def _count(n: int, one: str, more: str) -> str:
    """``1 stem``, ``2 stemmen``: a whole number with the noun in the right number."""
    return f"{_group(str(n))} {one if n == 1 else more}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def explain(election: Election, outcome: Outcome, *, currency: str | None = None) -> str:
    """The Dutch table for ``outcome`` of ``election`` (currency: a code such as "EUR")."""
    names = {p.id: p.name for p in election.projects}
    costs = {p.id: p.cost for p in election.projects}
    votes = supporters(election)
    d = election.decimals
    # The last step about a project decides its fate (MES with greedy completion may first
    # pass a project over and then fund it).
    last: dict[str, tuple[int, dict[str, str]]] = {}
    leftover = set()
    for step in outcome.steps:
        if step.reason in (Reason.SELECTED, Reason.LEFTOVER) or step.project not in last:
            last[step.project] = (step.votes, dict(step.detail))
        if step.reason is Reason.LEFTOVER:
            leftover.add(step.project)
    reasons = dict(outcome.unselected)
    order = list(outcome.selected) + sorted(
        reasons, key=lambda pid: (-votes[pid], outcome.tie_break_order.index(pid))
    )
    rows: list[tuple[str, ...]] = [
        ("Nr", "Project", "Stemmen", "Kosten", "Effectieve steun", "Uitkomst")
    ]
    for pid in order:
        score, detail = last.get(pid, (0, {}))
        reason = reasons.get(pid, Reason.LEFTOVER if pid in leftover else Reason.SELECTED)
        rows.append(
            (
                pid,
                _cut(names.get(pid) or "", 40),
                _group(str(votes[pid])),
                format_money(costs[pid], d, currency),
                _effective(outcome, election, detail, score)
                if reason in (Reason.SELECTED, Reason.LEFTOVER)
                else "—",
                reason_text(reason),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 3, 4}
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i in right and n else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    voters = sum(b.weight for b in election.ballots)
    header = [
        f"Telmethode: {RULE_NAMES.get(outcome.rule, outcome.rule)} ({outcome.rule})",
        f"Stemmers: {_group(str(voters))}; projecten: {len(election.projects)}",
        f"Budget: {format_money(outcome.budget, d, currency)}; "
        f"toegekend: {format_money(outcome.cost, d, currency)}; "
        f"over: {format_money(outcome.leftover, d, currency)}",
        f"Gefinancierd: {_count(len(outcome.selected), 'project', 'projecten')}",
        "Gelijke stand: " + TIE_BREAK_NAMES.get(outcome.tie_break, outcome.tie_break),
    ]
    if outcome.seed is not None:
        header.append(f"Lotingszaad (gepubliceerd): {outcome.seed}")
    params = dict(outcome.parameters)
    if "per_voter_budget" in params:
        share = format_money(int(Fraction(params["per_voter_budget"])), d, currency)
        header.append(f"Budget per stemmer (naar beneden afgerond): {share}")
    if "add1_steps" in params:
        header.append(f"Add1-stappen: {params['add1_steps']}")
    if "threshold" in params:
        header.append(f"Drempel: {params['threshold']}")
    if "ordinal_scores" in params:
        scheme = params["ordinal_scores"]
        header.append(
            "Punten per plaats in de rangorde: "
            + ("Borda (m, m-1, …, 1)" if scheme == "borda" else scheme.replace(",", ", "))
        )
    if params.get("fund_free") == "false":
        header.append("Projecten die niets kosten: niet gefinancierd")
    elif params.get("fund_free") == "true" and any(costs[pid] == 0 for pid in outcome.selected):
        # Where we depart from the reference implementation, the output says so (issue 9).
        header.append(
            "Projecten die niets kosten: gefinancierd als iemand erop stemt (pabutools doet dat "
            "bij goedkeuringsstemmen niet; --no-free-projects telt zoals pabutools)"
        )
    if params.get("leftover") == "fund-by-score":
        header.append(
            "Restbudget: daarna gefinancierd op volgorde van stemmen, buiten de maxima per thema "
            "of wijk (zoals Amsterdam)"
        )
    return "\n".join([*header, "", *lines]) + "\n"
