"""Service rules tested directly (no HTTP): visibility, editing windows, merge credits, filters."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, Forbidden, NotFound, ValidationFailed
from burgerbegroting.proposals import gallery, review, service
from burgerbegroting.proposals.forms import format_euro_input, parse_euro
from burgerbegroting.proposals.models import ProposalAuthor
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.proposals.factories import make_people, make_round, move_round, run


def _actor(user_id: int, *roles: Role) -> CurrentUser:
    return CurrentUser(
        id=user_id,
        email=f"u{user_id}@example.nl",
        display_name=f"U{user_id}",
        roles=frozenset(roles or (Role.RESIDENT,)),
    )


def _input(theme: int, **changes: object) -> service.ProposalInput:
    values: dict[str, object] = {
        "title": "Buurtmaaltijd elke week",
        "summary": "Samen eten.",
        "description": "Koken met buren.",
        "theme_id": theme,
        "city_wide": True,
        "estimated_cost_cents": 300_000,
        "societal_effect": "Minder eenzaamheid.",
        "target_group": "Alleenstaanden",
    }
    values.update(changes)
    return service.ProposalInput(**values)  # type: ignore[arg-type]


def test_changes_requested_can_be_edited_and_resubmitted_in_review_phase(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    author = _actor(people.resident)
    moderator = _actor(people.moderator, Role.MODERATOR)

    async def submit(session: AsyncSession) -> int:
        p = await service.create_proposal(
            session, round_id=ids.round_id, user=author, data=_input(ids.themes[0]), submit=True
        )
        return p.id

    proposal_id = run(settings, submit)
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)

    async def in_review(session: AsyncSession) -> None:
        # Submitted proposals cannot be edited once the submission phase is over...
        with pytest.raises(Conflict):
            await service.update_proposal(
                session, proposal_id=proposal_id, user=author, data=_input(ids.themes[0])
            )
        await review.review_proposal(
            session,
            settings,
            proposal_id=proposal_id,
            moderator=moderator,
            data=review.ReviewInput(
                decision="changes_requested", public_reasoning="Graag de kosten onderbouwen."
            ),
        )

    run(settings, in_review)

    async def fix(session: AsyncSession) -> str:
        # ...but after a moderator asked for changes, the author may edit and resubmit.
        await service.update_proposal(
            session,
            proposal_id=proposal_id,
            user=author,
            data=_input(ids.themes[0], estimated_cost_cents=280_000),
        )
        p = await service.submit_proposal(session, proposal_id=proposal_id, user=author)
        return p.status

    assert run(settings, fix) == "submitted"


def test_merge_credits_merged_in_authors_and_keeps_one_row_per_person(settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    anna, bram = _actor(people.resident), _actor(people.other)
    moderator = _actor(people.moderator, Role.MODERATOR)

    async def work(session: AsyncSession) -> list[tuple[int, str]]:
        a = await service.create_proposal(
            session, round_id=ids.round_id, user=anna, data=_input(ids.themes[0]), submit=True
        )
        b = await service.create_proposal(
            session, round_id=ids.round_id, user=bram, data=_input(ids.themes[0]), submit=True
        )
        c = await service.create_proposal(
            session, round_id=ids.round_id, user=anna, data=_input(ids.themes[0]), submit=True
        )
        await review.merge_proposals(
            session, settings, source_id=a.id, target_id=b.id, moderator=moderator, reason="Dubbel"
        )
        # Anna's second duplicate: she is already credited on b, so no second row.
        await review.merge_proposals(
            session,
            settings,
            source_id=c.id,
            target_id=b.id,
            moderator=moderator,
            reason="Ook dubbel",
        )
        rows = await session.execute(
            select(ProposalAuthor.user_id, ProposalAuthor.role)
            .where(ProposalAuthor.proposal_id == b.id)
            .order_by(ProposalAuthor.user_id)
        )
        return [(r[0], r[1]) for r in rows]

    assert run(settings, work) == sorted([(people.resident, "coauthor"), (people.other, "author")])


def test_merge_refuses_proposals_of_different_rounds(settings: Settings) -> None:
    people = make_people(settings)
    first, second = make_round(settings), make_round(settings, title="Andere ronde")
    anna = _actor(people.resident)
    moderator = _actor(people.moderator, Role.MODERATOR)

    async def work(session: AsyncSession) -> None:
        a = await service.create_proposal(
            session, round_id=first.round_id, user=anna, data=_input(first.themes[0]), submit=True
        )
        b = await service.create_proposal(
            session, round_id=second.round_id, user=anna, data=_input(second.themes[0]), submit=True
        )
        with pytest.raises(ValidationFailed) as info:
            await review.merge_proposals(
                session, settings, source_id=a.id, target_id=b.id, moderator=moderator, reason="x"
            )
        assert "into_id" in info.value.fields

    run(settings, work)


def test_drafts_of_others_are_not_found(settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)

    async def work(session: AsyncSession) -> None:
        draft = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=_actor(people.resident),
            data=service.ProposalInput(title="Alleen een titel"),
            submit=False,
        )
        for viewer in (None, _actor(people.other), _actor(people.moderator, Role.MODERATOR)):
            with pytest.raises(NotFound):
                await gallery.get_proposal_view(session, proposal_id=draft.id, user=viewer)
        view = await gallery.get_proposal_view(
            session, proposal_id=draft.id, user=_actor(people.resident)
        )
        assert view.can_edit

    run(settings, work)


def test_others_writing_to_a_draft_learn_nothing_of_it_but_a_public_proposal_says_403(
    settings: Settings,
) -> None:
    """Editing, submitting, withdrawing or inviting on someone else's draft is "not found", as
    reading it is; only on a public proposal does a stranger learn it is not theirs."""
    people = make_people(settings)
    ids = make_round(settings)
    stranger = _actor(people.other)

    async def work(session: AsyncSession) -> None:
        draft = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=_actor(people.resident),
            data=service.ProposalInput(title="Alleen een titel"),
            submit=False,
        )
        public = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=_actor(people.resident),
            data=_input(ids.themes[0]),
            submit=True,
        )
        writes = [
            lambda pid: service.update_proposal(
                session, proposal_id=pid, user=stranger, data=_input(ids.themes[0])
            ),
            lambda pid: service.submit_proposal(session, proposal_id=pid, user=stranger),
            lambda pid: service.withdraw_proposal(session, proposal_id=pid, user=stranger),
        ]
        for write in writes:
            with pytest.raises(NotFound):
                await write(draft.id)
            with pytest.raises(Forbidden):
                await write(public.id)
        assert (await service.load(session, draft.id)).status == "draft"
        assert (await service.load(session, public.id)).status == "submitted"

    run(settings, work)


@given(st.integers(min_value=0, max_value=10**12))
def test_euro_input_round_trips_every_amount(cents: int) -> None:
    assert parse_euro(format_euro_input(cents), "x") == cents


@example(theme="²", district="²", page="²", sort=None)
@given(
    theme=st.one_of(st.none(), st.text(max_size=14)),
    district=st.one_of(st.none(), st.text(max_size=14)),
    page=st.one_of(st.none(), st.text(max_size=8)),
    sort=st.one_of(st.none(), st.text(max_size=10)),
)
def test_parse_filters_accepts_or_refuses_but_never_crashes(
    theme: str | None, district: str | None, page: str | None, sort: str | None
) -> None:
    outcome = _parse(theme=theme, district=district, page=page, sort=sort)
    if isinstance(outcome, ValidationFailed):
        assert outcome.fields
    else:
        assert 1 <= outcome.page <= gallery.MAX_PAGE
        assert outcome.sort in {"newest", "supports", "title", "cost"}


def _parse(**values: str | None) -> gallery.GalleryFilters | ValidationFailed:
    try:
        return gallery.parse_filters(status=None, q=None, **values)  # type: ignore[arg-type]
    except ValidationFailed as exc:
        return exc


@pytest.mark.parametrize("raw", ["²", "1²", "1e3", " 7 x", "-3"])
def test_non_ascii_digits_are_refused_not_crashed_on(raw: str) -> None:
    outcome = _parse(theme=raw, district=raw, page=None, sort=None)
    assert isinstance(outcome, ValidationFailed)
    assert set(outcome.fields) == {"theme", "district"}
