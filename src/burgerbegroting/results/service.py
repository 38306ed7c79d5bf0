"""Reading the stored count of a closed round: who may see it, what it says, participation and
the admin overrides recorded next to it.

Participation lives in ``results.participation``, overrides in ``results.overrides``, the Dutch
texts in ``results.texts``.

Nothing here counts the official outcome again: the outcome is ``round_results.document``, stored
once at close (``results.counting``). What this module adds is explanation. Two figures are
computed from the current ballots at read time, both for explanation only: the supporters per
project (to show which ties a lot decided) and, for Method of Equal Shares rounds, greedy over the
same ballots (the side-by-side the council asked for).

**Visibility.** Nothing about the count is shown before voting closes (no live counts). After
closing, council members, auditors and admins see the results; after publication, everyone.

**Small numbers.** Participation counts under 10 are ``"<10"`` (``results.participation``). An
election's ballot and blank counts are shown the same way on the pages and in the PDF
(``ElectionView.ballots_shown``): in a district round an election is a district, so its exact count
would undo the participation table's masking. The JSON and the export keep the exact numbers
(auditors recount from them).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import Conflict, Forbidden, NotAuthenticated
from burgerbegroting.i18n import _
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.results.models import RoundResult
from burgerbegroting.results.overrides import OverrideView, load_overrides, project_titles
from burgerbegroting.results.participation import (
    Count,
    Participation,
    participation,
    percent,
    rounded_cents,
    small,
)
from burgerbegroting.results.texts import REASON_TEXTS, RULE_TEXTS, TIE_BREAK_TEXTS
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase, Round
from burgerbegroting.voting.ballots import election_tie_break, engine_election
from burgerbegroting.voting.public_checks import current_ballots
from burgerbegroting.voting.tally.model import Election, supporters
from burgerbegroting.voting.tally.rules import count

VIEWER_ROLES = frozenset({Role.COUNCIL, Role.AUDITOR, Role.ADMIN})
MES_RULES = frozenset({"mes", "mes-add1", "mes-add1-exhaustive", "mes-add1-greedy"})
POINTS_BALLOTS = frozenset({"cumulative", "ranked"})


# --- who may see ---------------------------------------------------------------------------------


def check_visible(round_: Round, roles: Iterable[Role] | None) -> None:
    """Raise unless results of ``round_`` may be shown to a viewer with ``roles`` (None: anonymous).

    Before voting closes nobody sees anything of the count; closed: council, auditors and admins;
    published: everyone.
    """
    phase = Phase(round_.phase)
    if phase not in (Phase.CLOSED, Phase.PUBLISHED):
        raise Conflict(
            _("Er is nog geen uitslag: de uitslag komt pas als het stemmen gesloten is.")
        )
    if phase == Phase.PUBLISHED:
        return
    if roles is None:
        raise NotAuthenticated(
            _("De uitslag is nog niet openbaar. Log in als raadslid, controleur of beheerder.")
        )
    if not VIEWER_ROLES & set(roles):
        raise Forbidden(
            _(
                "De uitslag is nog niet openbaar; alleen raadsleden, controleurs en beheerders "
                "kunnen hem nu al inzien."
            )
        )


def may_see(round_: Round, roles: Iterable[Role] | None) -> bool:
    try:
        check_visible(round_, roles)
    except (Conflict, Forbidden, NotAuthenticated):
        return False
    return True


# --- the view ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectView:
    project_id: int
    title: str
    votes: int
    cost_cents: int
    funded: bool
    reason: str | None  # engine reason code when not funded
    reason_text: str  # Dutch source text (translate when shown)
    budget_share_percent: str | None  # of the election's budget, funded projects only
    price_per_voter: str | None  # MES: exact cents "p/q"
    price_per_voter_cents: int | None  # MES: rounded for display
    overrides: tuple[OverrideView, ...] = ()
    # MES on cumulative ballots: each supporter pays this per point given, not one price.
    price_per_point: str | None = None  # exact cents "p/q"
    price_per_point_cents: int | None = None  # rounded for display
    # Greedy with Amsterdam's leftover pass: funded with money the theme caps left, outside them.
    funded_by_leftover: bool = False


@dataclass(frozen=True, slots=True)
class Comparison:
    """MES next to greedy over the same ballots (explanation only, not the official outcome)."""

    greedy_funded: tuple[int, ...]
    only_mes: tuple[int, ...]
    only_greedy: tuple[int, ...]
    voters: int  # non-blank ballots
    voters_with_funded_mes: int
    voters_with_funded_greedy: int
    greedy_cost_cents: int

    @property
    def share_mes(self) -> str | None:
        return percent(self.voters_with_funded_mes, self.voters)

    @property
    def share_greedy(self) -> str | None:
        return percent(self.voters_with_funded_greedy, self.voters)


@dataclass(frozen=True, slots=True)
class ElectionView:
    district_id: int | None
    district_name: str | None
    budget_cents: int
    ballots: int
    blank: int
    used_cents: int
    left_cents: int
    funded: tuple[ProjectView, ...]
    not_funded: tuple[ProjectView, ...]
    tie_break_order: tuple[int, ...]
    seed: str | None
    ties: tuple[tuple[int, ...], ...]  # groups of supported projects with equal votes
    lot_ties: tuple[tuple[int, ...], ...]  # groups the lot ordered (equal cost and supporters)
    per_voter_budget: str | None  # MES: exact cents "p/q"
    per_voter_budget_cents: int | None
    add1_steps: int | None
    comparison: Comparison | None
    # Cumulative and ranked ballots: a project's "votes" are the points it received (the
    # engine's score), not a number of voters; pages label them so.
    scored_by_points: bool = False

    @property
    def projects(self) -> tuple[ProjectView, ...]:
        return self.funded + self.not_funded

    @property
    def ballots_shown(self) -> Count:
        """The ballot count for pages and the PDF: ``"<10"`` under 10, as participation shows
        the same district (zero included, as there), so the two never tell different things."""
        return small(self.ballots)

    @property
    def blank_shown(self) -> Count:
        """The blank ballots for pages and the PDF, masked like :attr:`ballots_shown`."""
        return small(self.blank)

    @property
    def max_votes(self) -> int:
        return max((p.votes for p in self.projects), default=0)

    def title_of(self, project_id: int) -> str:
        return next((p.title for p in self.projects if p.project_id == project_id), "")

    @property
    def key(self) -> str:
        return "stad" if self.district_id is None else str(self.district_id)


@dataclass(frozen=True, slots=True)
class ResultsView:
    round_id: int
    title: str
    phase: str
    published: bool
    rule: str
    tie_break: str
    seed: str | None
    fingerprint: str
    definition: Mapping[str, Any]
    log_head: str
    log_height: int
    engine_version: str
    digest: str
    counted_at: datetime
    elections: tuple[ElectionView, ...]
    participation: Participation
    overrides: tuple[OverrideView, ...]
    rule_text: str
    tie_break_text: str
    # The round fixed the lot's seed in advance (else each election's fingerprint is its seed).
    seed_fixed: bool

    @property
    def is_mes(self) -> bool:
        return self.rule in MES_RULES


async def _visible_round(
    session: AsyncSession, round_id: int, roles: Iterable[Role] | None
) -> Round:
    role_set = frozenset(roles or ())
    round_ = await rounds.get_visible_round(
        session, round_id, include_drafts=Role.ADMIN in role_set
    )
    check_visible(round_, roles)
    return round_


async def stored_result(session: AsyncSession, round_id: int) -> RoundResult:
    row = await session.get(RoundResult, round_id)
    if row is None:
        raise Conflict(
            _("De telling van deze ronde is niet gevonden. Neem contact op met de beheerder.")
        )
    return row


async def stored_document(
    session: AsyncSession, round_id: int, *, roles: Iterable[Role] | None
) -> RoundResult:
    """The stored results row (its ``document`` holds the exact bytes the digest covers)."""
    await _visible_round(session, round_id, roles)
    return await stored_result(session, round_id)


async def load(
    session: AsyncSession, round_id: int, *, roles: Iterable[Role] | None
) -> ResultsView:
    """Everything the results page, the API and the council report show for ``round_id``."""
    round_ = await _visible_round(session, round_id, roles)
    row = await stored_result(session, round_id)
    document: dict[str, Any] = json.loads(row.document)
    definition: dict[str, Any] = json.loads(round_.frozen_definition or "{}")
    overrides = await load_overrides(session, round_id, definition)
    derived = await _derived(session, round_id, row.digest, definition, document)
    elections = tuple(
        _election_view(definition, item, derived[item["district_id"]], overrides)
        for item in document["elections"]
    )
    # The round's own seed, when it fixed one in advance; each election records the seed used.
    seed = definition.get("counting", {}).get("seed")
    return ResultsView(
        round_id=round_.id,
        title=round_.title,
        phase=round_.phase,
        published=round_.phase == Phase.PUBLISHED.value,
        rule=document["rule"],
        tie_break=document["tie_break"],
        seed=seed,
        fingerprint=document["fingerprint"],
        definition=definition,
        log_head=row.log_head,
        log_height=row.log_height,
        engine_version=row.engine_version,
        digest=row.digest,
        counted_at=row.counted_at,
        elections=elections,
        participation=await participation(session, round_id, definition),
        overrides=overrides,
        rule_text=RULE_TEXTS.get(document["rule"], document["rule"]),
        tie_break_text=TIE_BREAK_TEXTS.get(document["tie_break"], document["tie_break"]),
        seed_fixed=seed is not None,
    )


@dataclass(frozen=True, slots=True)
class _Derived:
    """What an election's explanation needs from the current ballots."""

    ties: tuple[tuple[int, ...], ...]
    lot_ties: tuple[tuple[int, ...], ...]
    comparison: Comparison | None


_DERIVED_CACHE: OrderedDict[tuple[int, str], dict[int | None, _Derived]] = OrderedDict()
_DERIVED_CACHE_SIZE = 16
_DERIVING: dict[tuple[int, str], asyncio.Future[None]] = {}


async def _derived(
    session: AsyncSession,
    round_id: int,
    digest: str,
    definition: Mapping[str, Any],
    document: Mapping[str, Any],
) -> dict[int | None, _Derived]:
    """Ties, lots and the greedy comparison of every election, from the current ballots.

    Cached per process by round and results digest: once voting has closed the current ballots
    can no longer change (casts, voids and code revocations are refused, the log is closed), so
    the figures cannot go stale, and a large round (100,000 ballots: seconds of work) is read and
    grouped once instead of on every page view.

    The ballots are read as their stored text and everything after the read (parsing, grouping,
    the greedy recount) runs in a worker thread: at 100,000 ballots over 200 projects that is
    about 2 CPU seconds, which on the event loop stalled every other request of the worker
    (``/health`` waited 1.7 s behind the first results request; ``benchmarks/results.py``).
    """
    key = (round_id, digest)
    loop = asyncio.get_running_loop()
    while True:
        cached = _DERIVED_CACHE.get(key)
        if cached is not None:
            _DERIVED_CACHE.move_to_end(key)
            return cached
        # Views that arrive while another is deriving wait for it instead of deriving too (right
        # after the close the council, auditors and admins open the results at once: each would
        # otherwise cost the same CPU seconds on a 2-core machine). Should it fail, they derive
        # themselves.
        pending = _DERIVING.get(key)
        if pending is None or pending.get_loop() is not loop:
            break
        await asyncio.wait([pending])
    done: asyncio.Future[None] = loop.create_future()
    _DERIVING[key] = done
    try:
        rows = await current_ballots(session, round_id)
        result = await asyncio.to_thread(derive_all, definition, document, rows)
        _DERIVED_CACHE[key] = result
        while len(_DERIVED_CACHE) > _DERIVED_CACHE_SIZE:
            _DERIVED_CACHE.popitem(last=False)
        return result
    finally:
        if _DERIVING.get(key) is done:
            del _DERIVING[key]
        done.set_result(None)


def derive_all(
    definition: Mapping[str, Any],
    document: Mapping[str, Any],
    rows: Iterable[tuple[int | None, str, str]],
) -> dict[int | None, _Derived]:
    """:func:`_derive` for every election of ``document`` over the current ballots ``rows``
    (election key, ballot uid, canonical JSON content). CPU only: run off the event loop."""
    by_key: dict[int | None, list[Mapping[str, Any]]] = {}
    for election_key, _uid, content in rows:
        by_key.setdefault(election_key, []).append(json.loads(content))
    return {
        item["district_id"]: _derive(definition, item, by_key.get(item["district_id"], []))
        for item in document["elections"]
    }


def _derive(
    definition: Mapping[str, Any], item: Mapping[str, Any], contents: list[Mapping[str, Any]]
) -> _Derived:
    outcome = item["outcome"]
    votes = {int(pid): int(v) for pid, v in item["votes"].items()}
    order = [int(pid) for pid in outcome["tie_break_order"]]
    election = engine_election(definition, item["district_id"], contents)
    ties, lot_ties = _ties(election, votes, order, str(outcome["tie_break"]))
    comparison = (
        _comparison(definition, item["district_id"], election, outcome)
        if outcome["rule"] in MES_RULES
        else None
    )
    return _Derived(ties=ties, lot_ties=lot_ties, comparison=comparison)


def _district_name(definition: Mapping[str, Any], district_id: int | None) -> str | None:
    if district_id is None:
        return None
    return next(
        (str(d["name"]) for d in definition.get("districts", []) if d["id"] == district_id), None
    )


def _last_steps(outcome: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each project's deciding step detail (a selection wins over an earlier pass-over)."""
    last: dict[str, dict[str, str]] = {}
    for step in outcome["trace"]:
        if step["reason"] == "selected" or step["project"] not in last:
            last[step["project"]] = dict(step["detail"])
    return last


def _election_view(
    definition: Mapping[str, Any],
    item: Mapping[str, Any],
    derived: _Derived,
    overrides: tuple[OverrideView, ...],
) -> ElectionView:
    outcome = item["outcome"]
    key: int | None = item["district_id"]
    budget = int(item["budget_cents"])
    titles = project_titles(definition)
    costs = {int(p["id"]): int(p["cost_cents"]) for p in definition.get("projects", [])}
    votes = {int(pid): int(v) for pid, v in item["votes"].items()}
    details = _last_steps(outcome)
    leftover_funded = {
        int(step["project"]) for step in outcome["trace"] if step["reason"] == "selected-leftover"
    }
    by_project: dict[int, tuple[OverrideView, ...]] = {}
    for override in overrides:
        by_project[override.project_id] = (*by_project.get(override.project_id, ()), override)

    def price(pid: int, key: str = "price_per_voter") -> tuple[str | None, int | None]:
        exact = details.get(str(pid), {}).get(key)
        return (exact, rounded_cents(Fraction(exact))) if exact is not None else (None, None)

    funded = tuple(
        ProjectView(
            project_id=int(pid),
            title=titles.get(int(pid), ""),
            votes=votes.get(int(pid), 0),
            cost_cents=costs[int(pid)],
            funded=True,
            reason=None,
            reason_text=N_("gefinancierd"),
            budget_share_percent=percent(costs[int(pid)], budget),
            price_per_voter=price(int(pid))[0],
            price_per_voter_cents=price(int(pid))[1],
            overrides=by_project.get(int(pid), ()),
            price_per_point=price(int(pid), "price_per_point")[0],
            price_per_point_cents=price(int(pid), "price_per_point")[1],
            funded_by_leftover=int(pid) in leftover_funded,
        )
        for pid in outcome["selected"]
    )
    order = [int(pid) for pid in outcome["tie_break_order"]]
    position = {pid: i for i, pid in enumerate(order)}
    unselected = sorted(
        ((int(u["project"]), str(u["reason"])) for u in outcome["unselected"]),
        key=lambda pr: (-votes.get(pr[0], 0), position.get(pr[0], 0)),
    )
    not_funded = tuple(
        ProjectView(
            project_id=pid,
            title=titles.get(pid, ""),
            votes=votes.get(pid, 0),
            cost_cents=costs[pid],
            funded=False,
            reason=reason,
            reason_text=REASON_TEXTS.get(reason, reason),
            budget_share_percent=None,
            price_per_voter=None,
            price_per_voter_cents=None,
            overrides=by_project.get(pid, ()),
        )
        for pid, reason in unselected
    )
    parameters = outcome.get("parameters", {})
    per_voter = parameters.get("per_voter_budget")
    return ElectionView(
        district_id=key,
        district_name=_district_name(definition, key),
        budget_cents=budget,
        ballots=int(item["ballots"]),
        blank=int(item["blank"]),
        used_cents=int(outcome["cost"]),
        left_cents=int(outcome["leftover"]),
        funded=funded,
        not_funded=not_funded,
        tie_break_order=tuple(order),
        seed=outcome.get("seed"),
        ties=derived.ties,
        lot_ties=derived.lot_ties,
        per_voter_budget=per_voter,
        per_voter_budget_cents=rounded_cents(Fraction(per_voter)) if per_voter else None,
        add1_steps=int(parameters["add1_steps"]) if "add1_steps" in parameters else None,
        comparison=derived.comparison,
        scored_by_points=definition.get("ballot", {}).get("type") in POINTS_BALLOTS,
    )


def _ties(
    election: Election, votes: Mapping[int, int], order: list[int], tie_break: str
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Groups of supported projects with equal votes (in tie-break order), and among them the
    groups the lot ordered: equal votes, equal cost and equal supporters under ``lowest-cost``."""
    groups: dict[int, list[int]] = {}
    for pid in order:
        if votes.get(pid, 0) > 0:
            groups.setdefault(votes[pid], []).append(pid)
    ties = tuple(tuple(g) for _v, g in sorted(groups.items(), reverse=True) if len(g) > 1)
    if tie_break != "lowest-cost":
        return ties, ()
    support = {int(pid): n for pid, n in supporters(election).items()}
    costs = {int(p.id): p.cost for p in election.projects}
    lots: list[tuple[int, ...]] = []
    for group in ties:
        same: dict[tuple[int, int], list[int]] = {}
        for pid in group:
            same.setdefault((costs[pid], support.get(pid, 0)), []).append(pid)
        lots.extend(tuple(g) for g in same.values() if len(g) > 1)
    return ties, tuple(lots)


def _comparison(
    definition: Mapping[str, Any], key: int | None, election: Election, outcome: Mapping[str, Any]
) -> Comparison:
    """Greedy over the same (non-blank) ballots, with the round's tie-break. The seed is the one
    the official count recorded for this very election, so it need not be fingerprinted again."""
    counting = definition["counting"]
    tie_break = election_tie_break(
        definition,
        key,
        seed=outcome.get("seed") if counting["tie_break"] == "lowest-cost" else None,
    )
    greedy = count(election, "greedy", tie_break=tie_break)
    mes_funded = {str(pid) for pid in outcome["selected"]}
    greedy_funded = set(greedy.selected)
    voters = with_mes = with_greedy = 0
    for ballot in election.ballots:  # grouped: one entry per distinct ballot, with its weight
        named = set(ballot.projects)
        voters += ballot.weight
        with_mes += ballot.weight if named & mes_funded else 0
        with_greedy += ballot.weight if named & greedy_funded else 0
    return Comparison(
        greedy_funded=tuple(int(pid) for pid in greedy.selected),
        only_mes=tuple(sorted(int(p) for p in mes_funded - greedy_funded)),
        only_greedy=tuple(sorted(int(p) for p in greedy_funded - mes_funded)),
        voters=voters,
        voters_with_funded_mes=with_mes,
        voters_with_funded_greedy=with_greedy,
        greedy_cost_cents=greedy.cost,
    )


# --- the overview ------------------------------------------------------------------------------


async def visible_rounds(session: AsyncSession, roles: Iterable[Role] | None) -> list[Round]:
    """Rounds whose results this viewer may see (newest first)."""
    role_set = frozenset(roles or ())
    candidates = await rounds.list_rounds(session, include_drafts=False)
    return [r for r in candidates if may_see(r, role_set if roles is not None else None)]
