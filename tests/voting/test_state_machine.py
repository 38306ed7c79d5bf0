"""A Hypothesis state machine of the booth: issue, redeem, cast, recast, revoke, void, close.

Invariant after every step: the current ballots in the database are exactly the last valid cast
of every voter whose ballot was not voided, and the ballot log replays to the same set.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.errors import DomainError
from burgerbegroting.settings import Settings
from burgerbegroting.voting import casting, context, roll, voters
from burgerbegroting.voting import tokens as voter_tokens
from tests.proposals.factories import run
from tests.voting.factories import VotingRound, close, issue_codes, open_round
from tests.voting.replay import replay

COSTS = (6_000_000, 3_000_000, 3_000_000, 2_000_000)  # budget 10_000_000
_emails = itertools.count()


def booth_machine(settings: Settings) -> type[RuleBasedStateMachine]:
    class Booth(RuleBasedStateMachine):
        codes = Bundle("codes")

        def __init__(self) -> None:
            super().__init__()
            self.vr: VotingRound | None = None
            self.tokens: dict[str, voter_tokens.VoterToken] = {}
            self.expected: dict[str, dict[str, Any]] = {}  # code -> last valid content
            self.revoked: set[str] = set()
            self.closed = False

        @initialize()
        def start(self) -> None:
            self.vr = open_round(
                settings, costs=COSTS, admin_email=f"admin{next(_emails)}@example.nl"
            )

        @rule(target=codes)
        def issue(self) -> str:
            assert self.vr is not None
            if self.closed:
                return "closed"  # no codes after closing; the other rules skip this marker
            [code] = issue_codes(settings, self.vr, 1)
            return code

        @rule(code=codes)
        def redeem(self, code: str) -> None:
            if code == "closed":
                return

            async def work(session: AsyncSession) -> voter_tokens.VoterToken:
                return await voters.redeem_code(session, settings, code=code, client_ip=code)

            try:
                self.tokens[code] = run(settings, work)
            except DomainError:
                assert code in self.revoked or self.closed
                return
            # A revoked code, or any code after the close, must not open a session.
            assert code not in self.revoked
            assert not self.closed

        @rule(code=codes, picks=st.lists(st.integers(0, 3), max_size=4), blank=st.booleans())
        def cast(self, code: str, picks: list[int], blank: bool) -> None:
            token = self.tokens.get(code)
            if token is None:
                return
            assert self.vr is not None
            vr = self.vr
            raw: dict[str, Any] = (
                {"blank": True} if blank else {"projects": [vr.projects[i] for i in picks]}
            )
            chosen = [vr.projects[i] for i in picks]
            valid = blank or (
                bool(chosen)
                and len(set(chosen)) == len(chosen)
                and sum(vr.costs[p] for p in chosen) <= 10_000_000
            )

            async def work(session: AsyncSession) -> casting.CastResult:
                ctx = await context.voter_context(session, token, vr.round_id, lock=True)
                return await casting.cast(session, settings, ctx, raw)

            try:
                run(settings, work)
            except DomainError:
                assert not valid or code in self.revoked or self.closed
                return
            assert valid
            assert code not in self.revoked
            assert not self.closed
            self.expected[code] = {"blank": True} if blank else {"projects": sorted(chosen)}

        @rule(code=codes, void=st.booleans())
        def revoke(self, code: str, void: bool) -> None:
            if code == "closed" or self.closed or (code in self.revoked and not void):
                return
            assert self.vr is not None
            vr = self.vr

            async def work(session: AsyncSession) -> bool:
                return await roll.revoke_code(
                    session,
                    settings,
                    vr.round_id,
                    code=code,
                    reason="brief kwijt",
                    void_ballot=void,
                    actor_id=vr.admin_id,
                )

            voided = run(settings, work)
            self.revoked.add(code)
            if void:
                assert voided == (code in self.expected)
                self.expected.pop(code, None)

        @precondition(lambda self: not self.closed)
        @rule()
        def close_round(self) -> None:
            assert self.vr is not None
            close(settings, self.vr)
            self.closed = True

        @invariant()
        def current_ballots_are_the_last_valid_casts(self) -> None:
            if self.vr is None:
                return
            result = replay(settings, self.vr.round_id)
            assert sorted(map(repr, result.current_in_db.values())) == sorted(
                map(repr, self.expected.values())
            )
            assert result.closed == self.closed
            # Per voter, not only as a whole: each voter's current ballot is their own last cast.
            round_id = self.vr.round_id

            async def current(session: AsyncSession) -> dict[int, Any]:
                rows = await session.execute(
                    text(
                        "SELECT v.id, b.content FROM voters v JOIN ballots b "
                        "ON b.id = v.current_ballot_id WHERE v.round_id = :r"
                    ),
                    {"r": round_id},
                )
                return {voter_id: json.loads(content) for voter_id, content in rows.all()}

            by_voter = run(settings, current)
            expected = {self.tokens[code].voter_id: c for code, c in self.expected.items()}
            assert by_voter == expected

    return Booth


def test_booth_state_machine(settings: Settings) -> None:
    machine = booth_machine(settings)
    machine.TestCase.settings = hyp_settings(
        max_examples=8,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    machine.TestCase().runTest()
