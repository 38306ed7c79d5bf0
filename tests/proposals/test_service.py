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
from burgerbegroting.proposals.models import MAX_COST_CENTS, ProposalAuthor, ProposalStatus
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.proposals.factories import (
    BUDGET_CENTS,
    RoundIds,
    actor,
    make_people,
    make_round,
    move_round,
    run,
)
from tests.rounds.factories import add_proposal


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


def _created(settings: Settings, ids: RoundIds, author: CurrentUser, *, submit: bool) -> int:
    """A proposal of ``author`` in the round's first theme: submitted, or left a draft."""

    async def work(session: AsyncSession) -> int:
        p = await service.create_proposal(
            session, round_id=ids.round_id, user=author, data=_input(ids.themes[0]), submit=submit
        )
        return p.id

    return run(settings, work)


def test_changes_requested_can_be_edited_and_resubmitted_in_review_phase(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    author = actor(people.resident)
    moderator = actor(people.moderator, Role.MODERATOR)

    proposal_id = _created(settings, ids, author, submit=True)
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
    anna, bram = actor(people.resident), actor(people.other)
    moderator = actor(people.moderator, Role.MODERATOR)

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
    anna = actor(people.resident)
    moderator = actor(people.moderator, Role.MODERATOR)

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
            user=actor(people.resident),
            data=service.ProposalInput(title="Alleen een titel"),
            submit=False,
        )
        for viewer in (None, actor(people.other), actor(people.moderator, Role.MODERATOR)):
            with pytest.raises(NotFound):
                await gallery.get_proposal_view(session, proposal_id=draft.id, user=viewer)
        view = await gallery.get_proposal_view(
            session, proposal_id=draft.id, user=actor(people.resident)
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
    stranger = actor(people.other)

    async def work(session: AsyncSession) -> None:
        draft = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.resident),
            data=service.ProposalInput(title="Alleen een titel"),
            submit=False,
        )
        public = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.resident),
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


def test_a_draft_cannot_be_submitted_once_the_submission_phase_is_over(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    author = actor(people.resident)

    proposal_id = _created(settings, ids, author, submit=False)
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)

    async def late(session: AsyncSession) -> str:
        with pytest.raises(Conflict, match="alleen in de indieningsfase"):
            await service.submit_proposal(session, proposal_id=proposal_id, user=author)
        return (await service.load(session, proposal_id)).status

    assert run(settings, late) == "draft"


def test_a_draft_is_in_the_gallery_of_its_author_only(settings: Settings) -> None:
    people = make_people(settings)
    ids = make_round(settings)

    async def work(session: AsyncSession) -> dict[str, list[int]]:
        draft = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.resident),
            data=_input(ids.themes[0]),
            submit=False,
        )
        public = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.other),
            data=_input(ids.themes[1], title="Moestuin voor iedereen"),
            submit=True,
        )
        assert draft.id != public.id
        seen = {}
        for name, viewer in [
            ("anonymous", None),
            ("author", actor(people.resident)),
            ("other", actor(people.other)),
            ("moderator", actor(people.moderator, Role.MODERATOR)),
        ]:
            page = await gallery.list_proposals(
                session, round_id=ids.round_id, user=viewer, filters=gallery.GalleryFilters()
            )
            seen[name] = sorted(row.proposal.id for row in page.rows)
            assert page.total == len(seen[name])
        return {**seen, "ids": [draft.id, public.id]}

    seen = run(settings, work)
    draft_id, public_id = seen["ids"]
    assert seen["anonymous"] == seen["other"] == seen["moderator"] == [public_id]
    assert seen["author"] == sorted([draft_id, public_id])


def test_supports_are_given_and_withdrawn_only_while_they_count(settings: Settings) -> None:
    """Not on a rejected proposal, and neither given nor withdrawn once voting opened: supports
    decide what is reviewed, so afterwards the count stays as it was."""
    people = make_people(settings)
    ids = make_round(settings)
    bram = actor(people.other)
    moderator = actor(people.moderator, Role.MODERATOR)

    async def submit(session: AsyncSession) -> list[int]:
        proposals = []
        for title in ("Buurtmaaltijd elke week", "Moestuin voor iedereen"):
            p = await service.create_proposal(
                session,
                round_id=ids.round_id,
                user=actor(people.resident),
                data=_input(ids.themes[0], title=title),
                submit=True,
            )
            proposals.append(p.id)
        return proposals

    kept, rejected = run(settings, submit)
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)

    async def review_phase(session: AsyncSession) -> None:
        assert await service.add_support(session, proposal_id=kept, user=bram)
        await review.review_proposal(
            session,
            settings,
            proposal_id=rejected,
            moderator=moderator,
            data=review.ReviewInput(decision="rejected", public_reasoning="Niet haalbaar."),
        )
        with pytest.raises(Conflict, match="niet \\(meer\\) worden gesteund"):
            await service.add_support(session, proposal_id=rejected, user=bram)

    run(settings, review_phase)
    move_round(settings, ids.round_id, Phase.VOTING, people.admin)

    async def voting(session: AsyncSession) -> int:
        carla = actor(people.admin)
        with pytest.raises(Conflict, match="indienings- en toetsingsfase"):
            await service.add_support(session, proposal_id=kept, user=carla)
        with pytest.raises(Conflict, match="indienings- en toetsingsfase"):
            await service.remove_support(session, proposal_id=kept, user=bram)
        return await service.support_count(session, kept)

    assert run(settings, voting) == 1


def test_only_the_author_or_the_co_author_themself_removes_a_co_author(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    author, coauthor = actor(people.resident), actor(people.other)
    stranger, moderator = actor(people.admin), actor(people.moderator, Role.MODERATOR)

    async def work(session: AsyncSession) -> set[int]:
        p = await service.create_proposal(
            session, round_id=ids.round_id, user=author, data=_input(ids.themes[0]), submit=True
        )
        session.add(ProposalAuthor(proposal_id=p.id, user_id=coauthor.id, role="coauthor"))
        await session.flush()
        for who in (stranger, moderator):
            with pytest.raises(Forbidden):
                await service.remove_coauthor(
                    session, proposal_id=p.id, user=who, coauthor_id=coauthor.id
                )
        assert await service.author_ids(session, p.id) == {author.id, coauthor.id}
        await service.remove_coauthor(
            session, proposal_id=p.id, user=coauthor, coauthor_id=coauthor.id
        )
        return await service.author_ids(session, p.id)

    assert run(settings, work) == {author.id}


def test_credits_are_fixed_once_voting_opened(settings: Settings) -> None:
    """Neither the author nor the co-author can take a co-author off a proposal on the ballot."""
    people = make_people(settings)
    ids = make_round(settings)
    author, coauthor = actor(people.resident), actor(people.other)

    async def submit(session: AsyncSession) -> int:
        p = await service.create_proposal(
            session, round_id=ids.round_id, user=author, data=_input(ids.themes[0]), submit=True
        )
        session.add(ProposalAuthor(proposal_id=p.id, user_id=coauthor.id, role="coauthor"))
        return p.id

    proposal_id = run(settings, submit)
    move_round(settings, ids.round_id, Phase.REVIEW, people.admin)
    move_round(settings, ids.round_id, Phase.VOTING, people.admin)

    async def remove(session: AsyncSession) -> set[int]:
        for who in (author, coauthor):
            with pytest.raises(Conflict, match="stemming is geopend"):
                await service.remove_coauthor(
                    session, proposal_id=proposal_id, user=who, coauthor_id=coauthor.id
                )
        return await service.author_ids(session, proposal_id)

    assert run(settings, remove) == {author.id, coauthor.id}


def test_gallery_search_needs_every_word_and_pages_cover_every_proposal_once(
    settings: Settings,
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    titles = ["Moestuin in Noord", "Moestuin in Zuid", "Speeltuin in Noord"] + [
        f"Plan nummer {i:02d}" for i in range(19)
    ]

    async def work(session: AsyncSession) -> tuple[list[str], list[list[int]], list[int]]:
        created = [
            await add_proposal(
                session,
                round_id=ids.round_id,
                author_id=people.resident,
                theme_id=ids.themes[0],
                status=ProposalStatus.SUBMITTED,
                title=title,
            )
            for title in titles
        ]

        async def page(**filters: object) -> gallery.GalleryPage:
            return await gallery.list_proposals(
                session,
                round_id=ids.round_id,
                user=None,
                filters=gallery.GalleryFilters(**filters),  # type: ignore[arg-type]
            )

        found = await page(q="noord MOESTUIN")
        pages = [await page(page=n) for n in (1, 2, 3)]
        assert [p.total for p in pages] == [len(titles)] * 3
        assert [p.pages for p in pages] == [2, 2, 2]
        return (
            [row.proposal.title for row in found.rows],
            [[row.proposal.id for row in p.rows] for p in pages],
            [c.id for c in created],
        )

    found, pages, created = run(settings, work)
    assert found == ["Moestuin in Noord"]
    assert [len(p) for p in pages] == [gallery.PAGE_SIZE, len(titles) - gallery.PAGE_SIZE, 0]
    assert pages[0] + pages[1] == sorted(created, reverse=True)


_TEXTS = ("title", "summary", "description", "societal_effect", "target_group", "location")


@pytest.mark.parametrize("name", [*_TEXTS, "organisation_name"])
def test_a_text_of_exactly_its_limit_is_stored_and_one_more_character_is_refused(
    settings: Settings, name: str
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    limit = service.LIMITS[name]

    async def work(session: AsyncSession) -> None:
        with pytest.raises(ValidationFailed) as refused:
            await service.create_proposal(
                session,
                round_id=ids.round_id,
                user=actor(people.resident),
                data=_input(ids.themes[0], **{name: "x" * (limit + 1)}),
                submit=True,
            )
        assert set(refused.value.fields) == {name}
        assert f"Maximaal {limit} tekens" in refused.value.fields[name]
        stored = await service.create_proposal(
            session,
            round_id=ids.round_id,
            user=actor(people.resident),
            data=_input(ids.themes[0], **{name: "x" * limit}),
            submit=True,
        )
        await session.flush()
        assert len(getattr(await service.load(session, stored.id), name)) == limit

    run(settings, work)


@pytest.mark.parametrize(
    ("title", "refused"), [("Abcd", True), ("Abcde", False), ("  Abcd  ", True)]
)
def test_a_title_has_at_least_five_characters(
    settings: Settings, title: str, refused: bool
) -> None:
    people = make_people(settings)
    ids = make_round(settings)

    async def work(session: AsyncSession) -> set[str]:
        try:
            await service.create_proposal(
                session,
                round_id=ids.round_id,
                user=actor(people.resident),
                data=_input(ids.themes[0], title=title),
                submit=False,
            )
        except ValidationFailed as exc:
            return set(exc.fields)
        return set()

    assert run(settings, work) == ({"title"} if refused else set())


@pytest.mark.parametrize(
    ("cents", "message"),
    [
        (0, "groter zijn dan nul"),
        (1, None),
        (BUDGET_CENTS, None),
        (BUDGET_CENTS + 1, "totale budget"),
        (MAX_COST_CENTS, "totale budget"),
        (MAX_COST_CENTS + 1, "onrealistisch hoog"),
    ],
)
def test_estimated_cost_bounds(settings: Settings, cents: int, message: str | None) -> None:
    people = make_people(settings)
    ids = make_round(settings)

    async def work(session: AsyncSession) -> dict[str, str]:
        try:
            await service.create_proposal(
                session,
                round_id=ids.round_id,
                user=actor(people.resident),
                data=_input(ids.themes[0], estimated_cost_cents=cents),
                submit=True,
            )
        except ValidationFailed as exc:
            return exc.fields
        return {}

    found = run(settings, work)
    if message is None:
        assert found == {}
    else:
        assert list(found) == ["estimated_cost_cents"]
        assert message in found["estimated_cost_cents"]


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
