"""Reusable Hypothesis strategies for the counting engine's tests.

Elections are valid by construction: unique ids, non-negative costs and budget, ballots that
name only projects on the ballot (distinct ids; cumulative points > 0 aligned with them),
positive weights. Sizes stay small so brute-force checks remain fast.
"""

from __future__ import annotations

from hypothesis import strategies as st

from burgerbegroting.voting.tally.model import (
    Ballot,
    BallotType,
    Cap,
    CapKind,
    Election,
    Project,
)

__all__ = ["ballot_types", "elections", "project_ids"]

# Ids that sort differently as strings and as numbers ("10" < "9"), plus pabulib-like ones.
ID_POOL = ("1", "2", "9", "10", "11", "a", "B", "L18/06/XI", "M/66/VII", "z-3")
THEMES = ("zorg", "jeugd", "groen")
DISTRICTS = ("Noord", "Zuid")


def ballot_types(*, ordinal: bool = True) -> st.SearchStrategy[BallotType]:
    """Any ballot type (optionally without ordinal ones)."""
    kinds = list(BallotType) if ordinal else [t for t in BallotType if t is not BallotType.ORDINAL]
    return st.sampled_from(kinds)


def project_ids(max_size: int = 6) -> st.SearchStrategy[list[str]]:
    """Distinct project ids from a pool that exercises string ordering."""
    return st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=max_size, unique=True)


@st.composite
def elections(
    draw: st.DrawFn,
    *,
    ballot_type: BallotType | None = None,
    ordinal: bool = True,
    max_projects: int = 6,
    max_ballots: int = 8,
    max_cost: int = 60,
    max_budget: int = 150,
    caps: bool = False,
    zero_costs: bool = False,
    decimals: int = 0,
) -> Election:
    """A small valid election.

    ``ballot_type`` fixes the type (else any, ordinal only if ``ordinal``); ``caps`` adds
    themes, districts and caps on some of them; ``zero_costs`` allows free projects.
    """
    kind = ballot_type if ballot_type is not None else draw(ballot_types(ordinal=ordinal))
    ids = draw(project_ids(max_projects))
    low = 0 if zero_costs else 1
    projects = []
    for pid in ids:
        cost = draw(st.integers(low, max_cost))
        theme = draw(st.none() | st.sampled_from(THEMES)) if caps else None
        district = draw(st.none() | st.sampled_from(DISTRICTS)) if caps else None
        projects.append(Project(pid, cost, name=f"Project {pid}", theme=theme, district=district))
    ballots = []
    for _ in range(draw(st.integers(0, max_ballots))):
        if kind is BallotType.CHOOSE1:
            chosen = draw(st.lists(st.sampled_from(ids), max_size=1))
        else:
            chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
        weight = draw(st.integers(1, 3))
        points: tuple[int, ...] = ()
        if kind is BallotType.CUMULATIVE:
            points = tuple(
                draw(st.lists(st.integers(1, 4), min_size=len(chosen), max_size=len(chosen)))
            )
        ballots.append(Ballot(tuple(chosen), points, weight))
    cap_list: list[Cap] = []
    if caps:
        for theme in sorted({p.theme for p in projects if p.theme is not None}):
            if draw(st.booleans()):
                cap_list.append(Cap(CapKind.THEME, theme, draw(st.integers(0, max_budget))))
        for district in sorted({p.district for p in projects if p.district is not None}):
            if draw(st.booleans()):
                cap_list.append(Cap(CapKind.DISTRICT, district, draw(st.integers(0, max_budget))))
    return Election(
        budget=draw(st.integers(0, max_budget)),
        projects=tuple(projects),
        ballots=tuple(ballots),
        ballot_type=kind,
        decimals=decimals,
        caps=tuple(cap_list),
    )
