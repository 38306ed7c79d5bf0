"""Dutch messages for ballot problems (``voting.ballots.BallotProblem``), one per rule."""

from __future__ import annotations

from burgerbegroting.i18n import _, format_money
from burgerbegroting.voting.ballots import BallotProblem


def ballot_problem_message(problem: BallotProblem) -> str:
    """The resident-facing message for the rule ``problem`` names."""
    v = problem.values
    rule = problem.rule
    if rule == "over-budget":
        return _(
            "Uw keuze kost %(total)s; dat is meer dan het budget van %(budget)s.",
            total=format_money(int(v["total"])),
            budget=format_money(int(v["budget"])),
        )
    if rule == "min-budget-share":
        return _(
            "Verdeel minstens %(share)s%% van het budget; uw keuze gebruikt %(total)s van %(budget)s.",
            share=f"{int(v['permille']) / 10:g}".replace(".", ","),
            total=format_money(int(v["total"])),
            budget=format_money(int(v["budget"])),
        )
    if rule == "theme-cap":
        return _(
            "Voor één thema kiest u projecten voor %(total)s; het maximum per thema is %(cap)s.",
            total=format_money(int(v["total"])),
            cap=format_money(int(v["cap"])),
        )
    if rule == "min-projects":
        return _(
            "Kies minstens %(min)s project(en); u koos er %(chosen)s.",
            min=v["min"],
            chosen=v["chosen"],
        )
    if rule == "max-projects":
        return _(
            "Kies hoogstens %(max)s projecten; u koos er %(chosen)s.",
            max=v["max"],
            chosen=v["chosen"],
        )
    if rule == "approval-k":
        return _(
            "Kies hoogstens %(max)s projecten; u koos er %(chosen)s.",
            max=v["max"],
            chosen=v["chosen"],
        )
    if rule == "choose-one":
        return _("Kies precies één project; u koos er %(chosen)s.", chosen=v["chosen"])
    if rule == "points-total":
        return _(
            "U verdeelt %(total)s punten; u heeft er %(max)s te verdelen.",
            total=v["total"],
            max=v["max"],
        )
    if rule == "points-value":
        return _("Geef per project een heel aantal punten van 0 of meer.")
    if rule == "unknown-project":
        return _(
            "Project %(project)s staat niet op uw stembiljet (een ander project, een andere ronde of wijk).",
            project=v["project"],
        )
    if rule == "duplicate":
        return _("Project %(project)s staat twee keer in uw keuze.", project=v["project"])
    if rule == "blank-not-allowed":
        return _("In deze ronde kunt u geen blanco stem uitbrengen.")
    if rule == "too-many":
        return _("Uw keuze bevat te veel projecten.")
    if rule == "shape":
        return _(
            "Geef uw keuze als '%(expected)s' (en niets anders) of een blanco stem.",
            expected=v["expected"],
        )
    if rule == "district":
        return _("U kunt in deze ronde niet stemmen: uw wijk doet niet mee.")
    return _("Deze keuze is niet geldig: gebruik de nummers van de projecten op uw stembiljet.")
