"""Is a round ready for voting? The checks made before it is frozen, as pure functions.

**Elections.** In ``city`` scope a round is one election over all accepted projects with the total
budget (districts only say where a project is and who may vote). In ``districts`` scope every
district is its own election over the projects located in it, with that district's budget, and
voters vote in their own district's election only. City-wide projects have no election there (the
district budgets add up to the total, so there is no money for them): they are refused at
submission and acceptance, and a round that still has one is not ready.

**Readiness** (each problem is named, all at once, in Dutch):

- no proposal is still waiting for a decision (submitted or in review);
- every election has at least one accepted project;
- every election has at least ``min_projects`` projects, and on a knapsack ballot the cheapest
  ``min_projects`` of them fit its budget (otherwise no valid ballot exists);
- knapsack with a minimum share of the budget: some set of the election's projects within its
  budget, with at least ``min_projects`` and at most ``max_projects`` projects, reaches the share.
  Exact (a subset-sum search) while the search stays small; past ``STATE_LIMIT`` partial sums it
  gives the benefit of the doubt, so the check never refuses a round that could be voted on;
- with the explicit tie-break, the order lists exactly the accepted projects.

**Warnings** (``warnings``) name settings that are allowed but that a municipality must choose
knowingly; they never keep voting from opening. They are shown on the round's admin pages (edit
and phase) and in the API's round (``warnings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from burgerbegroting.i18n import _
from burgerbegroting.rounds.models import BallotType, BudgetScope, TieBreak

STATE_LIMIT = 200_000
"""Partial sums the budget-share search may keep before it stops and answers "reachable"."""


@dataclass(frozen=True, slots=True)
class ProjectCost:
    id: int
    cost_cents: int
    district_id: int | None


@dataclass(frozen=True, slots=True)
class DistrictBudget:
    id: int
    name: str
    budget_cents: int | None


@dataclass(frozen=True, slots=True)
class ElectionPlan:
    """One election of a round: who it is for, its budget and its projects."""

    key: str  # "city" or "district:<id>"
    name: str  # for messages: "de hele stad" or the district's name
    budget_cents: int
    projects: tuple[ProjectCost, ...]


@dataclass(frozen=True, slots=True)
class Elections:
    plans: tuple[ElectionPlan, ...]
    without_election: tuple[ProjectCost, ...] = field(default=())  # city-wide in districts scope


def plan_elections(
    scope: str,
    total_budget_cents: int,
    districts: Sequence[DistrictBudget],
    projects: Sequence[ProjectCost],
) -> Elections:
    """The round's elections (see the module docstring)."""
    if scope != BudgetScope.DISTRICTS.value:
        return Elections(
            (ElectionPlan("city", _("de hele stad"), total_budget_cents, tuple(projects)),)
        )
    plans = tuple(
        ElectionPlan(
            f"district:{d.id}",
            d.name,
            d.budget_cents or 0,
            tuple(p for p in projects if p.district_id == d.id),
        )
        for d in districts
    )
    return Elections(plans, tuple(p for p in projects if p.district_id is None))


def share_reachable(
    costs: Sequence[int],
    *,
    budget: int,
    target: int,
    min_count: int,
    max_count: int | None,
    state_limit: int = STATE_LIMIT,
) -> bool:
    """Whether some set of the projects (costs) with ``min_count`` to ``max_count`` members costs
    at least ``target`` and at most ``budget``. Exact unless the search grows past
    ``state_limit`` partial sums; then True (never a false refusal)."""
    usable = sorted((c for c in costs if c <= budget), reverse=True)
    upper = len(usable) if max_count is None else min(max_count, len(usable))
    if min_count > upper:
        return False
    # Cheap exact refusal: the most expensive ``upper`` projects, capped at the budget.
    if min(budget, sum(usable[:upper])) < target:
        return False
    # Cheap witness: the most expensive projects first, each one that still fits.
    chosen = 0
    spent = 0
    for cost in usable:
        if chosen < upper and spent + cost <= budget:
            chosen += 1
            spent += cost
    if chosen >= min_count and spent >= target:
        return True
    # Exact search: the sums reachable with exactly k projects, k = 0 .. upper.
    sums: list[set[int]] = [{0}] + [set() for _ in range(upper)]
    size = 1
    for cost in usable:
        for k in range(upper - 1, -1, -1):
            for partial in sums[k]:
                total = partial + cost
                if total <= budget and total not in sums[k + 1]:
                    if total >= target and k + 1 >= min_count:
                        return True
                    sums[k + 1].add(total)
                    size += 1
            if size > state_limit:
                return True
    return any(total >= target for k in range(min_count, upper + 1) for total in sums[k]) or (
        target <= 0 and min_count == 0
    )


def problems(
    *,
    ballot_type: str,
    min_projects: int,
    max_projects: int | None,
    min_budget_share_permille: int,
    tie_break: str,
    tie_break_order: Sequence[int] | None,
    elections: Elections,
    pending: int,
) -> dict[str, str]:
    """Everything that keeps the round from opening for voting, by field; empty when ready."""
    found: dict[str, str] = {}
    if pending:
        found["proposals"] = _(
            "%(n)s voorstel(len) wacht(en) nog op een besluit (ingediend of in toetsing): "
            "keur ze goed of wijs ze af.",
            n=pending,
        )
    if elections.without_election:
        found["district_id"] = _(
            "%(n)s goedgekeurd(e) stedelijk(e) project(en) in een ronde met een budget per wijk: "
            "die horen bij geen enkele wijk. Kies een wijk of wijs af.",
            n=len(elections.without_election),
        )
    for plan in elections.plans:
        key = "districts" if plan.key != "city" else "projects"
        costs = [p.cost_cents for p in plan.projects]
        if not costs:
            found.setdefault(
                key, _("Er zijn geen goedgekeurde projecten voor %(name)s.", name=plan.name)
            )
            continue
        if len(costs) < min_projects:
            found.setdefault(
                "min_projects",
                _(
                    "Voor %(name)s zijn %(n)s project(en) goedgekeurd; het stembiljet vraagt er "
                    "minstens %(min)s.",
                    name=plan.name,
                    n=len(costs),
                    min=min_projects,
                ),
            )
            continue
        if ballot_type != BallotType.KNAPSACK.value:
            continue
        if sum(sorted(costs)[:min_projects]) > plan.budget_cents:
            found.setdefault(
                "min_projects",
                _(
                    "Voor %(name)s passen geen %(min)s projecten samen binnen het budget.",
                    name=plan.name,
                    min=min_projects,
                ),
            )
            continue
        if min_budget_share_permille > 0:
            target = -(-plan.budget_cents * min_budget_share_permille // 1000)
            if not share_reachable(
                costs,
                budget=plan.budget_cents,
                target=target,
                min_count=min_projects,
                max_count=max_projects,
            ):
                found.setdefault(
                    "min_budget_share_permille",
                    _(
                        "Voor %(name)s kan geen stembiljet het minimale deel van het budget "
                        "(%(share)s promille) besteden met de goedgekeurde projecten.",
                        name=plan.name,
                        share=min_budget_share_permille,
                    ),
                )
    if tie_break == TieBreak.EXPLICIT.value:
        accepted = {p.id for plan in elections.plans for p in plan.projects}
        accepted |= {p.id for p in elections.without_election}
        order = list(tie_break_order or [])
        missing = sorted(accepted - set(order))
        unknown = sorted(set(order) - accepted)
        if missing or unknown:
            parts = []
            if missing:
                parts.append(_("ontbreekt: %(ids)s", ids=", ".join(map(str, missing))))
            if unknown:
                parts.append(
                    _("geen goedgekeurd project: %(ids)s", ids=", ".join(map(str, unknown)))
                )
            found["tie_break_order"] = _(
                "De vaste volgorde bij gelijke stand moet elk goedgekeurd project precies één "
                "keer noemen (%(details)s).",
                details="; ".join(parts),
            )
    return found


def warnings(*, vote_by_code: bool, vote_by_account: bool, min_age: int | None = None) -> list[str]:
    """What the municipality should know about the round's settings, in Dutch; no refusal.

    Voting with a letter code and with an account at once: the code's voter key and the account's
    voter key cannot be linked (by design, see docs/security.md), so a resident with both casts
    two counting ballots. A minimum age with account voting: an account says nothing about its
    owner's age (codes are issued per age band from the municipality's register; an account is
    an e-mail address), so the minimum age holds for code voters only.
    """
    found: list[str] = []
    if vote_by_code and vote_by_account:
        found.append(
            _(
                "In deze ronde kan iemand met een stemcode én een account twee keer stemmen. "
                "De twee stemmen zijn niet aan elkaar te koppelen. Kies één manier van stemmen "
                "als de uitslag bindend moet zijn."
            )
        )
    if vote_by_account and min_age is not None:
        found.append(
            _(
                "Deze ronde heeft een minimumleeftijd van %(age)s jaar, maar bij stemmen met een "
                "account wordt de leeftijd niet gecontroleerd: de inwoner geeft zelf een "
                "leeftijdsgroep op. Alleen stemcodes worden per leeftijdsgroep uit de "
                "basisregistratie uitgegeven.",
                age=min_age,
            )
        )
    return found
