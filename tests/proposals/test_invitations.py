"""The invitation service: token handling, expiry and closing, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.errors import Conflict, Forbidden, NotFound, ValidationFailed
from burgerbegroting.proposals import invitations
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.proposals.factories import (
    People,
    create_proposal,
    make_people,
    make_round,
    move_round,
    run,
    scalar,
)


def _actor(user_id: int, email: str, *roles: Role) -> CurrentUser:
    return CurrentUser(
        id=user_id, email=email, display_name="x", roles=frozenset(roles or {Role.RESIDENT})
    )


@pytest.fixture
def seeded(settings: Settings) -> tuple[People, int, int]:
    from litestar.testing import TestClient

    people = make_people(settings)
    ids = make_round(settings)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        proposal = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    return people, proposal["id"], ids.round_id


def _invite(settings: Settings, people: People, proposal_id: int, email: str) -> str:
    """Invite and return the token from the mail's link."""

    async def work(session: AsyncSession) -> str:
        _inv, mail = await invitations.invite(
            session,
            settings,
            proposal_id=proposal_id,
            user=_actor(people.resident, "anna@example.nl"),
            email=email,
        )
        return mail.body.split("/uitnodiging?token=", 1)[1].split()[0]

    return run(settings, work)


def test_token_has_256_random_bits_and_only_its_keyed_hash_is_stored(
    settings: Settings, seeded: tuple[People, int, int]
) -> None:
    people, proposal_id, _round = seeded
    token = _invite(settings, people, proposal_id, "bram@example.nl")
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 32
    stored = scalar(settings, "SELECT token_hash FROM proposal_invitations")
    assert stored == tokens.hash_link_token(settings, invitations.LINK_PURPOSE, token)
    assert token not in stored
    # The hash is keyed: without the secret key it cannot be made from the token.
    import hashlib

    assert stored != hashlib.sha256(token.encode()).hexdigest()
    other_key = dataclasses.replace(settings, secret_key="y" * 48)
    assert stored != tokens.hash_link_token(other_key, invitations.LINK_PURPOSE, token)


def test_unknown_and_foreign_ids_look_the_same(
    settings: Settings, seeded: tuple[People, int, int]
) -> None:
    people, proposal_id, _round = seeded
    _invite(settings, people, proposal_id, "bram@example.nl")
    invitation_id = int(scalar(settings, "SELECT id FROM proposal_invitations"))
    stranger = _actor(people.moderator, "toetser@gemeente.nl", Role.MODERATOR)

    async def lookup(session: AsyncSession, ref: int, email: str) -> None:
        await invitations.get_invitation(
            session, settings, invitation_id=ref, user=stranger, email=email
        )

    for ref, email in ((invitation_id, "toetser@gemeente.nl"), (987654, "bram@example.nl")):
        with pytest.raises(NotFound) as caught:
            run(settings, lambda s, r=ref, e=email: lookup(s, r, e))
        assert "bestaat niet" in caught.value.message
    with pytest.raises(ValidationFailed):
        run(settings, lambda s: invitations.get_invitation(s, settings))


def test_freezing_the_round_makes_pending_invitations_useless(
    settings: Settings, seeded: tuple[People, int, int]
) -> None:
    people, proposal_id, round_id = seeded
    token = _invite(settings, people, proposal_id, "bram@example.nl")
    move_round(settings, round_id, Phase.REVIEW, people.admin)
    move_round(settings, round_id, Phase.VOTING, people.admin)

    async def show(session: AsyncSession) -> invitations.InvitationView:
        return await invitations.get_invitation(session, settings, token=token)

    view = run(settings, show)
    assert not view.usable
    assert view.problem is not None
    assert "stemming is geopend" in view.problem

    async def accept(session: AsyncSession) -> None:
        await invitations.respond(
            session,
            settings,
            user=_actor(people.other, "bram@example.nl"),
            accept=True,
            token=token,
            email="bram@example.nl",
        )

    with pytest.raises(Conflict):
        run(settings, accept)
    assert scalar(settings, "SELECT status FROM proposal_invitations") == "pending"
    assert scalar(settings, "SELECT count(*) FROM proposal_authors") == 1


@pytest.mark.parametrize("accept", [True, False])
def test_a_token_works_only_for_the_invited_address(
    settings: Settings, seeded: tuple[People, int, int], accept: bool
) -> None:
    """A token read from a log (or a forwarded mail) was accepted by whoever held it."""
    people, proposal_id, _round_id = seeded
    token = _invite(settings, people, proposal_id, "bram@example.nl")

    async def answer(session: AsyncSession) -> None:
        await invitations.respond(
            session,
            settings,
            user=_actor(people.other, "iemand-anders@example.nl"),
            accept=accept,
            token=token,
            email="iemand-anders@example.nl",
        )

    with pytest.raises(Forbidden, match="ander e-mailadres"):
        run(settings, answer)
    assert scalar(settings, "SELECT status FROM proposal_invitations") == "pending"
    assert scalar(settings, "SELECT count(*) FROM proposal_authors") == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", None), ("  ", None), (" Stichting   De Brug ", "Stichting De Brug")],
)
def test_organisation_names_are_trimmed(raw: str, expected: str | None) -> None:
    assert invitations.check_organisation(raw) == expected


@pytest.mark.parametrize("raw", ["x" * 201, "Stichting\nDe Brug", "Stichting\x00"])
def test_bad_organisation_names_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        invitations.check_organisation(raw)
    assert "organisation_name" in caught.value.fields
