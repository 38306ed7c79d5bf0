"""The Dutch explanation: money in Dutch notation, a phrase for every reason, the table."""

from __future__ import annotations

import pytest

from burgerbegroting.voting.tally.explain import explain, format_money, reason_text
from burgerbegroting.voting.tally.model import Ballot, BallotType, Election, Project, Reason
from burgerbegroting.voting.tally.rules import count
from burgerbegroting.voting.tally.tiebreak import TieBreak


@pytest.mark.parametrize(
    ("units", "decimals", "currency", "text"),
    [
        (123450, 2, None, "€ 1.234,50"),  # our own rounds: cents
        (5, 2, "EUR", "€ 0,05"),
        (9632750, 0, "PLN", "9.632.750 zł"),
        (1000, 0, None, "1.000"),
        (12345, 1, "HUF", "1.234,5 Ft"),
        (-250, 2, None, "€ -2,50"),
    ],
)
def test_money_in_dutch_notation(
    units: int, decimals: int, currency: str | None, text: str
) -> None:
    assert format_money(units, decimals, currency) == text


def test_every_reason_has_a_dutch_phrase() -> None:
    phrases = {reason_text(reason) for reason in Reason}
    assert len(phrases) == len(Reason)
    assert reason_text(Reason.SELECTED) == "gefinancierd"
    funded = {"gefinancierd", reason_text(Reason.LEFTOVER)}
    assert reason_text(Reason.LEFTOVER).startswith("gefinancierd uit het restbudget")
    assert all(p.startswith("niet gefinancierd") for p in phrases - funded)


def test_table_lists_every_project_with_votes_cost_and_outcome() -> None:
    election = Election(
        budget=100000,
        projects=(Project("1", 60000, "Buurthuis"), Project("2", 50000, "Moestuin")),
        ballots=(Ballot(("1", "2"), weight=3), Ballot(("2",))),
        ballot_type=BallotType.APPROVAL,
        decimals=2,
    )
    outcome = count(election, "mes", tie_break=TieBreak("lexicographic"))
    text = explain(election, outcome)
    assert "Budget: € 1.000,00; toegekend: € 500,00; over: € 500,00" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line[:2] in {"1 ", "2 "}}
    # Project 2 (4 votes, € 500) is bought first at € 125 per voter: 4 effective votes.
    assert "Moestuin" in rows["2"]
    assert "€ 500,00" in rows["2"]
    assert "4,00 stemmen" in rows["2"]
    assert rows["2"].endswith("gefinancierd")
    assert "het geld van de voorstanders ging naar andere projecten" in rows["1"]


def test_a_free_project_funded_by_mes_is_said_to_differ_from_pabutools() -> None:
    """The issue: where the engine departs from practice, say so in the output. A supported
    project that costs nothing is funded by our MES (pabutools' MES never funds it on approval
    ballots); the table alone shows it as funded without a word."""
    election = Election(
        budget=100,
        projects=(Project("1", 0, "Gratis"), Project("2", 60, "Duur")),
        ballots=(Ballot(("1", "2")), Ballot(("2",))),
        ballot_type=BallotType.APPROVAL,
    )
    funded = explain(election, count(election, "mes", tie_break=TieBreak("lexicographic")))
    assert "Projecten die niets kosten: gefinancierd als iemand erop stemt" in funded
    assert "--no-free-projects" in funded
    skipped = count(election, "mes", tie_break=TieBreak("lexicographic"), fund_free=False)
    assert "Projecten die niets kosten: niet gefinancierd" in explain(election, skipped)
    # Without a free project the departure does not arise, and nothing is said about it.
    paid = Election(
        budget=100,
        projects=(Project("2", 60, "Duur"),),
        ballots=(Ballot(("2",)),),
        ballot_type=BallotType.APPROVAL,
    )
    plain = explain(paid, count(paid, "mes", tie_break=TieBreak("lexicographic")))
    assert "niets kosten" not in plain


def test_one_vote_is_one_stem_not_one_stemmen() -> None:
    election = Election(
        budget=100,
        projects=(Project("1", 50, "A"), Project("2", 40, "B")),
        ballots=(Ballot(("1", "2")), Ballot(("1",))),
        ballot_type=BallotType.APPROVAL,
    )
    text = explain(election, count(election, "greedy", tie_break=TieBreak("lexicographic")))
    rows = {line.split()[0]: line for line in text.splitlines() if line[:2] in {"1 ", "2 "}}
    assert "2 stemmen" in rows["1"]
    assert " 1 stem " in rows["2"]
    assert "1 stemmen" not in text
