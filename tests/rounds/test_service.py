"""Round rules: validation, phases (by hand and on schedule), freezing and the fingerprint."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit.models import AuditEntry
from burgerbegroting.errors import Conflict, NotFound, ValidationFailed
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds import service
from burgerbegroting.rounds.models import Phase, Round
from tests.rounds.factories import (
    T0,
    add_missing_projects,
    add_proposal,
    count,
    create_user,
    disable_freeze_trigger,
    round_data,
)


async def _create(session: AsyncSession, **overrides: Any) -> Round:
    admin = await create_user(session, Role.ADMIN, email="beheer@example.nl")
    return await service.create_round(session, round_data(**overrides), actor_id=admin)


async def _to_phase(session: AsyncSession, round_id: int, target: Phase) -> Round:
    round_ = await service.get_round(session, round_id)
    while round_.phase != target:
        following = service.next_phase(Phase(round_.phase))
        assert following is not None
        if following == Phase.VOTING:
            await add_missing_projects(session, round_id)
        round_ = await service.move_phase(
            session, round_id, following, actor_id=None, reason="test"
        )
    return round_


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return exc.value.fields


async def test_create_round_stores_settings_districts_themes_and_logs_it(
    session: AsyncSession,
) -> None:
    round_ = await _create(session)
    assert round_.phase == Phase.DRAFT
    assert [d.name for d in round_.districts] == ["Centrum", "Noord", "Zuid"]
    assert [t.name for t in round_.themes] == [
        "Eenzaamheid",
        "Mantelzorg",
        "Armoede",
        "Jongerenparticipatie",
    ]
    assert round_.themes[1].max_spend_cents == 10_000_000
    assert round_.counting_rule == "greedy"
    assert round_.fingerprint is None
    entries = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(e.action, e.subject_id) for e in entries] == [("round.create", str(round_.id))]
    assert entries[0].details["fields"]["total_budget_cents"] == 45_000_000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"total_budget_cents": 0}, "total_budget_cents"),
        ({"total_budget_cents": -5}, "total_budget_cents"),
        ({"total_budget_cents": 10**15}, "total_budget_cents"),
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"districts": [{"name": "Centrum", "budget_cents": 1}]}, "districts"),
        (
            {"districts": [{"name": "Centrum", "budget_cents": 45_000_000}, {"name": "Noord"}]},
            "districts.1.budget_cents",
        ),
        (
            {"budget_scope": "city"},
            "districts.0.budget_cents",
        ),
        ({"themes": [{"name": "Armoede"}, {"name": "armoede"}]}, "themes.1.name"),
        (
            {"themes": [{"name": "Armoede", "max_spend_cents": 50_000_000}]},
            "themes.0.max_spend_cents",
        ),
        ({"voting_starts_at": T0 + timedelta(days=10)}, "voting_starts_at"),
        ({"review_starts_at": T0}, "review_starts_at"),
        ({"ballot_type": "approval"}, "approval_max_k"),
        ({"ballot_type": "approval", "approval_max_k": 0}, "approval_max_k"),
        ({"ballot_type": "cumulative"}, "cumulative_points"),
        ({"min_projects": 5, "max_projects": 2}, "max_projects"),
        ({"min_budget_share_permille": 1001}, "min_budget_share_permille"),
        ({"ballot_type": "stemwijzer"}, "ballot_type"),
        ({"counting_rule": "d'hondt"}, "counting_rule"),
        ({"tie_break": "coin"}, "tie_break"),
        ({"min_age": 300}, "min_age"),
        ({"vote_by_code": False, "vote_by_account": False}, "vote_by_code"),
        ({"supports_enabled": False, "support_threshold": 5}, "support_threshold"),
        ({"colour": "red"}, "colour"),
        # Ballot settings that contradict each other.
        ({"ballot_type": "choose-1", "min_projects": 1, "max_projects": 10}, "max_projects"),
        ({"ballot_type": "choose-1", "min_projects": 2, "max_projects": None}, "min_projects"),
        ({"ballot_type": "approval", "approval_max_k": 11, "max_projects": 10}, "approval_max_k"),
        ({"ballot_type": "knapsack", "approval_max_k": 3}, "approval_max_k"),
        ({"ballot_type": "knapsack", "cumulative_points": 10}, "cumulative_points"),
        ({"ballot_type": "cumulative", "cumulative_points": 2, "min_projects": 3}, "min_projects"),
        ({"min_projects": -1}, "min_projects"),
        ({"max_projects": 0}, "max_projects"),
        ({"min_age": -1}, "min_age"),
        ({"min_age": True}, "min_age"),
        ({"support_threshold": -1}, "support_threshold"),
        (
            {
                "districts": [
                    {"name": "Centrum", "budget_cents": 15_000_000, "eligible": False},
                    {"name": "Noord", "budget_cents": 30_000_000, "eligible": False},
                ]
            },
            "districts",
        ),
        ({"voting_starts_at": T0 + timedelta(days=30)}, "voting_starts_at"),  # equal: not after
        ({"closed_starts_at": T0.replace(tzinfo=None) + timedelta(days=75)}, "closed_starts_at"),
        ({"themes": [{"name": "x" * 101}]}, "themes.0.name"),
        ({"description": "x" * 20_001}, "description"),
    ],
)
async def test_invalid_settings_are_refused_per_field_and_nothing_is_written(
    session: AsyncSession, overrides: dict[str, Any], field: str
) -> None:
    admin = await create_user(session, Role.ADMIN)
    with pytest.raises(ValidationFailed) as exc:
        await service.create_round(session, round_data(**overrides), actor_id=admin)
    assert field in _fields(exc), _fields(exc)
    assert all(message for message in _fields(exc).values())
    assert await count(session, Round) == 0
    assert await count(session, AuditEntry) == 0


async def test_city_wide_budget_needs_no_district_budgets(session: AsyncSession) -> None:
    round_ = await _create(
        session,
        budget_scope="city",
        districts=[{"name": "Centrum"}, {"name": "Noord", "eligible": False}],
    )
    assert [d.budget_cents for d in round_.districts] == [None, None]
    assert [d.eligible for d in round_.districts] == [True, False]


async def test_update_changes_only_given_fields_and_merges_lists(session: AsyncSession) -> None:
    round_ = await _create(session)
    centrum, noord, zuid = round_.districts
    updated = await service.update_round(
        session,
        round_.id,
        {
            "description": "Nieuwe tekst",
            "districts": [
                {"id": centrum.id, "name": "Binnenstad", "budget_cents": 20_000_000},
                {"id": zuid.id, "name": "Zuid", "budget_cents": 25_000_000},
            ],
        },
        actor_id=None,
        reason="Noord valt onder Binnenstad",
    )
    assert updated.description == "Nieuwe tekst"
    assert updated.title == "Burgerbegroting Sociaal Domein 2027"
    assert [(d.id, d.name) for d in updated.districts] == [
        (centrum.id, "Binnenstad"),
        (zuid.id, "Zuid"),
    ]
    assert noord.id not in {d.id for d in updated.districts}
    entry = (
        await session.execute(select(AuditEntry).where(AuditEntry.action == "round.update"))
    ).scalar_one()
    assert entry.reason == "Noord valt onder Binnenstad"
    assert entry.details["before"]["description"] == "Verdeel mee over zorg en welzijn."


async def test_an_update_that_changes_nothing_logs_nothing(session: AsyncSession) -> None:
    round_ = await _create(session)
    title = round_.title
    for unchanged in ({}, {"title": title}):
        await service.update_round(session, round_.id, unchanged, actor_id=None, reason="Niets")
    updates = select(AuditEntry).where(AuditEntry.action == "round.update")
    assert (await session.execute(updates)).scalars().all() == []
    await service.update_round(
        session, round_.id, {"title": title, "description": "Anders"}, actor_id=None
    )
    entry = (await session.execute(updates)).scalar_one()
    # Only what changed is in the entry: the unchanged title is not.
    assert entry.details["after"] == {"description": "Anders"}
    assert set(entry.details["before"]) == {"description"}


async def test_a_theme_with_proposals_cannot_be_removed(session: AsyncSession) -> None:
    round_ = await _create(session)
    author = await create_user(session, Role.RESIDENT)
    armoede = round_.themes[2]
    await add_proposal(session, round_id=round_.id, author_id=author, theme_id=armoede.id)
    keep = [{"id": t.id, "name": t.name} for t in round_.themes if t.id != armoede.id]
    with pytest.raises(Conflict) as exc:
        await service.update_round(session, round_.id, {"themes": keep}, actor_id=None)
    assert "Armoede" in exc.value.message


async def test_unknown_round_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await service.get_round(session, 424242)
    with pytest.raises(NotFound):
        await service.update_round(session, 424242, {"title": "x"}, actor_id=None)


async def test_phases_move_one_step_forward_only(session: AsyncSession) -> None:
    round_ = await _create(session)
    with pytest.raises(Conflict):
        await service.move_phase(session, round_.id, Phase.VOTING, actor_id=None, reason="te vroeg")
    with pytest.raises(Conflict):
        await service.move_phase(session, round_.id, Phase.DRAFT, actor_id=None, reason="terug")
    moved = await service.move_phase(
        session, round_.id, Phase.SUBMISSION, actor_id=None, reason="start"
    )
    assert moved.phase == Phase.SUBMISSION
    # A repeated click names the same target and is refused instead of skipping a phase.
    with pytest.raises(Conflict):
        await service.move_phase(session, round_.id, Phase.SUBMISSION, actor_id=None, reason="x")
    entry = (
        await session.execute(select(AuditEntry).where(AuditEntry.action == "round.phase"))
    ).scalar_one()
    assert entry.details == {"from": "draft", "to": "submission"}
    assert entry.reason == "start"


async def test_a_round_without_themes_cannot_open(session: AsyncSession) -> None:
    round_ = await _create(session, themes=[])
    with pytest.raises(Conflict):
        await service.move_phase(session, round_.id, Phase.SUBMISSION, actor_id=None, reason="x")


async def test_published_is_the_last_phase(session: AsyncSession) -> None:
    round_ = await _create(session)
    await _to_phase(session, round_.id, Phase.PUBLISHED)
    with pytest.raises(Conflict):
        await service.move_phase(session, round_.id, Phase.PUBLISHED, actor_id=None, reason="x")


async def test_opening_voting_freezes_and_fingerprints_the_definition(
    session: AsyncSession,
) -> None:
    round_ = await _create(session)
    author = await create_user(session, Role.RESIDENT)
    theme, district = round_.themes[0], round_.districts[1]
    accepted = await add_proposal(
        session, round_id=round_.id, author_id=author, theme_id=theme.id, district_id=district.id
    )
    await add_proposal(
        session,
        round_id=round_.id,
        author_id=author,
        theme_id=theme.id,
        status=ProposalStatus.REJECTED,
        title="Afgewezen plan",
    )
    frozen = await _to_phase(session, round_.id, Phase.VOTING)
    assert frozen.frozen_at is not None
    assert frozen.frozen_definition is not None
    raw = frozen.frozen_definition.encode()
    assert frozen.fingerprint == hashlib.sha256(raw).hexdigest()
    definition = json.loads(raw)
    # Canonical: re-encoding with sorted keys and no whitespace gives the same bytes.
    assert (
        json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        == raw
    )
    assert definition["budget"] == {"total_cents": 45_000_000, "scope": "districts"}
    assert definition["format"] == "burgerbegroting-round/2"
    assert definition["counting"] == {
        "rule": "greedy",
        "tie_break": "lowest-cost",
        "seed": None,
        "order": None,
        "threshold": None,
        "no_skip": False,
        "leftover": "keep",
        "ranked_scores": None,
    }
    # The accepted project, and one per other district (opening voting needs one in each).
    assert len(definition["projects"]) == 3
    assert definition["projects"][0] == {
        "id": accepted.id,
        "title": "Buurtkamer voor ouderen",
        "cost_cents": 2_500_000,
        "theme_id": theme.id,
        "district_id": district.id,
    }
    assert await service.verify_fingerprint(session, frozen)
    entry = (
        await session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "round.phase", AuditEntry.details["to"].as_string() == "voting"
            )
        )
    ).scalar_one()
    assert entry.details["fingerprint"] == frozen.fingerprint


async def test_fingerprint_is_stable_and_changes_with_a_frozen_input(
    session: AsyncSession,
) -> None:
    round_ = await _create(session)
    author = await create_user(session, Role.RESIDENT)
    proposal = await add_proposal(
        session, round_id=round_.id, author_id=author, theme_id=round_.themes[0].id
    )
    first = await service.fingerprint_now(session, round_)
    assert await service.fingerprint_now(session, round_) == first
    # A text that does not affect the count leaves the fingerprint alone …
    round_.description = "Andere beschrijving"
    assert await service.fingerprint_now(session, round_) == first
    # … a project's municipal cost changes it.
    proposal.municipal_cost_cents = 2_500_001
    await session.flush()
    assert await service.fingerprint_now(session, round_) != first
    proposal.municipal_cost_cents = 2_500_000
    round_.tie_break = "lexicographic"
    assert await service.fingerprint_now(session, round_) != first


async def test_tampering_after_freeze_is_detected(session: AsyncSession) -> None:
    round_ = await _create(session)
    author = await create_user(session, Role.RESIDENT)
    proposal = await add_proposal(
        session,
        round_id=round_.id,
        author_id=author,
        theme_id=round_.themes[0].id,
        district_id=round_.districts[0].id,
    )
    frozen = await _to_phase(session, round_.id, Phase.VOTING)
    assert await service.verify_fingerprint(session, frozen)
    # The database refuses the change (tests/rounds/test_freeze_triggers.py); someone with the
    # rights to drop its trigger can still make it, and the fingerprint then shows it.
    await disable_freeze_trigger(session, "proposals")
    # Behind the session's back: the cached Proposal object keeps its old cost.
    await session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id)
        .values(municipal_cost_cents=1)
        .execution_options(synchronize_session=False)
    )
    assert proposal.municipal_cost_cents == 2_500_000
    assert not await service.verify_fingerprint(session, frozen)


@pytest.mark.parametrize(
    "change",
    [
        {"total_budget_cents": 50_000_000},
        {"budget_scope": "city"},
        {"counting_rule": "mes"},
        {"tie_break": "lexicographic"},
        {"min_age": 16},
        {"max_projects": 3},
        {"vote_by_account": True},
        {"themes": [{"name": "Schuldhulp"}]},
        {"voting_starts_at": T0 + timedelta(days=61)},
        {"supports_enabled": False, "support_threshold": None},
        {"support_threshold": 3},
        {"blank_ballot_allowed": False},
    ],
)
async def test_count_affecting_edits_after_voting_opens_are_conflicts(
    session: AsyncSession, change: dict[str, Any]
) -> None:
    round_ = await _create(session)
    frozen = await _to_phase(session, round_.id, Phase.VOTING)
    with pytest.raises(Conflict) as exc:
        await service.update_round(session, frozen.id, change, actor_id=None)
    assert "stemmen is geopend" in exc.value.message
    assert set(exc.value.fields) == set(change)
    again = await service.get_round(session, frozen.id)
    assert again.fingerprint == frozen.fingerprint
    assert await service.verify_fingerprint(session, again)


async def test_texts_and_closing_times_stay_editable_after_freeze(session: AsyncSession) -> None:
    round_ = await _create(session)
    frozen = await _to_phase(session, round_.id, Phase.VOTING)
    updated = await service.update_round(
        session,
        frozen.id,
        {
            "description": "Stemmen kan ook in het buurthuis.",
            "title": "Burgerbegroting Sociaal Domein 2027 (Teststad)",
            "closed_starts_at": T0 + timedelta(days=76),
            # Unchanged count-affecting values are no change, so they pass.
            "total_budget_cents": 45_000_000,
            "counting_rule": "greedy",
        },
        actor_id=None,
    )
    assert updated.description == "Stemmen kan ook in het buurthuis."
    assert updated.closed_starts_at == T0 + timedelta(days=76)
    assert updated.fingerprint == frozen.fingerprint


async def test_schedule_moves_due_rounds_and_freezes_on_the_way(session: AsyncSession) -> None:
    due = await _create(session)
    admin = (await session.execute(select(AuditEntry.actor_id))).scalars().first()
    later = await service.create_round(
        session,
        round_data(
            title="Later",
            submission_starts_at=T0 + timedelta(days=365),
            review_starts_at=None,
            voting_starts_at=None,
            closed_starts_at=None,
            published_starts_at=None,
        ),
        actor_id=admin,
    )
    manual = await service.create_round(
        session,
        round_data(
            title="Handmatig",
            submission_starts_at=None,
            review_starts_at=None,
            voting_starts_at=None,
            closed_starts_at=None,
            published_starts_at=None,
        ),
        actor_id=admin,
    )
    assert await service.advance_due_phases(session, T0 - timedelta(minutes=1)) == []
    await add_missing_projects(session, due.id)

    moves = await service.advance_due_phases(session, T0 + timedelta(days=61))
    assert [(m.round_id, m.from_phase, m.to_phase) for m in moves] == [
        (due.id, Phase.DRAFT, Phase.SUBMISSION),
        (due.id, Phase.SUBMISSION, Phase.REVIEW),
        (due.id, Phase.REVIEW, Phase.VOTING),
    ]
    moved = await service.get_round(session, due.id)
    assert moved.phase == Phase.VOTING
    assert moved.fingerprint is not None
    assert (await service.get_round(session, later.id)).phase == Phase.DRAFT
    assert (await service.get_round(session, manual.id)).phase == Phase.DRAFT
    scheduled = (
        (
            await session.execute(
                select(AuditEntry).where(AuditEntry.action == "round.phase").order_by(AuditEntry.id)
            )
        )
        .scalars()
        .all()
    )
    assert [(e.actor_id, e.reason) for e in scheduled] == [(None, "Volgens planning")] * 3
    # Running again at the same moment does nothing more.
    assert await service.advance_due_phases(session, T0 + timedelta(days=61)) == []


async def test_schedule_skips_a_round_the_rules_refuse(session: AsyncSession) -> None:
    round_ = await _create(session, themes=[])
    assert await service.advance_due_phases(session, T0 + timedelta(days=1)) == []
    assert (await service.get_round(session, round_.id)).phase == Phase.DRAFT


async def test_the_schedule_does_not_open_voting_for_a_round_that_is_not_ready(
    session: AsyncSession,
) -> None:
    # Due for voting, but no accepted project: the schedule stops in review, nothing is frozen,
    # and the next tick tries again (and succeeds once the round is ready).
    round_ = await _create(session)
    moves = await service.advance_due_phases(session, T0 + timedelta(days=61))
    assert [m.to_phase for m in moves] == [Phase.SUBMISSION, Phase.REVIEW]
    stuck = await service.get_round(session, round_.id)
    assert (stuck.phase, stuck.fingerprint, stuck.frozen_definition) == (Phase.REVIEW, None, None)
    await add_missing_projects(session, round_.id)
    moves = await service.advance_due_phases(session, T0 + timedelta(days=61))
    assert [m.to_phase for m in moves] == [Phase.VOTING]
    assert (await service.get_round(session, round_.id)).fingerprint is not None


async def test_current_round_summary_prefers_an_active_public_round(
    session: AsyncSession,
) -> None:
    assert await service.current_round_summary(session) is None
    first = await _create(session)
    assert await service.current_round_summary(session) is None  # drafts are not public
    await _to_phase(session, first.id, Phase.PUBLISHED)
    summary = await service.current_round_summary(session)
    assert summary is not None
    assert (summary.id, summary.phase, summary.phase_ends_at) == (first.id, Phase.PUBLISHED, None)
    admin = (await session.execute(select(AuditEntry.actor_id))).scalars().first()
    second = await service.create_round(session, round_data(title="Tweede"), actor_id=admin)
    await _to_phase(session, second.id, Phase.REVIEW)
    summary = await service.current_round_summary(session)
    assert summary is not None
    assert (summary.id, summary.title, summary.phase) == (second.id, "Tweede", Phase.REVIEW)
    assert summary.phase_ends_at == T0 + timedelta(days=60)
    assert summary.budget_cents == 45_000_000


async def test_assert_phase_raises_a_dutch_conflict(session: AsyncSession) -> None:
    round_ = await _create(session)
    service.assert_phase(round_, Phase.DRAFT, Phase.SUBMISSION)
    with pytest.raises(Conflict) as exc:
        service.assert_phase(round_, Phase.VOTING)
    assert "stemmen" in exc.value.message


def test_canonical_json_refuses_floats() -> None:
    assert (
        service.canonical_json({"b": 1, "a": [True, None, "é"]})
        == '{"a":[true,null,"é"],"b":1}'.encode()
    )
    with pytest.raises(TypeError):
        service.canonical_json({"cost": 1.5})


async def _two_simultaneous_clicks(database_url: str) -> tuple[list[object], int]:
    """Two admins click "next phase" at once, each in its own connection and transaction as two
    requests would be; the outcomes ("moved", "conflict" or the exception) and the phase moves
    that reached the audit log."""
    from burgerbegroting.db import create_engine

    engines = [create_engine(database_url) for _ in range(2)]
    try:
        async with AsyncSession(engines[0], expire_on_commit=False) as setup:
            round_ = await _create(setup)
            await setup.commit()

        async def click(engine: Any) -> str:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                try:
                    await service.move_phase(
                        session, round_.id, Phase.SUBMISSION, actor_id=None, reason="klik"
                    )
                    await asyncio.sleep(0.2)  # hold the transaction open: widen the window
                    await session.commit()
                except Conflict:
                    await session.rollback()
                    return "conflict"
            return "moved"

        outcomes = await asyncio.gather(
            click(engines[0]), click(engines[1]), return_exceptions=True
        )
        async with AsyncSession(engines[0]) as check:
            moves = (
                (await check.execute(select(AuditEntry).where(AuditEntry.action == "round.phase")))
                .scalars()
                .all()
            )
        return [o if isinstance(o, str) else type(o).__name__ for o in outcomes], len(moves)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_simultaneous_phase_moves_make_one_move(database_url: str) -> None:
    """One move, one Conflict, one log line: the row lock (PostgreSQL) or the write lock (SQLite,
    BEGIN IMMEDIATE) makes the second click see the first. The negative control below shows each
    lock is what makes this pass."""
    outcomes, moves = await _two_simultaneous_clicks(database_url)
    assert sorted(map(str, outcomes)) == ["conflict", "moved"]
    assert moves == 1


async def test_without_its_lock_the_phase_move_race_is_lost(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: remove the lock the backend relies on and the race test's outcome breaks.

    PostgreSQL: without FOR UPDATE both clicks move the phase and log it. SQLite ignores FOR UPDATE;
    its lock is BEGIN IMMEDIATE, and without it (a deferred BEGIN) the second writer fails instead
    of waiting and seeing the first.
    """
    if database_url.startswith("postgresql"):

        async def unlocked(session: AsyncSession, round_id: int) -> Round:
            # _locked_round's query without .with_for_update().
            result = await session.execute(
                select(Round)
                .where(Round.id == round_id)
                .options(selectinload(Round.districts), selectinload(Round.themes))
                .execution_options(populate_existing=True)
            )
            return result.scalar_one()

        monkeypatch.setattr(service, "_locked_round", unlocked)
        outcomes, moves = await _two_simultaneous_clicks(database_url)
        assert outcomes == ["moved", "moved"]
        assert moves == 2
    else:
        from burgerbegroting import db

        token = db.set_read_only(True)  # every transaction begins deferred
        try:
            outcomes, _moves = await _two_simultaneous_clicks(database_url)
        finally:
            db.reset_read_only(token)
        assert sorted(map(str, outcomes)) != ["conflict", "moved"]
        assert "OperationalError" in outcomes


# Every input of the count, changed alone: (what, how). Round columns are changed in memory (the
# definition is built from the loaded round); the districts' and themes' first rows likewise.
_FROZEN_INPUTS: list[tuple[str, Any]] = [
    *(
        (f"round.{name}", value)
        for name, value in [
            ("total_budget_cents", 45_000_001),
            ("budget_scope", "city"),
            ("ballot_type", "approval"),
            ("approval_max_k", 3),
            ("cumulative_points", 10),
            ("min_projects", 2),
            ("max_projects", 9),
            ("min_budget_share_permille", 500),
            ("blank_ballot_allowed", False),
            ("counting_rule", "mes"),
            ("tie_break", "explicit"),
            ("tie_break_seed", "lot"),
            ("tie_break_order", "[1]"),
            ("greedy_threshold", 2),
            ("greedy_no_skip", True),
            ("leftover", "fund-by-score"),
            ("ranked_scores", "3,2,1"),
            ("min_age", 16),
            ("vote_by_code", False),
            ("vote_by_account", True),
            ("supports_enabled", False),
            ("support_threshold", 11),
        ]
    ),
    ("district.name", "Oost"),
    ("district.budget_cents", 15_000_001),
    ("district.eligible", False),
    ("theme.name", "Schuldhulp"),
    ("theme.max_spend_cents", 1),
]


@pytest.mark.parametrize(("what", "value"), _FROZEN_INPUTS, ids=[w for w, _ in _FROZEN_INPUTS])
async def test_every_input_of_the_count_is_in_the_fingerprint(
    session: AsyncSession, what: str, value: Any
) -> None:
    round_ = await _create(session)
    before = await service.fingerprint_now(session, round_)
    kind, name = what.split(".")
    target = {"round": round_, "district": round_.districts[0], "theme": round_.themes[1]}[kind]
    assert getattr(target, name) != value
    setattr(target, name, value)
    with session.no_autoflush:  # in memory only: some values alone break the round's CHECKs
        assert await service.fingerprint_now(session, round_) != before


async def test_the_order_districts_and_themes_are_listed_in_is_not_in_the_fingerprint(
    session: AsyncSession,
) -> None:
    """Their display order (position) may change; the canonical definition lists them by id."""
    round_ = await _create(session)
    before = await service.fingerprint_now(session, round_)
    district_ids = [d.id for d in round_.districts]
    reordered = await service.update_round(
        session,
        round_.id,
        {
            "districts": [
                {"id": d.id, "name": d.name, "budget_cents": d.budget_cents}
                for d in reversed(round_.districts)
            ],
            "themes": [
                {"id": t.id, "name": t.name, "max_spend_cents": t.max_spend_cents}
                for t in reversed(round_.themes)
            ],
        },
        actor_id=None,
    )
    assert [d.id for d in reordered.districts] == district_ids[::-1]
    assert await service.fingerprint_now(session, reordered) == before


async def test_a_tie_break_order_may_name_only_proposals_of_its_own_round(
    session: AsyncSession,
) -> None:
    round_ = await _create(session)
    other = await service.create_round(session, round_data(title="Jongerenronde"), actor_id=None)
    author = await create_user(session, Role.RESIDENT)
    own = await add_proposal(
        session, round_id=round_.id, author_id=author, theme_id=round_.themes[0].id
    )
    foreign = await add_proposal(
        session, round_id=other.id, author_id=author, theme_id=other.themes[0].id
    )
    with pytest.raises(ValidationFailed) as refused:
        await service.update_round(
            session,
            round_.id,
            {"tie_break": "explicit", "tie_break_order": [own.id, foreign.id]},
            actor_id=None,
        )
    assert set(refused.value.fields) == {"tie_break_order"}
    assert f": {foreign.id}." in refused.value.fields["tie_break_order"]
    accepted = await service.update_round(
        session, round_.id, {"tie_break": "explicit", "tie_break_order": [own.id]}, actor_id=None
    )
    assert accepted.tie_break_order == f"[{own.id}]"


async def test_a_phase_starts_at_its_scheduled_moment_not_later(session: AsyncSession) -> None:
    round_ = await _create(session)
    assert round_.submission_starts_at == T0
    assert await service.advance_due_phases(session, T0 - timedelta(microseconds=1)) == []
    moves = await service.advance_due_phases(session, T0)
    assert moves == [service.PhaseMove(round_.id, Phase.DRAFT, Phase.SUBMISSION)]


async def test_an_active_round_goes_before_a_newer_closed_one(session: AsyncSession) -> None:
    active = await _create(session)
    await _to_phase(session, active.id, Phase.SUBMISSION)
    closed = await service.create_round(session, round_data(title="Nieuwer"), actor_id=None)
    await _to_phase(session, closed.id, Phase.CLOSED)
    summary = await service.current_round_summary(session)
    assert summary is not None
    assert (summary.id, summary.phase) == (active.id, Phase.SUBMISSION)


async def test_a_theme_may_be_capped_at_the_whole_budget(session: AsyncSession) -> None:
    round_ = await _create(session, themes=[{"name": "Alles", "max_spend_cents": 45_000_000}])
    assert round_.themes[0].max_spend_cents == round_.total_budget_cents
    with pytest.raises(ValidationFailed) as refused:
        await service.update_round(
            session,
            round_.id,
            {
                "themes": [
                    {"id": round_.themes[0].id, "name": "Alles", "max_spend_cents": 45_000_001}
                ]
            },
            actor_id=None,
        )
    assert set(_fields(refused)) == {"themes.0.max_spend_cents"}
