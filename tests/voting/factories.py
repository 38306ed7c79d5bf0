"""Plain helpers for voting tests: a round open for voting, codes, voter tokens, casts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.counting import format_order
from burgerbegroting.rounds.models import District, Phase, Round, Theme
from burgerbegroting.settings import Settings
from burgerbegroting.voting import roll
from tests.accounts.factories import bearer, make_user
from tests.proposals.factories import run

BUDGET_CENTS = 10_000_000  # € 100.000


@dataclass(frozen=True)
class VotingRound:
    round_id: int
    admin_id: int
    projects: list[int]
    districts: list[int]
    themes: list[int]
    costs: dict[int, int] = field(default_factory=dict)


def open_round(
    settings: Settings,
    *,
    ballot_type: str = "knapsack",
    scope: str = "city",
    costs: Sequence[int] = (6_000_000, 3_000_000, 3_000_000, 2_000_000),
    project_districts: Sequence[int | None] | None = None,
    districts: Sequence[str] = ("Noord", "Zuid"),
    district_budgets: Sequence[int | None] | None = None,
    rule: str = "greedy",
    min_projects: int = 0,
    max_projects: int | None = None,
    min_budget_share_permille: int = 0,
    approval_max_k: int | None = None,
    cumulative_points: int | None = None,
    blank_allowed: bool = True,
    vote_by_account: bool = False,
    vote_by_code: bool = True,
    min_age: int | None = None,
    theme_cap: int | None = None,
    tie_break: str = "lowest-cost",
    greedy_threshold: int | None = None,
    greedy_no_skip: bool = False,
    leftover: str = "keep",
    admin_email: str = "beheer@example.nl",
    budget: int = BUDGET_CENTS,
    phase: Phase = Phase.VOTING,
    title: str = "Burgerbegroting Stemtest",
    titles: Sequence[str] | None = None,
    ineligible_districts: Sequence[int] = (),
) -> VotingRound:
    """A round with accepted projects, moved into voting with the rounds service (frozen, with
    the log's genesis). ``project_districts[i]`` is an index into ``districts`` (or None).
    ``tie_break="explicit"`` publishes the order "highest project id first". ``titles[i]`` names
    project i (default "Project {i + 1}"). ``ineligible_districts`` are indexes into ``districts``
    whose residents may not vote."""
    admin_id = make_user(settings, admin_email, roles=(Role.ADMIN,), display_name="Beheerder")

    async def work(session: AsyncSession) -> VotingRound:
        round_ = Round(
            title=title,
            total_budget_cents=budget,
            budget_scope=scope,
            phase=Phase.REVIEW.value,
            ballot_type=ballot_type,
            counting_rule=rule,
            min_projects=min_projects,
            max_projects=max_projects,
            min_budget_share_permille=min_budget_share_permille,
            approval_max_k=approval_max_k,
            cumulative_points=cumulative_points,
            blank_ballot_allowed=blank_allowed,
            vote_by_account=vote_by_account,
            vote_by_code=vote_by_code,
            min_age=min_age,
            greedy_threshold=greedy_threshold,
            greedy_no_skip=greedy_no_skip,
            leftover=leftover,
        )
        session.add(round_)
        await session.flush()
        budgets = (
            list(district_budgets) if district_budgets is not None else [None] * len(districts)
        )
        district_rows = [
            District(
                round_id=round_.id,
                name=n,
                position=i,
                budget_cents=budgets[i],
                eligible=i not in ineligible_districts,
            )
            for i, n in enumerate(districts)
        ]
        theme_rows = [
            Theme(round_id=round_.id, name="Eenzaamheid", position=0, max_spend_cents=theme_cap),
            Theme(round_id=round_.id, name="Mantelzorg", position=1),
        ]
        session.add_all([*district_rows, *theme_rows])
        await session.flush()
        project_ids: list[int] = []
        cost_of: dict[int, int] = {}
        for i, cost in enumerate(costs):
            where = project_districts[i] if project_districts is not None else None
            proposal = Proposal(
                round_id=round_.id,
                author_id=admin_id,
                theme_id=theme_rows[i % 2].id,
                district_id=district_rows[where].id if where is not None else None,
                status=ProposalStatus.ACCEPTED.value,
                title=titles[i] if titles is not None else f"Project {i + 1}",
                summary=f"Samenvatting van project {i + 1}",
                estimated_cost_cents=cost,
                municipal_cost_cents=cost,
            )
            session.add(proposal)
            await session.flush()
            project_ids.append(proposal.id)
            cost_of[proposal.id] = cost
        round_.tie_break = tie_break
        if tie_break == "explicit":
            round_.tie_break_order = format_order(sorted(project_ids, reverse=True))
        round_id = round_.id
        await session.commit()
        if phase in (Phase.VOTING, Phase.CLOSED):
            await rounds.move_phase(
                session, round_id, Phase.VOTING, actor_id=admin_id, reason="test"
            )
        return VotingRound(
            round_id=round_id,
            admin_id=admin_id,
            projects=project_ids,
            districts=[d.id for d in district_rows],
            themes=[t.id for t in theme_rows],
            costs=cost_of,
        )

    return run(settings, work)


def issue_codes(
    settings: Settings, vr: VotingRound, count: int, *, district_id: int | None = None
) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        batch = await roll.issue_codes(
            session,
            settings,
            vr.round_id,
            district_id=district_id,
            count=count,
            actor_id=vr.admin_id,
        )
        return batch.codes

    return run(settings, work)


def close(settings: Settings, vr: VotingRound) -> None:
    async def work(session: AsyncSession) -> None:
        await rounds.move_phase(
            session, vr.round_id, Phase.CLOSED, actor_id=vr.admin_id, reason="test"
        )

    run(settings, work)


def admin_headers(settings: Settings, vr: VotingRound) -> dict[str, str]:
    return bearer(settings, vr.admin_id, staff=True)


def redeem(client: TestClient[Litestar], code: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/code", json={"code": code})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def scalar(settings: Settings, sql: str, **params: Any) -> Any:
    async def work(session: AsyncSession) -> Any:
        return (await session.execute(text(sql), params)).scalar()

    return run(settings, work)


def codes_then_accounts_only(
    settings: Settings, *, codes: int = 1
) -> tuple[VotingRound, list[str]]:
    """A round whose codes were issued while it still allowed them, then set to accounts only
    (``vote_by_code`` off) before voting opened: the codes exist but the frozen round takes none."""
    vr = open_round(settings, vote_by_account=True, phase=Phase.REVIEW)
    issued = issue_codes(settings, vr, codes)

    async def accounts_only(session: AsyncSession) -> None:
        await session.execute(
            text("UPDATE rounds SET vote_by_code = :f WHERE id = :r"),
            {"f": False, "r": vr.round_id},
        )
        await session.commit()
        await rounds.move_phase(
            session, vr.round_id, Phase.VOTING, actor_id=vr.admin_id, reason="test"
        )

    run(settings, accounts_only)
    return vr, issued
