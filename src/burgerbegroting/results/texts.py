"""The Dutch words of the results: why a project was not funded, each counting rule and tie-break
in plain language, the ballot channels. Source texts for the catalogue; translate when shown."""

from __future__ import annotations

from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention

# Why a project was not funded (the engine's reason codes), in plain Dutch.
REASON_TEXTS: dict[str, str] = {
    "no-support": N_("niemand heeft erop gestemd"),
    "insufficient-support": N_("te weinig stemmen voor de kosten"),
    "supporters-spent": N_(
        "het geld van de voorstanders ging naar projecten die zij belangrijker vonden"
    ),
    "does-not-fit": N_("paste niet meer in het resterende budget"),
    "cap-reached": N_("het maximum voor dit thema was bereikt"),
    "below-threshold": N_("minder stemmen dan de drempel"),
    "not-reached": N_(
        "niet aan de beurt gekomen: de telling stopte bij het eerste project dat niet paste"
    ),
    "free-not-funded": N_("kost niets en wordt volgens de regels van deze telling niet gekozen"),
}

LEFTOVER_NOTE = N_("gefinancierd met geld dat over was, buiten het maximum voor het thema")
"""Next to a project funded by greedy's leftover pass (Amsterdam's rule)."""

RULE_TEXTS: dict[str, str] = {
    "greedy": N_(
        "Meeste stemmen eerst: de projecten met de meeste stemmen krijgen als eerste geld. Past "
        "een project niet meer in wat er over is, dan wordt het overgeslagen en komt het volgende "
        "aan de beurt."
    ),
    "mes": N_(
        "Method of Equal Shares (gelijke delen): elke stemmer krijgt een gelijk deel van het "
        "budget en betaalt mee aan de projecten waarop hij stemde. Een project wordt gekozen als "
        "zijn voorstanders samen genoeg geld hebben; het project met de laagste prijs per "
        "voorstander gaat voor."
    ),
    "mes-add1": N_(
        "Method of Equal Shares (gelijke delen) met Add1-aanvulling: elke stemmer krijgt een gelijk "
        "deel van het budget en betaalt mee aan de projecten waarop hij stemde. Blijft er geld "
        "over, dan wordt het deel per stemmer steeds met één euro verhoogd zolang de uitkomst "
        "binnen het budget past."
    ),
    "mes-add1-exhaustive": N_(
        "Method of Equal Shares (gelijke delen) met Add1-aanvulling tot het budget is uitgeput."
    ),
    "mes-add1-greedy": N_(
        "Method of Equal Shares (gelijke delen) met Add1-aanvulling; wat daarna over is, gaat "
        "volgens meeste stemmen eerst naar projecten die nog passen."
    ),
    "phragmen": N_(
        "Sequentiële Phragmén: projecten worden één voor één gekozen zo dat de lasten zo gelijk "
        "mogelijk over de voorstanders verdeeld worden."
    ),
}

TIE_BREAK_TEXTS: dict[str, str] = {
    "lowest-cost": N_(
        "Bij gelijke stand gaat het goedkoopste project voor, daarna het project met de meeste "
        "voorstanders; is dat ook gelijk, dan beslist een loting: de volgorde van "
        "SHA-256(zaad + projectnummer)."
    ),
    "lexicographic": N_(
        "Bij gelijke stand gaat het project met het laagste nummer (als tekst) voor."
    ),
    "explicit": N_("Bij gelijke stand beslist een vooraf vastgestelde volgorde."),
}

# Short names of the rules and tie-breaks, shown with the machine name after them ("Meeste
# stemmen eerst (greedy)"), so the names do not carry it themselves.
RULE_NAMES: dict[str, str] = {
    "greedy": N_("Meeste stemmen eerst"),
    "mes": "Method of Equal Shares",  # the name of the method: the same in English
    "mes-add1": N_("Method of Equal Shares met Add1-aanvulling"),
    "mes-add1-exhaustive": N_("Method of Equal Shares, Add1 tot het budget op is"),
    "mes-add1-greedy": N_("Method of Equal Shares, Add1, daarna greedy"),
    "phragmen": N_("Sequentiële Phragmén"),
}

TIE_BREAK_NAMES: dict[str, str] = {
    "lowest-cost": N_("Laagste kosten eerst"),
    "lexicographic": N_("Op projectnummer"),
    "explicit": N_("Een vaste volgorde die de gemeente vooraf publiceert"),
}

CHANNEL_LABELS: dict[str, str] = {"online": N_("online"), "paper": N_("op papier")}
