"""A small, demo-like world: a round in every phase, proposals in every state, supports, a pending
co-author invitation, voting codes, and a closed and a published round with results.

Shared by the page crawler (``tests/web/test_crawl.py``) and the route matrix
(``tests/test_route_matrix.py``), which need *real* ids: a request that reaches an object that
exists proves more than a 404 on a made-up one.

Who is who: resident A (``people.resident``, Anna) authors a draft, a submitted proposal and the
proposals of the review round, supports B's proposal and invited Carol as co-author of her draft.
Resident B (``people.other``, Bram) authors one submitted proposal. Voting rounds 1 and 2 are open
at the same time, each with codes of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.proposals import invitations
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import make_user
from tests.proposals.factories import (
    People,
    create_proposal,
    make_people,
    make_round,
    move_round,
    run,
)
from tests.results.helpers import cast
from tests.voting.factories import VotingRound, close, issue_codes, open_round

CAROL = "carol@example.nl"


@dataclass(frozen=True)
class World:
    people: People
    council: int
    auditor: int
    carol: int
    draft_round: int
    submission_round: int
    review_round: int
    draft_of_a: int
    submitted_of_a: int
    submitted_of_b: int
    in_review_of_a: int
    invitation_for_carol: int
    invitation_token: str
    voting: VotingRound
    voting_other: VotingRound
    codes: list[str]
    """Unused codes of ``voting`` (round 1)."""
    codes_other: list[str]
    closed: VotingRound
    published: VotingRound

    @property
    def round_ids(self) -> dict[Phase, int]:
        return {
            Phase.DRAFT: self.draft_round,
            Phase.SUBMISSION: self.submission_round,
            Phase.REVIEW: self.review_round,
            Phase.VOTING: self.voting.round_id,
            Phase.CLOSED: self.closed.round_id,
            Phase.PUBLISHED: self.published.round_id,
        }


def _invite(settings: Settings, proposal_id: int, inviter: int, email: str) -> tuple[int, str]:
    async def work(session: AsyncSession) -> tuple[int, str]:
        actor = CurrentUser(
            id=inviter,
            email="anna@example.nl",
            display_name="Anna de Vries",
            roles=frozenset({Role.RESIDENT}),
        )
        invitation, mail = await invitations.invite(
            session, settings, proposal_id=proposal_id, user=actor, email=email
        )
        return invitation.id, mail.body.split("/uitnodiging?token=", 1)[1].split()[0]

    return run(settings, work)


def _closed_round(
    settings: Settings, client: TestClient[Litestar], admin_email: str, *, publish: bool
) -> VotingRound:
    vr = open_round(settings, admin_email=admin_email)
    a, b, c = vr.projects[:3]
    for code, chosen in zip(issue_codes(settings, vr, 3), ([a], [b, c], [a, c]), strict=True):
        cast(client, vr.round_id, code, {"projects": chosen})
    close(settings, vr)
    if publish:

        async def work(session: AsyncSession) -> None:
            await rounds.move_phase(
                session, vr.round_id, Phase.PUBLISHED, actor_id=vr.admin_id, reason="test"
            )

        run(settings, work)
    return vr


def build_world(settings: Settings, client: TestClient[Litestar]) -> World:
    people = make_people(settings)
    council = make_user(
        settings, "raad@gemeente.nl", roles=(Role.COUNCIL,), display_name="Rik Raad"
    )
    auditor = make_user(
        settings, "controle@gemeente.nl", roles=(Role.AUDITOR,), display_name="Cor Controle"
    )
    carol = make_user(settings, CAROL, display_name="Carol Smit")
    a = people.headers(settings, "resident")
    b = people.headers(settings, "other")
    draft_round = make_round(settings, phase=Phase.DRAFT, title="Burgerbegroting 2029").round_id
    submission = make_round(settings, title="Burgerbegroting 2027")
    review = make_round(settings, title="Burgerbegroting 2026")
    draft_of_a = create_proposal(
        client, settings, submission, a, submit=False, title="Anna's concept"
    )["id"]
    submitted_of_a = create_proposal(client, settings, submission, a, title="Buurtmaaltijd")["id"]
    submitted_of_b = create_proposal(client, settings, submission, b, title="Taalcafé Zuid")["id"]
    supported = client.put(f"/api/v1/proposals/{submitted_of_b}/supports", headers=a)
    assert supported.status_code == 200, supported.text
    in_review_of_a = create_proposal(client, settings, review, a, title="Mantelzorgpauze")["id"]
    create_proposal(client, settings, review, b, title="Schuldhulp op school")
    move_round(settings, review.round_id, Phase.REVIEW, people.admin)
    invitation_id, token = _invite(settings, draft_of_a, people.resident, CAROL)
    voting = open_round(settings, admin_email="beheer1@example.nl")
    voting_other = open_round(settings, admin_email="beheer2@example.nl")
    codes = issue_codes(settings, voting, 4)
    codes_other = issue_codes(settings, voting_other, 2)
    closed = _closed_round(settings, client, "beheer3@example.nl", publish=False)
    published = _closed_round(settings, client, "beheer4@example.nl", publish=True)
    client.cookies.clear()  # casting left a voter cookie: callers start as a fresh visitor
    return World(
        people=people,
        council=council,
        auditor=auditor,
        carol=carol,
        draft_round=draft_round,
        submission_round=submission.round_id,
        review_round=review.round_id,
        draft_of_a=draft_of_a,
        submitted_of_a=submitted_of_a,
        submitted_of_b=submitted_of_b,
        in_review_of_a=in_review_of_a,
        invitation_for_carol=invitation_id,
        invitation_token=token,
        voting=voting,
        voting_other=voting_other,
        codes=codes,
        codes_other=codes_other,
        closed=closed,
        published=published,
    )
