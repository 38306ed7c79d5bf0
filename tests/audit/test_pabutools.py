"""pabutools (the reference implementation, GPL-3.0, a test-only oracle) reads our ``.pb`` export
and recounts it to the published winners, for every rule where its rule is the same as ours (see
``tests/voting/tally/test_differential.py``); our own pabulib reader and engine do too.

The rounds are generated (frozen definition and ballots, valid by construction through the booth's
own ``normalise``) and counted with ``voting.ballots.results_document``, exactly as the close
counts them; the ``.pb`` text is what ``GET …/export?format=pb`` returns for such a round (in
a round with district budgets, one file per district: ``&district=<id>``). Ties are broken
lexicographically (project ids compared as strings, "10" < "9"), which is pabutools' way, or by
our default ``lowest-cost`` order, which pabutools is given as derived from the file itself.

Ranked rounds are counted by greedy only (MES refuses rankings). pabutools has no rule with our
scores built in, but its greedy takes any satisfaction measure, so it is given ours: Borda with
``m`` projects on the ballot (1st gets m, …; pabutools' own ``Additive_Borda_Sat`` gives the
ballot's length minus one to the first and 0 to the last, which picks other winners) times the
cost, because its greedy orders by satisfaction per cost. Rounds with fixed points per place
(``ranked_scores``, Kraków's 3/2/1) are exported as cumulative files of the points earned, which
pabutools counts like any cumulative file. Caps and Amsterdam's leftover pass have no pabutools
equal: those rounds are recounted by our own reader only (the second test; docs/audit.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pabutools.election import Additive_Cardinal_Sat, Cost_Sat, PositionalSatisfaction
from pabutools.election.pabulib import parse_pabulib_from_string
from pabutools.rules import (
    greedy_utilitarian_welfare,
    method_of_equal_shares,
    sequential_phragmen,
)
from pabutools.tiebreaking import TieBreakingRule, lexico_tie_breaking

from burgerbegroting.audit.exportformat import pabulib_text
from burgerbegroting.audit.verify import Report, check_pb
from burgerbegroting.voting.ballots import (
    BallotProblem,
    election_rules,
    normalise,
    results_document,
)
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.tally.pabulib import PabulibFile, read_election
from burgerbegroting.voting.tally.rules import count
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.voting.tally.test_differential import PointsTimesCost

IDS = (3, 9, 10, 11, 25, 100)
APPROVAL_RULES = ("greedy", "mes", "mes-add1-exhaustive", "mes-add1-greedy", "phragmen")
CUMULATIVE_RULES = ("greedy", "mes", "mes-add1-exhaustive", "mes-add1-greedy")
ORDERED = {"mes", "mes-add1-exhaustive", "mes-add1-greedy"}


@st.composite
def rounds(
    draw: st.DrawFn,
    *,
    ranked_and_caps: bool = False,
    only_ranked: bool = False,
    only_rule: str | None = None,
    tie_break: str = "lexicographic",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A frozen city-wide round definition and its current ballots (canonical contents).

    Ranked rounds are counted by greedy, with Borda or fixed points per place. With
    ``ranked_and_caps`` the round may also be greedy with a cap on a theme (and Amsterdam's
    leftover pass): what our own reader must recount but pabutools has no equal rule for.
    ``only_rule`` counts every round with that rule (ballots of any type it takes).
    ``tie_break`` is the round's (``tie_breaking_of`` says how pabutools applies it)."""
    types = ["knapsack", "approval", "choose-1", "cumulative", "ranked"]
    if only_rule is not None:
        types.remove("ranked")  # greedy alone counts rankings
    ballot_type = "ranked" if only_ranked else draw(st.sampled_from(types))
    rule = only_rule or draw(
        st.sampled_from(CUMULATIVE_RULES if ballot_type == "cumulative" else APPROVAL_RULES)
    )
    cap = None
    counting: dict[str, Any] = {}
    if ballot_type == "ranked":
        rule = "greedy"  # MES refuses rankings
        if draw(st.booleans()):
            counting["ranked_scores"] = draw(st.sampled_from([[3, 2, 1], [5, 3], [1]]))
    if ranked_and_caps:
        rule = "greedy" if draw(st.booleans()) else rule
        if rule == "greedy" and draw(st.booleans()):
            cap = draw(st.integers(1, 120)) * 100
            if draw(st.booleans()):
                counting["leftover"] = "fund-by-score"  # Amsterdam's second pass
    ids = IDS[: draw(st.integers(2, len(IDS)))]
    costs = {pid: draw(st.integers(1, 60)) * 100 for pid in ids}
    budget = draw(st.integers(max(costs.values()), sum(costs.values()))) // 100 * 100
    definition = round_definition(
        ballot_type=ballot_type,
        rule=rule,
        costs=costs,
        budget=budget,
        tie_break=tie_break,
        cap=cap,
        counting=counting,
    )
    return definition, draw_contents(draw, definition, None)


def round_definition(
    *,
    ballot_type: str,
    rule: str,
    costs: dict[int, int],
    budget: int,
    tie_break: str,
    cap: int | None = None,
    counting: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A frozen city-wide round definition: projects ``costs`` (id: cents) alternating between
    two themes, the first of which may have a ``cap``."""
    ids = list(costs)
    counting = counting or {}
    return {
        "format": "burgerbegroting-round/1",
        "round_id": 7,
        "budget": {"total_cents": budget, "scope": "city"},
        "districts": [],
        "themes": [
            {"id": 1, "name": "Zorg", "max_spend_cents": cap},
            {"id": 2, "name": "Jeugd", "max_spend_cents": None},
        ],
        "ballot": {
            "type": ballot_type,
            "approval_max_k": 3 if ballot_type == "approval" else None,
            "cumulative_points": 10 if ballot_type == "cumulative" else None,
            "min_projects": 0,
            "max_projects": None,
            "min_budget_share_permille": 0,
            "blank_allowed": True,
        },
        "counting": {"rule": rule, "tie_break": tie_break, **counting},
        "eligibility": {
            "min_age": None,
            "districts": [],
            "vote_by_code": True,
            "vote_by_account": False,
        },
        "supports": {"enabled": False, "threshold": None},
        "projects": [
            {
                "id": pid,
                "title": f"Project {pid}",
                "cost_cents": costs[pid],
                "theme_id": 1 + i % 2,
                "district_id": None,
            }
            for i, pid in enumerate(ids)
        ],
    }


def draw_contents(
    draw: st.DrawFn, definition: dict[str, Any], key: int | None
) -> list[dict[str, Any]]:
    """1-12 ballots of election ``key``, each one the booth would accept (the others dropped)."""
    rules = election_rules(definition, key)
    ids = sorted(rules.projects)
    ballot_type = definition["ballot"]["type"]
    contents: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 12))):
        chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
        if not chosen and draw(st.booleans()):
            raw: dict[str, Any] = {"blank": True}
        elif ballot_type == "cumulative":
            raw = {"points": {str(pid): draw(st.integers(1, 4)) for pid in chosen}}
        elif ballot_type == "ranked":
            raw = {"ranking": chosen}
        else:
            raw = {"projects": chosen}
        try:
            contents.append(normalise(rules, raw))
        except BallotProblem:
            continue  # over budget, too many, ...: the booth would have refused it
    return contents


@st.composite
def district_rounds(
    draw: st.DrawFn,
) -> tuple[dict[str, Any], list[tuple[int | None, dict[str, Any]]]]:
    """A round of ``rounds()`` split over two districts with budgets of their own: one election,
    one ``.pb`` file per district, every project in one of them."""
    definition, _ = draw(rounds())
    projects = definition["projects"]
    for i, project in enumerate(projects):
        project["district_id"] = 1 + i % 2
    districts = []
    for district_id, name in ((1, "Noord"), (2, "Zuid")):
        costs = [p["cost_cents"] for p in projects if p["district_id"] == district_id]
        budget = draw(st.integers(max(costs), sum(costs))) // 100 * 100
        districts.append(
            {"id": district_id, "name": name, "budget_cents": budget, "eligible": True}
        )
    definition["budget"]["scope"] = "districts"
    definition["districts"] = districts
    definition["eligibility"]["districts"] = [1, 2]
    ballots: list[tuple[int | None, dict[str, Any]]] = [
        (key, c) for key in (1, 2) for c in draw_contents(draw, definition, key)
    ]
    return definition, ballots


def export_of(
    definition: dict[str, Any],
    contents: list[dict[str, Any]],
    *,
    ballots_by_election: list[tuple[int | None, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The parts of a closed round's export the ``.pb`` files are made of: city-wide
    ``contents``, or ``ballots_by_election`` as (election key, content) pairs."""
    pairs = (
        ballots_by_election if ballots_by_election is not None else [(None, c) for c in contents]
    )
    fingerprint = hashlib.sha256(canonical_json(definition)).hexdigest()
    ballots = [
        {"election": key, "ballot_id": f"{i:032x}", "content": content}
        for i, (key, content) in enumerate(pairs)
    ]
    outcome = results_document(definition, fingerprint, pairs, log_head="0" * 64, log_height=0)
    return {
        "definition": definition,
        "manifest": {"fingerprint": fingerprint},
        "ballots": ballots,
        "outcome": outcome,
        "log": [],
    }


def borda_times_cost(m: int) -> type[Any]:
    """Our Borda score (m points for a first place among m projects, m - 1 for a second, …, 0
    when not ranked) times the cost: pabutools' greedy orders by satisfaction / cost, so it then
    orders projects by total Borda score, as our greedy does. ``m`` is fixed here: the instance
    pabutools hands a satisfaction measure inside its rules is not always the election's."""

    def points(ranking: Any, project: Any) -> Any:
        if project not in ranking:
            return 0
        return (m - ranking.position(project)) * project.cost

    class BordaTimesCost(PositionalSatisfaction):  # type: ignore[misc]
        def __init__(self, instance: Any, profile: Any, ballot: Any) -> None:
            super().__init__(instance, profile, ballot, points, sum)

    return BordaTimesCost


def tie_breaking_of(instance: Any, profile: Any) -> TieBreakingRule:
    """pabutools' tie-breaking for the file's META ``tie_break``, built from the file alone.

    ``lexicographic`` is pabutools' own (project names as strings). For ``lowest-cost`` the order
    is derived here from its published definition (docs/counting.md), not by our code: lowest
    cost first, then most supporters, then ``sha256(seed + project id)`` ascending with the
    file's ``tie_break_seed``."""
    if instance.meta["tie_break"] == "lexicographic":
        return lexico_tie_breaking
    assert instance.meta["tie_break"] == "lowest-cost"
    seed = instance.meta["tie_break_seed"]
    supporters = Counter(p.name for ballot in profile for p in ballot)
    order = sorted(
        instance,
        key=lambda p: (
            p.cost,
            -supporters[p.name],
            hashlib.sha256((seed + p.name).encode()).hexdigest(),
        ),
    )
    position = {p.name: i for i, p in enumerate(order)}
    return TieBreakingRule(lambda _instance, _profile, project: position[project.name])


def our_tie_break(pb: PabulibFile) -> TieBreak:
    """The tie-break ``burgerbegroting tally`` reads from the file's META."""
    meta = pb.meta_dict
    return TieBreak(meta["tie_break"], seed=meta.get("tie_break_seed") or None)


def pabutools_winners(rule: str, text: str) -> list[str]:
    instance, profile = parse_pabulib_from_string(text)
    ties = tie_breaking_of(instance, profile)
    vote_type = instance.meta["vote_type"]
    cumulative = vote_type == "cumulative"
    mes_sat = Additive_Cardinal_Sat if cumulative else Cost_Sat
    greedy_sat: type[Any] = Cost_Sat
    if cumulative:
        greedy_sat = PointsTimesCost
    elif vote_type == "ordinal":
        greedy_sat = borda_times_cost(len(instance))
    if rule == "mes":
        result = method_of_equal_shares(instance, profile, sat_class=mes_sat, tie_breaking=ties)
    elif rule == "mes-add1-exhaustive":
        # Costs are in euros in the file; our Add1 steps by one euro (one currency unit).
        result = method_of_equal_shares(
            instance, profile, sat_class=mes_sat, voter_budget_increment=1, tie_breaking=ties
        )
    elif rule == "mes-add1-greedy":
        first = method_of_equal_shares(
            instance, profile, sat_class=mes_sat, voter_budget_increment=1, tie_breaking=ties
        )
        result = greedy_utilitarian_welfare(
            instance,
            profile,
            sat_class=greedy_sat,
            initial_budget_allocation=first,
            tie_breaking=ties,
        )
    elif rule == "greedy":
        result = greedy_utilitarian_welfare(
            instance, profile, sat_class=greedy_sat, tie_breaking=ties
        )
    else:
        result = sequential_phragmen(instance, profile, tie_breaking=ties)
    supported = {p.name for ballot in profile for p in ballot}
    # pabutools also funds projects nobody voted for with money left; ours never does.
    return [p.name for p in result if p.name in supported]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds())
def test_pabutools_and_our_reader_recount_the_pb_export_to_the_published_winners(
    generated: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    assert_both_recount_to_the_published_winners(*generated)


@pytest.mark.parametrize(
    ("rule", "budget", "expected"), [("greedy", 1_500, ["9"]), ("mes", 3_000, ["9", "3"])]
)
def test_a_lowest_cost_tie_goes_to_the_project_with_more_supporters(
    rule: str, budget: int, expected: list[str]
) -> None:
    """Equal cost and equal points: the second step of ``lowest-cost`` decides, which random
    rounds rarely reach (equal approval votes are equal supporters). Projects 3 and 9 cost 10
    euro and have 4 points each: 3 from one voter, 9 from two. Greedy with 15 euro funds one of
    them; MES with 30 euro (10 a voter) prices both at 2.50 a point and buys 9 first."""
    definition = round_definition(
        ballot_type="cumulative",
        rule=rule,
        costs={3: 1_000, 9: 1_000},
        budget=budget,
        tie_break="lowest-cost",
    )
    contents = [{"points": {"3": 4}}, {"points": {"9": 2}}, {"points": {"9": 2}}]
    export = export_of(definition, contents)
    assert export["outcome"]["elections"][0]["outcome"]["selected"] == expected
    assert_both_recount_to_the_published_winners(definition, contents)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(only_ranked=True))
def test_pabutools_recounts_ranked_pb_exports_with_our_place_scores(
    generated: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """Ranked rounds on their own, so that many rankings are tried: Borda (an ordinal file,
    counted with ``borda_times_cost``) and fixed points per place (a cumulative file)."""
    assert_both_recount_to_the_published_winners(*generated)


def assert_both_recount_to_the_published_winners(
    definition: dict[str, Any], contents: list[dict[str, Any]]
) -> None:
    export = export_of(definition, contents)
    text = pabulib_text(export, None)
    check_pb(export, "ronde.pb", text, Report())  # the verifier accepts its own file
    published = export["outcome"]["elections"][0]["outcome"]["selected"]
    rule = definition["counting"]["rule"]
    theirs = pabutools_winners(rule, text)
    if rule in ORDERED:
        assert theirs == published
    else:
        assert sorted(theirs) == sorted(published)
    pb, election = read_election(text)
    ours = count(election, rule, tie_break=our_tie_break(pb)).selected
    assert list(ours) == published


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(tie_break="lowest-cost"))
def test_pabutools_recounts_lowest_cost_rounds_with_the_order_the_file_publishes(
    generated: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """Our default tie-break (lowest cost, most supporters, then a lot drawn from the round's
    seed): pabutools, given that order as derived from the file's own META and sections, picks
    the published winners, as does our reader."""
    assert_both_recount_to_the_published_winners(*generated)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(district_rounds())
def test_pabutools_and_our_reader_recount_each_district_pb_export_to_its_winners(
    generated: tuple[dict[str, Any], list[tuple[int | None, dict[str, Any]]]],
) -> None:
    """A round with district budgets: each district's ``.pb`` file (its own budget, projects and
    voters) recounts to that district's published winners, in pabutools and in our reader."""
    definition, ballots = generated
    export = export_of(definition, [], ballots_by_election=ballots)
    rule = definition["counting"]["rule"]
    elections = export["outcome"]["elections"]
    assert [e["district_id"] for e in elections] == [1, 2]
    for key, election_result in zip((1, 2), elections, strict=True):
        text = pabulib_text(export, key)
        check_pb(export, f"ronde_{key}.pb", text, Report())
        published = election_result["outcome"]["selected"]
        theirs = pabutools_winners(rule, text)
        assert theirs == published if rule in ORDERED else sorted(theirs) == sorted(published)
        pb, election = read_election(text)
        cents = election_result["budget_cents"]
        assert pb.meta_dict["budget"] == f"{cents // 100}.{cents % 100:02d}"
        assert pb.meta_dict["district"] == ("Noord", "Zuid")[key - 1]
        assert {p.id for p in election.projects} == {
            str(p["id"]) for p in definition["projects"] if p["district_id"] == key
        }
        ours = count(election, rule, tie_break=TieBreak("lexicographic")).selected
        assert list(ours) == published


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(ranked_and_caps=True))
def test_our_reader_recounts_ranked_and_capped_pb_exports_to_the_published_winners(
    generated: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    definition, contents = generated
    export = export_of(definition, contents)
    text = pabulib_text(export, None)
    check_pb(export, "ronde.pb", text, Report())
    published = export["outcome"]["elections"][0]["outcome"]["selected"]
    pb, election = read_election(text)
    rule = definition["counting"]["rule"]
    options: dict[str, Any] = {}
    if pb.leftover != "keep":
        options["leftover"] = pb.leftover
    outcome = count(election, rule, tie_break=TieBreak("lexicographic"), **options)
    assert list(outcome.selected) == published


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(only_rule="mes-add1"))
def test_our_reader_recounts_mes_add1_pb_exports_to_the_published_winners(
    generated: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """``mes-add1``, the Add1 completion real cities publish, has no pabutools equal (its Add1
    stops at the first exhaustive outcome: ``mes-add1-exhaustive``), so no test above draws it;
    our own reader and engine must still recount its ``.pb`` export to the published winners."""
    definition, contents = generated
    export = export_of(definition, contents)
    text = pabulib_text(export, None)
    check_pb(export, "ronde.pb", text, Report())
    published = export["outcome"]["elections"][0]["outcome"]["selected"]
    _pb, election = read_election(text)
    outcome = count(election, "mes-add1", tie_break=TieBreak("lexicographic"))
    assert list(outcome.selected) == published


def test_leftover_pass_reaches_the_pb_file() -> None:
    """A theme cap leaves money; Amsterdam's leftover pass funds the capped project with it, and a
    recount of the .pb file must do the same (META leftover_budget)."""
    definition = {
        "format": "burgerbegroting-round/1",
        "round_id": 8,
        "budget": {"total_cents": 10_000, "scope": "city"},
        "districts": [],
        "themes": [
            {"id": 1, "name": "Zorg", "max_spend_cents": 5_000},
            {"id": 2, "name": "Jeugd", "max_spend_cents": None},
        ],
        "ballot": {
            "type": "approval",
            "approval_max_k": None,
            "cumulative_points": None,
            "min_projects": 0,
            "max_projects": None,
            "min_budget_share_permille": 0,
            "blank_allowed": True,
        },
        "counting": {"rule": "greedy", "tie_break": "lexicographic", "leftover": "fund-by-score"},
        "eligibility": {
            "min_age": None,
            "districts": [],
            "vote_by_code": True,
            "vote_by_account": False,
        },
        "supports": {"enabled": False, "threshold": None},
        "projects": [
            {"id": 1, "title": "A", "cost_cents": 5_000, "theme_id": 1, "district_id": None},
            {"id": 2, "title": "B", "cost_cents": 5_000, "theme_id": 1, "district_id": None},
            {"id": 3, "title": "C", "cost_cents": 8_000, "theme_id": 2, "district_id": None},
        ],
    }
    contents = [{"projects": [1, 2]}] * 3 + [{"projects": [3]}]
    export = export_of(definition, contents)
    published = export["outcome"]["elections"][0]["outcome"]["selected"]
    assert sorted(published) == ["1", "2"]  # B only through the leftover pass
    pb, election = read_election(pabulib_text(export, None))
    assert pb.leftover == "fund-by-score"
    outcome = count(election, "greedy", tie_break=TieBreak("lexicographic"), leftover=pb.leftover)
    assert list(outcome.selected) == published
