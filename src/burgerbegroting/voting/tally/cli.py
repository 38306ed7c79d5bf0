"""The ``tally`` command: count a pabulib file with a named rule.

    burgerbegroting tally FILE.pb --rule RULE [--tie-break lowest-cost|lexicographic|explicit]
                          [--order ID,ID,...] [--seed S] [--json | --explain]
    python -m burgerbegroting.voting.tally FILE.pb --rule mes-add1     (nothing but Python)

Output: ``--explain`` (the default) prints the Dutch table; ``--json`` prints one JSON object
(the outcome's ``to_json`` plus the file's facts and any notes). Bad files or options: a clear
message on standard error and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from burgerbegroting.voting.tally.explain import explain
from burgerbegroting.voting.tally.model import Election, Outcome, TallyError
from burgerbegroting.voting.tally.pabulib import read_election
from burgerbegroting.voting.tally.rules import CAP_RULES, RULES, count
from burgerbegroting.voting.tally.tiebreak import TIE_BREAKS, parse_tie_break

__all__ = ["add_tally_parser", "configure_parser", "main", "run_tally"]

EXIT_USAGE = 2


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the tally arguments to ``parser``."""
    parser.add_argument("file", type=Path, help="pabulib .pb file")
    parser.add_argument("--rule", required=True, choices=list(RULES), help="counting rule")
    parser.add_argument(
        "--tie-break",
        default="lowest-cost",
        choices=list(TIE_BREAKS),
        help="how ties are broken (default: lowest-cost)",
    )
    parser.add_argument(
        "--seed",
        help="published seed of the lot (lowest-cost tie-break); default: META tie_break_seed",
    )
    parser.add_argument(
        "--order", help="explicit tie-break order: every project id, comma-separated"
    )
    parser.add_argument(
        "--threshold",
        help="greedy: minimum score to be funded; 'file' takes min_project_score_threshold",
    )
    parser.add_argument(
        "--no-skip", action="store_true", help="greedy: stop at the first project that does not fit"
    )
    parser.add_argument(
        "--leftover",
        choices=["keep", "fund-by-score", "file"],
        help="greedy: money the caps left unspent: keep it, or fund further projects by score "
        "ignoring the caps (Amsterdam); default 'file': what META leftover_budget says",
    )
    parser.add_argument(
        "--ordinal-scores",
        help="greedy on ranked ballots: points per position, 'borda' (default: m, m-1, …, 1) "
        "or a list such as 3,2,1 (Kraków)",
    )
    parser.add_argument(
        "--no-free-projects",
        action="store_true",
        help="mes rules: never fund projects that cost nothing (as pabutools on approval "
        "ballots); by default a "
        "supported free project is funded",
    )
    parser.add_argument(
        "--skip", action="store_true", help="phragmen: pass over projects that no longer fit"
    )
    parser.add_argument(
        "--ignore-caps", action="store_true", help="ignore theme/district caps in the file"
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="count a file that contradicts itself (duplicate voter ids, wrong num_votes, "
        "ballots breaking META limits) with a warning for each problem instead of refusing it",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--explain", action="store_true", help="print a Dutch table (default)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", action="store_true", default=None, help="show progress on stderr"
    )
    progress.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress"
    )


def add_tally_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``tally`` subcommand on an ``add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tally",
        help="count a pabulib file",
        description="Count a pabulib (.pb) file with a named rule, exactly.",
    )
    configure_parser(parser)
    return parser


class _Progress:
    """Progress on stderr, at most a few times per second (the rules know no clock)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        text = f"stap {done} van {total}" if total else f"stap {done}"
        self.stream.write(f"\rTellen… {text}   ")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 40 + "\r")
            self.stream.flush()


def _fail(message: str) -> int:
    print(f"tally: fout: {message}", file=sys.stderr)
    return EXIT_USAGE


def _options(
    args: argparse.Namespace, meta: dict[str, str], file_leftover: str
) -> dict[str, object]:
    """Rule options from the command line; TallyError for options the rule does not take."""
    options: dict[str, object] = {}
    if args.leftover not in (None, "file") and args.rule != "greedy":
        raise TallyError("--leftover only applies to --rule greedy")
    if args.rule == "greedy":
        choice = args.leftover or "file"
        options["leftover"] = file_leftover if choice == "file" else choice
    if args.threshold is not None:
        if args.rule != "greedy":
            raise TallyError("--threshold only applies to --rule greedy")
        raw = meta.get("min_project_score_threshold") if args.threshold == "file" else None
        if args.threshold == "file" and raw is None:
            raise TallyError("--threshold file: the file has no min_project_score_threshold")
        value = raw if raw is not None else args.threshold
        if not re.fullmatch(r"[0-9]{1,18}", value):
            raise TallyError(f"--threshold needs a whole number or 'file', not {value!r}")
        options["threshold"] = int(value)
    if args.ordinal_scores is not None:
        if args.rule != "greedy":
            raise TallyError("--ordinal-scores only applies to --rule greedy")
        raw = args.ordinal_scores.strip()
        if raw == "borda":
            options["ordinal_scores"] = "borda"
        else:
            parts = [part.strip() for part in raw.split(",")]
            if not all(re.fullmatch(r"[0-9]{1,9}", part) for part in parts):
                raise TallyError(
                    f"--ordinal-scores needs 'borda' or whole numbers such as 3,2,1, not {raw!r}"
                )
            options["ordinal_scores"] = tuple(int(part) for part in parts)
    if args.no_free_projects:
        if not args.rule.startswith("mes"):
            raise TallyError("--no-free-projects only applies to the mes rules")
        options["fund_free"] = False
    if args.no_skip:
        if args.rule != "greedy":
            raise TallyError("--no-skip only applies to --rule greedy")
        options["no_skip"] = True
    if args.skip:
        if args.rule != "phragmen":
            raise TallyError("--skip only applies to --rule phragmen")
        options["skip"] = True
    return options


def _without_caps(election: Election) -> Election:
    return Election(
        budget=election.budget,
        projects=election.projects,
        ballots=election.ballots,
        ballot_type=election.ballot_type,
        decimals=election.decimals,
    )


def run_tally(args: argparse.Namespace) -> int:
    """Run the tally command for parsed ``args``; return the exit code."""
    try:
        pb, election = read_election(args.file, lenient=args.lenient, group_votes=True)
    except TallyError as exc:
        return _fail(f"{args.file}: {exc}")
    warnings = [f"{args.file}: {w}" for w in pb.warnings]
    for warning in warnings:
        print(f"tally: waarschuwing: {warning}", file=sys.stderr)
    notes: list[str] = []
    try:
        explicit = [s.strip() for s in args.order.split(",")] if args.order else []
        seed = args.seed
        if seed is None and args.tie_break == "lowest-cost" and pb.meta_dict.get("tie_break_seed"):
            # Our exports publish the lot's seed in META: a recount without --seed draws the
            # same lot as the published count, instead of one seeded with this file's fingerprint.
            seed = pb.meta_dict["tie_break_seed"]
            notes.append(f"Het lotingszaad komt uit het bestand (tie_break_seed={seed}).")
        tie_break = parse_tie_break(args.tie_break, seed=seed, explicit=explicit)
        options = _options(args, pb.meta_dict, pb.leftover)
        if args.rule == "greedy" and (args.leftover or "file") == "file" and pb.leftover != "keep":
            notes.append(
                "Het bestand schrijft voor dat restbudget daarna op volgorde van stemmen wordt "
                "besteed, buiten de maxima per thema/wijk (leftover_budget); dat is toegepast."
            )
        if election.caps and (args.ignore_caps or args.rule not in CAP_RULES):
            if not args.ignore_caps:
                notes.append(
                    f"De maxima per thema/wijk in het bestand zijn genegeerd: {args.rule} "
                    "kent geen maxima (alleen greedy past ze toe)."
                )
            else:
                notes.append("De maxima per thema/wijk in het bestand zijn genegeerd.")
            election = _without_caps(election)
        if (
            args.rule == "greedy"
            and args.threshold is None
            and "min_project_score_threshold" in pb.meta_dict
        ):
            notes.append(
                "Het bestand noemt een minimumscore (min_project_score_threshold="
                f"{pb.meta_dict['min_project_score_threshold']}); die is niet toegepast. "
                "Gebruik --threshold file om hem toe te passen."
            )
        show = args.progress if args.progress is not None else sys.stderr.isatty()
        progress = _Progress(sys.stderr) if show else None
        try:
            outcome = count(election, args.rule, tie_break=tie_break, progress=progress, **options)
        finally:
            if progress is not None:
                progress.close()
    except TallyError as exc:
        return _fail(str(exc))
    for note in notes:
        print(f"tally: let op: {note}", file=sys.stderr)
    if args.json:
        data = _json(outcome, election, args.file, notes)
        data["warnings"] = warnings
        text = json.dumps(data, ensure_ascii=False) + "\n"
    else:
        text = explain(election, outcome, currency=pb.meta_dict.get("currency"))
        text += "".join(f"Let op: {note}\n" for note in notes)
        text += "".join(f"Waarschuwing: {warning}\n" for warning in warnings)
    return _write(text)


def _write(text: str) -> int:
    """Print the result; a reader that stops early (``| head``) is not an error of ours.

    Python raises BrokenPipeError when the pipe closes, and again when it flushes stdout at
    exit; the documented remedy is to point stdout at devnull after the first one.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def _json(outcome: Outcome, election: Election, path: Path, notes: list[str]) -> dict[str, object]:
    data = outcome.to_json()
    data["file"] = str(path)
    data["ballot_type"] = str(election.ballot_type)
    data["decimals"] = election.decimals
    data["voters"] = sum(b.weight for b in election.ballots)
    data["notes"] = notes
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m burgerbegroting.voting.tally``: the same command without the web app."""
    parser = argparse.ArgumentParser(
        prog="python -m burgerbegroting.voting.tally",
        description="Count a pabulib (.pb) file with a named rule, exactly.",
    )
    configure_parser(parser)
    return run_tally(parser.parse_args(argv))
