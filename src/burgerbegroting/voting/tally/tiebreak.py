"""Tie-breaking: a complete, published priority order of the projects.

Every rule compares projects by its own score first; when two projects are exactly equal the
one earlier in ``TieBreak.order(election)`` wins. The order is recorded in the outcome, so a
recount can check that it was applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from burgerbegroting.voting.tally.model import BallotType, Election, TallyError, supporters

__all__ = ["TIE_BREAKS", "TieBreak", "election_fingerprint", "parse_tie_break"]

TIE_BREAKS = ("lowest-cost", "lexicographic", "explicit")


@dataclass(frozen=True, slots=True)
class TieBreak:
    """How ties are broken: ``lowest-cost`` (default), ``lexicographic`` or ``explicit``."""

    name: str
    seed: str | None = None
    explicit: tuple[str, ...] = ()

    def order(self, election: Election) -> tuple[str, ...]:
        """All project ids, highest priority first.

        lowest-cost: lowest cost, then most supporters (sum of the weights of the ballots naming
          it), then a lot: ``sha256(seed + project id)`` (UTF-8, hex digest) ascending. Without
          a seed the election's fingerprint (:func:`election_fingerprint`) is the seed; use
          :meth:`resolved` to record it.
        lexicographic: project ids compared as strings, what pabutools does ("10" < "9").
        explicit: the given order, which must list every project exactly once.
        """
        ids = [p.id for p in election.projects]
        if self.name == "lexicographic":
            return tuple(sorted(ids))
        if self.name == "explicit":
            if len(set(self.explicit)) != len(self.explicit):
                raise TallyError("The explicit tie-break order names a project twice.")
            missing = sorted(set(ids) - set(self.explicit))
            unknown = sorted(set(self.explicit) - set(ids))
            if missing or unknown:
                parts = []
                if missing:
                    parts.append(f"missing {', '.join(missing)}")
                if unknown:
                    parts.append(f"unknown {', '.join(unknown)}")
                raise TallyError(
                    "The explicit tie-break order must list every project exactly once: "
                    + "; ".join(parts)
                    + "."
                )
            return self.explicit
        if self.name == "lowest-cost":
            seed = self.seed if self.seed is not None else election_fingerprint(election)
            support = supporters(election)
            costs = {p.id: p.cost for p in election.projects}

            def key(pid: str) -> tuple[int, int, str]:
                lot = hashlib.sha256((seed + pid).encode("utf-8")).hexdigest()
                return (costs[pid], -support[pid], lot)

            return tuple(sorted(ids, key=key))
        raise TallyError(f"Unknown tie-break {self.name!r}; choose one of {', '.join(TIE_BREAKS)}.")

    def resolved(self, election: Election) -> TieBreak:
        """This tie-break with its seed filled in (the fingerprint) if a lot may be needed."""
        if self.name == "lowest-cost" and self.seed is None:
            return replace(self, seed=election_fingerprint(election))
        return self


def parse_tie_break(
    name: str, *, seed: str | None = None, explicit: Sequence[str] = ()
) -> TieBreak:
    """Build a TieBreak from its name (as on the command line), checking the combination."""
    if name not in TIE_BREAKS:
        raise TallyError(f"Unknown tie-break {name!r}; choose one of {', '.join(TIE_BREAKS)}.")
    if name == "explicit" and not explicit:
        raise TallyError("The explicit tie-break needs the complete order of the projects.")
    if name != "explicit" and explicit:
        raise TallyError("Only the explicit tie-break takes an order of projects.")
    if seed is not None and name != "lowest-cost":
        raise TallyError("Only the lowest-cost tie-break draws a lot, so only it takes a seed.")
    return TieBreak(name, seed, tuple(explicit))


def election_fingerprint(election: Election) -> str:
    """SHA-256 (hex) of the election's canonical JSON.

    Canonical: projects sorted by id; ballots in a normal form (approval/choose-1: the set of
    ids, sorted; cumulative: ids with their summed points, sorted; ordinal: the ranking with
    repeats removed) with identical ballots merged and their weights added, sorted. Two
    elections with the same voters' choices therefore have the same fingerprint, however the
    ballots are ordered or grouped.
    """
    grouped: dict[str, int] = {}
    for ballot in election.ballots:
        form: Sequence[object]
        if election.ballot_type is BallotType.CUMULATIVE:
            points: dict[str, int] = {}
            for pid, pts in zip(ballot.projects, ballot.points, strict=False):
                points[pid] = points.get(pid, 0) + pts
            form = [[pid, pts] for pid, pts in sorted(points.items()) if pts > 0]
        elif election.ballot_type is BallotType.ORDINAL:
            form = list(dict.fromkeys(ballot.projects))
        else:
            form = sorted(set(ballot.projects))
        key = json.dumps(form, ensure_ascii=False, separators=(",", ":"))
        grouped[key] = grouped.get(key, 0) + ballot.weight
    document = {
        "budget": election.budget,
        "decimals": election.decimals,
        "ballot_type": str(election.ballot_type),
        "projects": [
            [p.id, p.cost, p.theme, p.district]
            for p in sorted(election.projects, key=lambda p: p.id)
        ],
        "caps": sorted((str(c.kind), c.key, c.limit) for c in election.caps),
        "ballots": sorted((key, weight) for key, weight in grouped.items() if weight),
    }
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
