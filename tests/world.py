"""A small, demo-like world: a round in every phase, proposals in every state, supports, a pending
co-author invitation, voting codes, and a closed and a published round with results.

Shared by the page crawler (``tests/web/test_crawl.py``) and the route matrix
(``tests/test_route_matrix.py``), which need *real* ids: a request that reaches an object that
exists proves more than a 404 on a made-up one.

Who is who: resident A (``people.resident``, Anna) authors a draft, a submitted proposal and the
proposals of the review round, supports B's proposal and invited Carol as co-author of her draft.
Resident B (``people.other``, Bram) authors one submitted proposal and is an accepted co-author of
A's submitted one. Voting rounds 1 and 2 are open
at the same time, each with codes of its own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.proposals import invitations, photos
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.proposals.factories import (
    People,
    create_proposal,
    make_people,
    make_round,
    move_round,
    run,
    scalar,
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
    dora: int
    """A resident with nothing of her own: the account admins manage in the route matrix."""
    draft_round: int
    submission_round: int
    review_round: int
    draft_of_a: int
    submitted_of_a: int
    submitted_of_b: int
    to_withdraw_of_a: int
    in_review_of_a: int
    invitation_for_carol: int
    invitation_token: str
    invitation_for_erik: int
    """A second pending invitation on A's draft (to an address without an account)."""
    photo_of_a: int
    """A photo on A's submitted (public) proposal."""
    photo_to_remove: int
    """A second one, for the route that removes a photo."""
    voting: VotingRound
    voting_other: VotingRound
    voting_batch: int
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


def _photos(settings: Settings, proposal_id: int, author: int, count: int) -> list[int]:
    """``count`` photos on a proposal, added by its author through the service."""
    image = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 60)).save(image, "JPEG")

    async def work(session: AsyncSession) -> list[int]:
        actor = CurrentUser(
            id=author,
            email="anna@example.nl",
            display_name="Anna de Vries",
            roles=frozenset({Role.RESIDENT}),
        )
        ids = []
        for i in range(count):
            photo, _paths = await photos.add_photo(
                session,
                media_dir=settings.media_path,
                proposal_id=proposal_id,
                user=actor,
                data=image.getvalue(),
                alt_text=f"Foto {i + 1} van de buurtmaaltijd",
            )
            ids.append(photo.id)
        return ids

    return run(settings, work)


def run_sql(settings: Settings, sql: str, **params: object) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(text(sql), params)

    run(settings, work)


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
        # Its audit export is public (a round setting outside the fingerprint), so every role
        # may download it.
        run_sql(settings, "UPDATE rounds SET export_public = TRUE WHERE id = :r", r=vr.round_id)
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
    dora = make_user(settings, "dora@example.nl", display_name="Dora Bakker")
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
    photo_of_a, photo_to_remove = _photos(settings, submitted_of_a, people.resident, 2)
    to_withdraw_of_a = create_proposal(client, settings, submission, a, title="Speeltuin Oost")[
        "id"
    ]
    for email, invitee in (("bram@example.nl", b), (CAROL, bearer(settings, carol))):
        invited = client.post(
            f"/api/v1/proposals/{submitted_of_a}/coauthors", json={"email": email}, headers=a
        )
        assert invited.status_code == 201, invited.text
        accepted = client.post(
            "/api/v1/invitations/accept",
            json={"invitation_id": invited.json()["id"]},
            headers=invitee,
        )
        assert accepted.status_code == 200, accepted.text
    supported = client.put(f"/api/v1/proposals/{submitted_of_b}/supports", headers=a)
    assert supported.status_code == 200, supported.text
    in_review_of_a = create_proposal(client, settings, review, a, title="Mantelzorgpauze")["id"]
    create_proposal(client, settings, review, b, title="Schuldhulp op school")
    move_round(settings, review.round_id, Phase.REVIEW, people.admin)
    invitation_id, token = _invite(settings, draft_of_a, people.resident, CAROL)
    invitation_for_erik, _token = _invite(settings, draft_of_a, people.resident, "erik@example.nl")
    voting = open_round(settings, admin_email="beheer1@example.nl")
    voting_other = open_round(settings, admin_email="beheer2@example.nl")
    codes = issue_codes(settings, voting, 4)
    codes_other = issue_codes(settings, voting_other, 2)
    voting_batch = int(
        scalar(settings, "SELECT max(id) FROM code_batches WHERE round_id = :r", r=voting.round_id)
    )
    closed = _closed_round(settings, client, "beheer3@example.nl", publish=False)
    published = _closed_round(settings, client, "beheer4@example.nl", publish=True)
    client.cookies.clear()  # casting left a voter cookie: callers start as a fresh visitor
    return World(
        people=people,
        council=council,
        auditor=auditor,
        carol=carol,
        dora=dora,
        draft_round=draft_round,
        submission_round=submission.round_id,
        review_round=review.round_id,
        draft_of_a=draft_of_a,
        submitted_of_a=submitted_of_a,
        submitted_of_b=submitted_of_b,
        to_withdraw_of_a=to_withdraw_of_a,
        in_review_of_a=in_review_of_a,
        invitation_for_carol=invitation_id,
        invitation_token=token,
        invitation_for_erik=invitation_for_erik,
        photo_of_a=photo_of_a,
        photo_to_remove=photo_to_remove,
        voting=voting,
        voting_other=voting_other,
        voting_batch=voting_batch,
        codes=codes,
        codes_other=codes_other,
        closed=closed,
        published=published,
    )
