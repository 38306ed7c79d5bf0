"""The pure ballot rules and the round-settings-to-engine mapping (``voting/ballots.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burgerbegroting.voting import ballots


def definition(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "round_id": 1,
        "budget": {"total_cents": 1000, "scope": "city"},
        "districts": [],
        "themes": [{"id": 1, "name": "A", "max_spend_cents": None}],
        "ballot": {
            "type": "knapsack",
            "approval_max_k": None,
            "cumulative_points": None,
            "min_projects": 0,
            "max_projects": None,
            "min_budget_share_permille": 0,
            "blank_allowed": True,
        },
        "counting": {
            "rule": "greedy",
            "tie_break": "lexicographic",
            "seed": None,
            "order": None,
            "threshold": None,
            "no_skip": False,
            "leftover": "keep",
            "ranked_scores": None,
        },
        "eligibility": {"districts": []},
        "projects": [
            {"id": i, "title": f"P{i}", "cost_cents": c, "theme_id": 1, "district_id": None}
            for i, c in ((1, 600), (2, 400), (3, 300), (4, 100))
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def test_knapsack_rules_each_refusal_names_its_rule() -> None:
    d = definition(ballot={"max_projects": 3, "min_budget_share_permille": 500})
    rules = ballots.election_rules(d, None)
    assert ballots.normalise(rules, {"projects": [2, 1]}) == {"projects": [1, 2]}
    cases = {
        "over-budget": {"projects": [1, 2, 3]},
        "max-projects": {"projects": [1, 2, 3, 4]},
        "min-budget-share": {"projects": [4]},
        "duplicate": {"projects": [1, 1]},
        "unknown-project": {"projects": [9]},
        "project-id": {"projects": [True]},
        "shape": {"ranking": [1]},
    }
    for rule, raw in cases.items():
        with pytest.raises(ballots.BallotProblem) as problem:
            ballots.normalise(rules, raw)
        assert problem.value.rule == rule, raw


def test_knapsack_limits_hold_exactly_at_their_boundaries() -> None:
    """Each limit refuses one step past its boundary and accepts the boundary itself: the cases
    above are far from theirs (a share of 10 % against 50 %), so a limit applied loosely (half the
    share, twice the theme cap, a minimum of one project) would still refuse them."""
    d = definition(
        ballot={"min_projects": 2, "min_budget_share_permille": 500},
        themes=[{"id": 1, "name": "A", "max_spend_cents": 700}],
    )
    rules = ballots.election_rules(d, None)
    accepted: tuple[dict[str, Any], ...] = (
        {"projects": [2, 4]},
        {"projects": [2, 3]},
        {"projects": [1, 4]},
    )
    for raw in accepted:  # 500 of 1000: exactly the share; 700: exactly the theme cap
        assert ballots.normalise(rules, raw) == raw
    cases: dict[str, dict[str, Any]] = {
        "min-projects": {"projects": [1]},  # 600 of 1000 fits, but one project of at least two
        "min-budget-share": {"projects": [3, 4]},  # 400 of 1000: under half
        "theme-cap": {"projects": [2, 3, 4]},  # 800 in theme 1, capped at 700
    }
    for rule, raw in cases.items():
        with pytest.raises(ballots.BallotProblem) as problem:
            ballots.normalise(rules, raw)
        assert problem.value.rule == rule, raw


def test_cumulative_points_refuse_a_negative_amount_beside_valid_ones() -> None:
    """-1 points is refused, not dropped like 0: the API's schema refuses it first, but the
    pages and the auditor's check of exported ballots rely on this rule alone."""
    d = definition(ballot={"type": "cumulative", "cumulative_points": 10})
    rules = ballots.election_rules(d, None)
    assert ballots.normalise(rules, {"points": {"1": 5, "2": 0}}) == {"points": {"1": 5}}
    with pytest.raises(ballots.BallotProblem) as problem:
        ballots.normalise(rules, {"points": {"1": 5, "2": -1}})
    assert (problem.value.rule, problem.value.pointer) == ("points-value", "/points/2")


def test_blank_only_where_allowed_and_choose_one_takes_exactly_one() -> None:
    """The booth page refuses a blank ballot itself before these rules run, so the API and paper
    ballots rely on them alone."""
    allowed = ballots.election_rules(definition(), None)
    assert ballots.normalise(allowed, {"blank": True}) == {"blank": True}
    refused = ballots.election_rules(definition(ballot={"blank_allowed": False}), None)
    with pytest.raises(ballots.BallotProblem) as problem:
        ballots.normalise(refused, {"blank": True})
    assert problem.value.rule == "blank-not-allowed"
    choose_one = ballots.election_rules(definition(ballot={"type": "choose-1"}), None)
    assert ballots.normalise(choose_one, {"projects": [3]}) == {"projects": [3]}
    for raw in ({"projects": [3, 4]}, {"projects": [2, 3, 4]}):
        with pytest.raises(ballots.BallotProblem) as problem:
            ballots.normalise(choose_one, raw)
        assert problem.value.rule == "choose-one", raw


def test_ranked_scores_count_the_points_per_place_not_borda() -> None:
    ranked = {"type": "ranked", "max_projects": None}
    cheap = [
        {"id": i, "title": f"P{i}", "cost_cents": 100, "theme_id": 1, "district_id": None}
        for i in (1, 2, 3, 4)
    ]
    votes = [{"ranking": [1, 2, 3, 4]}] * 2 + [{"ranking": [2, 4]}] * 2 + [{"ranking": [4, 3, 2]}]
    small = {"total_cents": 100, "scope": "city"}
    three_two_one = definition(
        ballot=ranked, projects=cheap, budget=small, counting={"ranked_scores": [3, 2, 1]}
    )
    election = ballots.engine_election(three_two_one, None, votes)
    points = dict.fromkeys("1234", 0)
    for ballot in election.ballots:
        for pid, pts in zip(ballot.projects, ballot.points, strict=True):
            points[pid] += pts * ballot.weight
    # 3/2/1 per place; the fourth place earns nothing (Borda would give it 1).
    assert points == {"1": 6, "2": 4 + 6 + 1, "3": 2 + 2, "4": 0 + 4 + 3}
    _, outcome = ballots.count_election(three_two_one, None, votes)
    assert outcome.selected == ("2",)
    borda = ballots.engine_election(
        definition(ballot=ranked, projects=cheap, budget=small), None, votes
    )
    assert borda.ballot_type != election.ballot_type  # Borda stays a ranking for the engine


def test_leftover_fund_by_score_spends_what_the_theme_cap_left() -> None:
    capped = definition(themes=[{"id": 1, "name": "A", "max_spend_cents": 600}])
    votes = [{"projects": [1, 2, 3]}] * 3 + [{"projects": [4]}]
    _, keep = ballots.count_election(capped, None, votes)
    _, spend = ballots.count_election(capped, None, votes)
    fund = definition(
        themes=[{"id": 1, "name": "A", "max_spend_cents": 600}],
        counting={"leftover": "fund-by-score"},
    )
    _, spend = ballots.count_election(fund, None, votes)
    assert keep.cost <= 600
    assert spend.cost > keep.cost
    assert spend.cost <= 1000


def test_blank_ballots_are_not_given_to_the_engine() -> None:
    d = definition()
    election = ballots.engine_election(d, None, [{"blank": True}, {"projects": [1]}])
    assert sum(b.weight for b in election.ballots) == 1


_ids = st.lists(st.integers(min_value=-5, max_value=10**7).map(str), max_size=6)
_groups = st.dictionaries(
    st.tuples(
        st.lists(_ids, min_size=1, max_size=1).map(lambda x: tuple(x[0])),
        st.lists(st.integers(min_value=0, max_value=20), max_size=6).map(tuple),
    ),
    st.integers(min_value=1, max_value=9),
    max_size=40,
)


@given(_groups)
def test_ballot_groups_sort_by_their_fast_key_as_by_themselves(
    groups: dict[tuple[tuple[str, ...], tuple[int, ...]], int],
) -> None:
    """The engine's ballots keep the order of their groups (prefix ids such as 1 and 12, 1 and
    -1, rankings in any order, points): only the sort got faster."""
    items = list(groups.items())
    assert sorted(items, key=ballots._group_order) == sorted(items)
