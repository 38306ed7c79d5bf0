"""The moderators' review rules, tested on the service (no HTTP): who is told, what is logged,
which decisions need what, and the support threshold for taking a proposal into review."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit.models import AuditEntry
from burgerbegroting.errors import Conflict, ValidationFailed
from burgerbegroting.proposals import review, service
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.settings import Settings
from tests.accounts.factories import mails
from tests.proposals.factories import (
    People,
    RoundIds,
    actor,
    make_people,
    make_round,
    run,
    with_session,
)


def _submitted(settings: Settings, people: People, ids: RoundIds) -> int:
    async def work(session: AsyncSession) -> int:
        proposal = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.resident),
            data=service.ProposalInput(
                title="Buurtmaaltijd elke week",
                summary="Samen eten.",
                description="Koken met buren.",
                theme_id=ids.themes[0],
                city_wide=True,
                estimated_cost_cents=300_000,
                societal_effect="Minder eenzaamheid.",
                target_group="Alleenstaanden",
            ),
            submit=True,
        )
        return proposal.id

    return run(settings, work)


def _withdrawn_and_draft(settings: Settings, people: People, ids: RoundIds) -> tuple[int, int]:
    """A proposal submitted and then withdrawn by its author, and a draft never submitted."""
    withdrawn = _submitted(settings, people, ids)

    async def setup(session: AsyncSession) -> int:
        await service.withdraw_proposal(session, proposal_id=withdrawn, user=actor(people.resident))
        draft = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.resident),
            data=service.ProposalInput(title="Nog niet af"),
            submit=False,
        )
        return draft.id

    return withdrawn, run(settings, setup)


def _decide(settings: Settings, people: People, proposal_id: int, **data: object) -> None:
    async def work(session: AsyncSession) -> None:
        await review.review_proposal(
            session,
            settings,
            proposal_id=proposal_id,
            moderator=actor(people.moderator, Role.MODERATOR),
            data=review.ReviewInput(**data),  # type: ignore[arg-type]
        )

    run(settings, work)


@pytest.mark.parametrize(
    ("decision", "label"),
    [("rejected", "afgewezen"), ("changes_requested", "aanpassing gevraagd")],
)
def test_a_rejection_or_a_request_for_changes_is_mailed_to_the_authors(
    settings: Settings, decision: str, label: str
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    proposal_id = _submitted(settings, people, ids)
    _decide(settings, people, proposal_id, decision=decision, public_reasoning="Zie toelichting.")
    sent = [m for m in mails(settings) if m["To"] == "anna@example.nl"]
    assert [str(m["Subject"]) for m in sent] == [f"Uw voorstel is beoordeeld: {label}"]
    assert "Zie toelichting." in sent[0].get_payload()


def test_taking_a_proposal_into_review_mails_nobody(settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    proposal_id = _submitted(settings, people, ids)
    _decide(settings, people, proposal_id, decision="in_review")
    assert mails(settings) == []


def test_the_audit_entry_names_the_status_before_and_after_and_the_ballot_cost(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    proposal_id = _submitted(settings, people, ids)
    _decide(settings, people, proposal_id, decision="in_review")
    _decide(
        settings,
        people,
        proposal_id,
        decision="accepted",
        municipal_cost_cents=350_000,
        public_reasoning="Haalbaar.",
    )

    async def entries(
        session: AsyncSession,
    ) -> list[tuple[int | None, str | None, dict[str, object]]]:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "proposal.review").order_by(AuditEntry.id)
        )
        return [(e.actor_id, e.reason, e.details) for e in rows]

    assert run(settings, entries) == [
        (
            people.moderator,
            None,
            {"from": "submitted", "to": "in_review", "municipal_cost_cents": None},
        ),
        (
            people.moderator,
            "Haalbaar.",
            {"from": "in_review", "to": "accepted", "municipal_cost_cents": 350_000},
        ),
    ]


@pytest.mark.parametrize("decision", ["accepted", "rejected", "changes_requested"])
def test_a_decision_needs_a_public_reasoning(settings: Settings, decision: str) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    proposal_id = _submitted(settings, people, ids)
    with pytest.raises(ValidationFailed) as refused:
        _decide(
            settings,
            people,
            proposal_id,
            decision=decision,
            municipal_cost_cents=350_000,
            public_reasoning="  ",
        )
    assert set(refused.value.fields) == {"public_reasoning"}


def test_below_the_support_threshold_a_proposal_is_not_taken_into_review(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings, support_threshold=1)
    proposal_id = _submitted(settings, people, ids)
    with pytest.raises(Conflict, match="0 van de 1 steunbetuigingen"):
        _decide(settings, people, proposal_id, decision="in_review")

    async def support(session: AsyncSession) -> None:
        await service.add_support(session, proposal_id=proposal_id, user=actor(people.other))

    run(settings, support)
    _decide(settings, people, proposal_id, decision="in_review")

    async def status(session: AsyncSession) -> str:
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        return proposal.status

    assert run(settings, status) == ProposalStatus.IN_REVIEW.value


def test_a_draft_or_withdrawn_proposal_cannot_be_decided_on(settings: Settings) -> None:
    """A draft is private to its authors and a withdrawn proposal was taken back: a moderator
    can put neither on the ballot (nor reject it)."""
    people = make_people(settings)
    ids = make_round(settings)
    withdrawn, draft = _withdrawn_and_draft(settings, people, ids)
    for proposal_id in (draft, withdrawn):
        for decision in ("accepted", "rejected", "in_review"):
            with pytest.raises(Conflict, match="kan niet worden getoetst"):
                _decide(
                    settings,
                    people,
                    proposal_id,
                    decision=decision,
                    municipal_cost_cents=350_000,
                    public_reasoning="Besluit.",
                )

    async def statuses(session: AsyncSession) -> list[str]:
        return [(await service.load(session, i)).status for i in (draft, withdrawn)]

    assert run(settings, statuses) == ["draft", "withdrawn"]
    assert mails(settings) == []


def test_a_draft_or_withdrawn_proposal_cannot_be_merged_either_way(settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    public = _submitted(settings, people, ids)
    withdrawn, draft = _withdrawn_and_draft(settings, people, ids)

    async def merge(source: int, target: int) -> None:
        async def work(session: AsyncSession) -> None:
            await review.merge_proposals(
                session,
                settings,
                source_id=source,
                target_id=target,
                moderator=actor(people.moderator, Role.MODERATOR),
                reason="Dubbel.",
            )

        await with_session(settings, work)

    for hidden in (draft, withdrawn):
        for source, target in ((hidden, public), (public, hidden)):
            with pytest.raises(Conflict, match="kan niet worden samengevoegd"):
                asyncio.run(merge(source, target))

    async def statuses(session: AsyncSession) -> list[str]:
        return [(await service.load(session, i)).status for i in (public, draft, withdrawn)]

    assert run(settings, statuses) == ["submitted", "draft", "withdrawn"]
