"""The counting rules by name: the names the command line, the API and round settings use."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from burgerbegroting.voting.tally.greedy import greedy
from burgerbegroting.voting.tally.mes import (
    mes_add1,
    mes_add1_exhaustive,
    mes_add1_greedy,
    mes_rule,
)
from burgerbegroting.voting.tally.model import Election, Outcome, TallyError
from burgerbegroting.voting.tally.phragmen import phragmen
from burgerbegroting.voting.tally.tiebreak import TieBreak

__all__ = ["CAP_RULES", "RULES", "count"]

RULES: dict[str, Callable[..., Outcome]] = {
    "greedy": greedy,
    "mes": mes_rule,
    "mes-add1": mes_add1,
    "mes-add1-exhaustive": mes_add1_exhaustive,
    "mes-add1-greedy": mes_add1_greedy,
    "phragmen": phragmen,
}

CAP_RULES = frozenset({"greedy"})
"""Rules that honour theme and district caps; the others refuse elections with caps."""


def count(election: Election, rule: str, *, tie_break: TieBreak, **options: object) -> Outcome:
    """Count ``election`` with the rule called ``rule``.

    The tie-break's seed is filled in first (:meth:`TieBreak.resolved`), so the outcome records
    the seed of the lot actually used. Options go to the rule (greedy: ``no_skip``,
    ``threshold``, ``leftover``, ``ordinal_scores``; the mes rules: ``fund_free``; phragmen:
    ``skip``; all: ``progress``). Unknown rules or options raise TallyError.
    """
    try:
        function = RULES[rule]
    except KeyError:
        raise TallyError(f"Unknown rule {rule!r}; choose one of {', '.join(RULES)}.") from None
    accepted = set(inspect.signature(function).parameters) - {"election", "tie_break"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TallyError(
            f"Rule {rule!r} does not take the option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(accepted))}."
        )
    return function(election, tie_break=tie_break.resolved(election), **options)
