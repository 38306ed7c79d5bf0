"""The booth form without the web: posted fields to the API's ballot shape, choices, the meter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burgerbegroting.voting import booth_form
from burgerbegroting.voting.booths import Booth, BoothProject

COSTS = {11: 6_000_000, 12: 3_000_000, 13: 3_000_000, 14: 2_000_000}


def make_booth(ballot_type: str = "knapsack", **rules: Any) -> Booth:
    values: dict[str, Any] = {
        "round_id": 1,
        "round_title": "Ronde",
        "election_key": None,
        "district_name": None,
        "ballot_type": ballot_type,
        "budget_cents": 10_000_000,
        "min_projects": 0,
        "max_projects": None,
        "min_budget_share_permille": 0,
        "approval_max_k": None,
        "cumulative_points": None,
        "blank_allowed": True,
        "theme_caps": {},
        "projects": [
            BoothProject(pid, f"Project {pid}", "", cost, 1 + pid % 2, "Thema", None, None)
            for pid, cost in COSTS.items()
        ],
        "current": None,
        "receipt": None,
        "draft": None,
        "closes_at": None,
    }
    values.update(rules)
    return Booth(**values)


@pytest.mark.parametrize(
    ("ballot_type", "form", "expected"),
    [
        ("knapsack", {"p-11": "1", "p-13": "on", "p-12": ""}, {"projects": [11, 13]}),
        ("approval", {}, {"projects": []}),
        ("choose-1", {"keuze": "12"}, {"projects": [12]}),
        ("choose-1", {"keuze": ""}, {"projects": []}),
        (
            "cumulative",
            {"punten-11": " 4 ", "punten-12": "0", "punten-14": ""},
            {"points": {"11": 4}},
        ),
        ("ranked", {"rang-13": "1", "rang-11": "3", "rang-12": ""}, {"ranking": [13, 11]}),
    ],
)
def test_posted_fields_become_the_api_ballot(
    ballot_type: str, form: dict[str, str], expected: dict[str, Any]
) -> None:
    assert booth_form.raw_from_form(make_booth(ballot_type), form) == expected


@pytest.mark.parametrize(
    ("ballot_type", "form", "field"),
    [
        ("knapsack", {"p-11": "ja"}, "p-11"),
        ("choose-1", {"keuze": "99"}, "projecten"),
        ("cumulative", {"punten-11": "-1"}, "punten-11"),
        ("cumulative", {"punten-11": "1e3"}, "punten-11"),
        ("cumulative", {"punten-11": "١٢"}, "punten-11"),  # Arabic-Indic digits: isdigit() is true
        ("ranked", {"rang-11": "1", "rang-12": "1"}, "rang-12"),
        ("ranked", {"rang-11": "5"}, "rang-11"),
    ],
)
def test_input_no_control_produces_is_named_per_field(
    ballot_type: str, form: dict[str, str], field: str
) -> None:
    with pytest.raises(booth_form.BoothInputError) as caught:
        booth_form.raw_from_form(make_booth(ballot_type), form)
    assert list(caught.value.fields) == [field]


@given(
    ballot_type=st.sampled_from(["knapsack", "approval", "choose-1", "cumulative", "ranked"]),
    values=st.dictionaries(
        st.sampled_from(["p-11", "p-12", "keuze", "punten-11", "punten-14", "rang-11", "rang-13"]),
        st.text(max_size=12),
    ),
)
def test_any_posted_text_gives_a_ballot_or_a_field_message(
    ballot_type: str, values: dict[str, str]
) -> None:
    booth = make_booth(ballot_type)
    try:
        raw = booth_form.raw_from_form(booth, values)
    except booth_form.BoothInputError as error:
        refused: dict[str, str] = error.fields
    else:
        refused = {}
    if refused:
        assert set(refused) <= {"projecten", *values}
        return
    # What comes out names only projects of the booth, each once.
    chosen = booth_form.choices_of(raw)
    assert chosen.projects <= set(COSTS)
    if "ranking" in raw:
        assert len(raw["ranking"]) == len(set(raw["ranking"]))


def test_meter_counts_money_points_and_places() -> None:
    knapsack = make_booth("knapsack")
    over = booth_form.meter(knapsack, booth_form.choices_of({"projects": [11, 12, 13]}))
    assert (over.total_cents, over.over) == (12_000_000, True)
    assert "te veel" in over.text
    fits = booth_form.meter(knapsack, booth_form.choices_of({"projects": [11, 14]}))
    assert (fits.total_cents, fits.over) == (8_000_000, False)
    points = make_booth("cumulative", cumulative_points=10)
    used = booth_form.meter(points, booth_form.choices_of({"points": {"11": 7, "12": 4}}))
    assert (used.points_used, used.over) == (11, True)
    approval = make_booth("approval", approval_max_k=2)
    assert booth_form.meter(approval, booth_form.choices_of({"projects": [11]})).text == (
        "1 van 2 projecten gekozen."
    )
    blank = booth_form.meter(knapsack, booth_form.choices_of({"blank": True}))
    assert blank.text == "U heeft gekozen voor een blanco stem."


def test_choices_read_drafts_ballots_and_nonsense_alike() -> None:
    ranked = booth_form.choices_of({"ranking": [13, 11, 13]})
    assert dict(ranked.ranks) == {13: 1, 11: 2}
    assert booth_form.choices_of({"projects": "11"}).projects == frozenset()
    assert booth_form.choices_of(None).projects == frozenset()
    booth = make_booth("cumulative", cumulative_points=10)
    assert booth_form.choices_of({"points": {"12": 3}}).value_for(booth, 12) == "3"
    assert booth_form.choices_of({"points": {"12": 3}}).value_for(booth, 11) == ""


def test_rule_pointers_lead_to_their_input() -> None:
    booth = make_booth("cumulative", cumulative_points=10)
    assert booth_form.error_id(booth, "/points/12") == "punten-12"
    assert booth_form.error_id(booth, "/points/99") == "projecten"
    assert booth_form.error_id(booth, "/points") == "projecten"
    assert booth_form.error_id(make_booth(), "/projects/0") == "projecten"


def test_rules_are_stated_for_each_ballot_type() -> None:
    knapsack = make_booth(min_budget_share_permille=505, theme_caps={1: 2_000_000})
    text = " ".join(booth_form.rules_text(knapsack, {1: "Mantelzorg"}))
    assert "budget van €\xa0100.000,00" in text
    assert "minstens 50,5 procent" in text
    assert "Mantelzorg kiest u samen hoogstens €\xa020.000,00" in text
    assert "blanco" in text
    approval = " ".join(booth_form.rules_text(make_booth("approval", approval_max_k=3), {}))
    assert "hoogstens 3" in approval
    cumulative = " ".join(booth_form.rules_text(make_booth("cumulative", cumulative_points=7), {}))
    assert "Verdeel 7 punten" in cumulative
