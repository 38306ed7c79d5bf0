"""Tie-break orders: lowest cost, lexicographic, explicit; the seed and the fingerprint."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burgerbegroting.voting.tally.model import Ballot, BallotType, Election, Project, TallyError
from burgerbegroting.voting.tally.tiebreak import (
    TieBreak,
    election_fingerprint,
    parse_tie_break,
)
from tests.voting.tally.strategies import elections


def approval(costs: dict[str, int], *ballots: tuple[str, ...]) -> Election:
    return Election(
        budget=100,
        projects=tuple(Project(pid, c) for pid, c in costs.items()),
        ballots=tuple(Ballot(b) for b in ballots),
        ballot_type=BallotType.APPROVAL,
        decimals=0,
    )


def test_lexicographic_compares_ids_as_strings_like_pabutools() -> None:
    e = approval({"9": 1, "10": 1, "B": 1, "a": 1})
    assert TieBreak("lexicographic").order(e) == ("10", "9", "B", "a")


def test_lowest_cost_then_most_supporters_then_the_seeded_lot() -> None:
    e = approval(
        {"dear": 50, "cheap": 5, "popular": 10, "p": 10, "q": 10},
        ("popular",),
        ("popular", "p"),
        ("q",),
    )
    # p and q cost the same and have one supporter each: the lot decides.
    lot = sorted(["p", "q"], key=lambda pid: hashlib.sha256(f"s1{pid}".encode()).hexdigest())
    assert TieBreak("lowest-cost", seed="s1").order(e) == ("cheap", "popular", *lot, "dear")


def test_the_lot_depends_on_the_seed_and_is_reproducible() -> None:
    ids = {f"p{i}": 7 for i in range(12)}
    e = approval(ids)
    first = TieBreak("lowest-cost", seed="2024-raad").order(e)
    assert first == TieBreak("lowest-cost", seed="2024-raad").order(e)
    assert first != TieBreak("lowest-cost", seed="2025-raad").order(e)


def test_without_a_seed_the_fingerprint_is_the_seed_and_resolved_records_it() -> None:
    e = approval({"a": 1, "b": 1}, ("a",), ("b",))
    resolved = TieBreak("lowest-cost").resolved(e)
    assert resolved.seed == election_fingerprint(e)
    assert resolved.order(e) == TieBreak("lowest-cost").order(e)
    assert TieBreak("lexicographic").resolved(e).seed is None


def test_explicit_order_is_used_as_given() -> None:
    e = approval({"a": 1, "b": 2, "c": 3})
    assert TieBreak("explicit", explicit=("c", "a", "b")).order(e) == ("c", "a", "b")


@pytest.mark.parametrize(
    ("explicit", "message"),
    [
        (("a", "b"), "missing c"),
        (("a", "b", "c", "d"), "unknown d"),
        (("a", "a", "b", "c"), "twice"),
    ],
)
def test_explicit_order_must_list_every_project_once(
    explicit: tuple[str, ...], message: str
) -> None:
    e = approval({"a": 1, "b": 2, "c": 3})
    with pytest.raises(TallyError, match=message):
        TieBreak("explicit", explicit=explicit).order(e)


def test_unknown_tie_break_is_refused() -> None:
    with pytest.raises(TallyError, match="Unknown tie-break"):
        TieBreak("random").order(approval({"a": 1}))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("coin", {}, "Unknown tie-break"),
        ("explicit", {}, "complete order"),
        ("lexicographic", {"explicit": ["a"]}, "Only the explicit"),
        ("lexicographic", {"seed": "x"}, "only it takes a seed"),
    ],
)
def test_parse_tie_break_refuses_wrong_combinations(
    name: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TallyError, match=message):
        parse_tie_break(name, **kwargs)  # type: ignore[arg-type]


def test_parse_tie_break_builds_what_it_is_asked() -> None:
    assert parse_tie_break("lowest-cost", seed="s") == TieBreak("lowest-cost", "s")
    assert parse_tie_break("explicit", explicit=["b", "a"]) == TieBreak(
        "explicit", explicit=("b", "a")
    )


@settings(max_examples=100, deadline=None)
@given(elections(), st.randoms(use_true_random=False))
def test_fingerprint_ignores_ballot_order_and_grouping(e: Election, rnd: random.Random) -> None:
    voters = [Ballot(b.projects, b.points) for b in e.ballots for _ in range(b.weight)]
    rnd.shuffle(voters)
    split = Election(e.budget, e.projects, tuple(voters), e.ballot_type, e.decimals, e.caps)
    assert election_fingerprint(split) == election_fingerprint(e)


def test_fingerprint_changes_when_a_vote_changes() -> None:
    e1 = approval({"a": 1, "b": 1}, ("a",), ("b",))
    e2 = approval({"a": 1, "b": 1}, ("a",), ("a",))
    assert election_fingerprint(e1) != election_fingerprint(e2)
