"""Which round settings the counting engine can count: the one table of combinations.

``voting.tally`` refuses, with a ``TallyError`` at count time, elections its rules cannot count:
MES and its completions need utilities (no ranked ballots) and refuse caps; sequential Phragmén
takes only approval-style ballots and refuses caps. A round that only finds out when the votes are
in has failed its voters, so the settings are checked when they are saved (field messages, see
``rounds.validation``), from this table. Keep it in step with ``voting/tally/rules.py``,
``mes.py``, ``phragmen.py`` and ``greedy.py``.

Knapsack ballots are approval ballots to the engine (the budget limit is a ballot rule, not a
counting rule), so every rule that takes approval takes knapsack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.rounds.models import BallotType, CountingRule, Round

_APPROVAL_LIKE = frozenset(
    {BallotType.KNAPSACK.value, BallotType.APPROVAL.value, BallotType.CHOOSE_ONE.value}
)
_MES_BALLOTS = _APPROVAL_LIKE | {BallotType.CUMULATIVE.value}

BALLOTS_FOR_RULE: dict[str, frozenset[str]] = {
    CountingRule.GREEDY.value: frozenset(b.value for b in BallotType),
    CountingRule.MES.value: _MES_BALLOTS,
    CountingRule.MES_ADD1.value: _MES_BALLOTS,
    CountingRule.MES_ADD1_EXHAUSTIVE.value: _MES_BALLOTS,
    CountingRule.MES_ADD1_GREEDY.value: _MES_BALLOTS,
    CountingRule.PHRAGMEN.value: _APPROVAL_LIKE,
}
"""The ballot types each rule counts."""

RULES_WITH_CAPS: frozenset[str] = frozenset({CountingRule.GREEDY.value})
"""Rules that honour theme caps (``voting.tally.rules.CAP_RULES``); the others refuse them."""

GREEDY_ONLY_SETTINGS: tuple[str, ...] = ("greedy_threshold", "greedy_no_skip", "leftover")
"""Options only greedy takes (``threshold``, ``no_skip``, ``leftover``)."""


CHOICE_LABELS: dict[str, list[tuple[str, str]]] = {
    "ballot_type": [
        ("knapsack", N_("Budget verdelen: projecten kiezen die samen binnen het budget passen")),
        ("approval", N_("Goedkeuren: hoogstens k projecten aankruisen")),
        ("cumulative", N_("Punten verdelen over projecten")),
        ("choose-1", N_("Eén project kiezen")),
        ("ranked", N_("Projecten rangschikken")),
    ],
    "counting_rule": [
        ("greedy", N_("Meeste stemmen eerst (greedy)")),
        ("mes", "Method of Equal Shares"),  # the name of the method: the same in English
        ("mes-add1", N_("Method of Equal Shares met Add1-aanvulling")),
        ("mes-add1-exhaustive", N_("Method of Equal Shares, Add1 tot het budget op is")),
        ("mes-add1-greedy", N_("Method of Equal Shares, Add1, daarna greedy")),
        ("phragmen", N_("Sequentiële Phragmén")),
    ],
    "tie_break": [
        ("lowest-cost", N_("Laagste kosten eerst")),
        ("lexicographic", N_("Op projectnummer")),
        ("explicit", N_("Een vaste volgorde die de gemeente vooraf publiceert")),
    ],
    "leftover": [
        ("keep", N_("Niet besteden")),
        ("fund-by-score", N_("Nog passende projecten op score financieren, zonder thema-maxima")),
    ],
}
"""Dutch labels (marked for translation) of the settings' values: forms, pages and messages."""


def label(field: str, value: object) -> str:
    """The label of a setting's value, translated; the value itself when it has none."""
    found = dict(CHOICE_LABELS.get(field, [])).get(str(value))
    return _(found) if found is not None else str(value)


def parse_order(text: str | None) -> list[int] | None:
    """The stored explicit tie-break order (JSON list of project ids) as a list."""
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise ValueError("tie_break_order is not a JSON list of ids")
    return value


def format_order(ids: Sequence[int]) -> str:
    """The canonical stored form of an explicit order: ``[12,7,9]``."""
    return json.dumps(list(ids), separators=(",", ":"))


def parse_scores(text: str | None) -> list[int] | None:
    """The stored ranked scores ``"3,2,1"`` as ``[3, 2, 1]`` (None: Borda)."""
    if text is None:
        return None
    return [int(part) for part in text.split(",")]


def format_scores(scores: Sequence[int]) -> str:
    return ",".join(str(score) for score in scores)


def describe(round_: Round) -> list[str]:
    """How the round is counted, in plain Dutch (translated): what the round page says next to
    the rule's name. Only what this round's settings make true."""
    lines: list[str] = []
    if round_.budget_scope == "districts":
        lines.append(
            _(
                "Elke wijk heeft een eigen stemming over de projecten in die wijk, met het eigen "
                "budget van de wijk. U stemt in de stemming van uw eigen wijk."
            )
        )
    if round_.ballot_type == BallotType.RANKED.value and round_.counting_rule == "greedy":
        scores = parse_scores(round_.ranked_scores)
        if scores is None:
            lines.append(
                _(
                    "Punten per plaats: de eerste keuze krijgt evenveel punten als er projecten "
                    "zijn, de tweede één minder, enzovoort (Borda)."
                )
            )
        else:
            lines.append(_("Punten per plaats: %(scores)s.", scores=", ".join(map(str, scores))))
    if round_.greedy_threshold is not None:
        lines.append(
            _(
                "Een project heeft minstens %(n)s stemmen of punten nodig om te worden uitgevoerd.",
                n=round_.greedy_threshold,
            )
        )
    if round_.greedy_no_skip:
        lines.append(
            _("De telling stopt bij het eerste project dat niet meer binnen het budget past.")
        )
    if round_.leftover == "fund-by-score":
        lines.append(
            _(
                "Geld dat over blijft doordat thema's hun maximum bereiken, gaat daarna naar de "
                "projecten met de meeste stemmen die nog passen, zonder maximum per thema."
            )
        )
    if round_.tie_break == "lowest-cost":
        if round_.tie_break_seed:
            lines.append(
                _(
                    "Bij gelijke stand wint het goedkoopste project, dan het project met de meeste "
                    "stemmers, en anders beslist het lot met het vooraf gepubliceerde zaad "
                    "'%(seed)s'.",
                    seed=round_.tie_break_seed,
                )
            )
        else:
            lines.append(
                _(
                    "Bij gelijke stand wint het goedkoopste project, dan het project met de meeste "
                    "stemmers, en anders beslist het lot met de vingerafdruk van de stemming als "
                    "zaad."
                )
            )
    elif round_.tie_break == "explicit":
        order = parse_order(round_.tie_break_order) or []
        lines.append(
            _(
                "Bij gelijke stand beslist de vooraf gepubliceerde volgorde van de projecten "
                "(projectnummers, hoogste voorrang eerst): %(order)s.",
                order=", ".join(map(str, order)) or "—",
            )
        )
    if round_.export_public:
        lines.append(
            _(
                "Na publicatie van de uitslag kan iedereen de controle-export downloaden en de "
                "telling zelf nadoen."
            )
        )
    return lines
