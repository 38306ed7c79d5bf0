"""Counting engine against pabutools 1.2.3, side by side, as whole processes.

For every file and rule it runs two child processes and measures wall time (parse included)
and peak memory (``ru_maxrss`` of that child, from ``os.wait4``):

- ours: ``python -m burgerbegroting.voting.tally FILE --rule RULE --tie-break lexicographic --json``
- pabutools: ``parse_pabulib`` + the matching pabutools rule (lexicographic ties, exact gmpy2
  fractions), winners printed as JSON.

pabutools gets a time limit (``--limit``, default 180 s); slower runs are reported as
``> limit``. ``mes-add1`` (real-election Add1) has no pabutools counterpart. Winners are
compared after dropping projects nobody voted for (pabutools' greedy funds those).

Also measured: a synthetic approval election with 100,000 voters and 200 projects (fixed seed;
see ``synthetic``) and the time our pabulib reader needs for its 100,000 ballots.

    .venv/bin/python benchmarks/tally.py                 # print the table
    .venv/bin/python benchmarks/tally.py --write-doc     # also update docs/performance.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/pabulib")
FILES = (
    "Netherlands_Assen_2024.pb",
    "Netherlands_Amsterdam_252.pb",
    "Poland_Czestochowa_2020.pb",
    "Poland_Katowice_2020.pb",
    "Poland_Lodz_2024.pb",
)
RULES = ("greedy", "mes", "mes-add1", "mes-add1-exhaustive", "mes-add1-greedy", "phragmen")
PYTHON = sys.executable

PABUTOOLS_CHILD = r"""
import json, sys
from pabutools.election import parse_pabulib, Cost_Sat, Additive_Cardinal_Sat
from pabutools.election import AdditiveSatisfaction, AbstractCumulativeProfile
from pabutools.rules import method_of_equal_shares, greedy_utilitarian_welfare, sequential_phragmen

class PointsTimesCost(AdditiveSatisfaction):
    def __init__(self, instance, profile, ballot):
        super().__init__(instance, profile, ballot,
                         lambda _i, _p, b, proj, _pre: b.get(proj, 0) * proj.cost)

path, rule = sys.argv[1], sys.argv[2]
instance, profile = parse_pabulib(path)
cumulative = isinstance(profile, AbstractCumulativeProfile)
mes_sat = Additive_Cardinal_Sat if cumulative else Cost_Sat
greedy_sat = PointsTimesCost if cumulative else Cost_Sat
if rule == "mes":
    result = method_of_equal_shares(instance, profile, sat_class=mes_sat)
elif rule == "mes-add1-exhaustive":
    result = method_of_equal_shares(instance, profile, sat_class=mes_sat, voter_budget_increment=1)
elif rule == "mes-add1-greedy":
    first = method_of_equal_shares(instance, profile, sat_class=mes_sat, voter_budget_increment=1)
    result = greedy_utilitarian_welfare(instance, profile, sat_class=greedy_sat,
                                        initial_budget_allocation=first)
elif rule == "greedy":
    result = greedy_utilitarian_welfare(instance, profile, sat_class=greedy_sat)
elif rule == "phragmen":
    result = sequential_phragmen(instance, profile)
else:
    raise SystemExit("unknown rule " + rule)
supported = {p.name for ballot in profile for p in ballot}
print(json.dumps([p.name for p in result if p.name in supported]))
"""

PARSE_CHILD = r"""
import sys, time
from burgerbegroting.voting.tally.pabulib import read_pabulib
text = open(sys.argv[1], encoding="utf-8-sig").read()
start = time.perf_counter()
read_pabulib(text)
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class Child:
    seconds: float | None  # None: killed at the time limit
    peak_mb: float
    stdout: str
    ok: bool
    cpu: float = 0.0  # user + system CPU seconds of the child: less sensitive to a shared machine


def run_child(args: list[str], limit: float) -> Child:
    """Run one child process; wall time, CPU time, its own peak RSS, its output."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > limit:
                os.kill(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                cpu = usage.ru_utime + usage.ru_stime
                return Child(None, usage.ru_maxrss / 1024, "", False, cpu)
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    cpu = usage.ru_utime + usage.ru_stime
    return Child(elapsed, usage.ru_maxrss / 1024, text, proc.returncode == 0, cpu)


def ours(path: Path, rule: str, limit: float) -> tuple[Child, list[str] | None]:
    child = run_child(
        [
            PYTHON,
            "-m",
            "burgerbegroting.voting.tally",
            str(path),
            "--rule",
            rule,
            "--tie-break",
            "lexicographic",
            # pabutools knows no theme/district caps; compare like with like.
            "--ignore-caps",
            "--json",
        ],
        limit,
    )
    if not child.ok:
        return child, None
    return child, [str(p) for p in json.loads(child.stdout)["selected"]]


def pabutools(path: Path, rule: str, limit: float) -> tuple[Child, list[str] | None]:
    child = run_child([PYTHON, "-c", PABUTOOLS_CHILD, str(path), rule], limit)
    if not child.ok:
        return child, None
    return child, json.loads(child.stdout.strip().splitlines()[-1])


def synthetic(path: Path, voters: int, projects: int, seed: int = 2024) -> None:
    """An approval election shaped like a city-wide vote: 3-15 approvals per voter, skewed
    popularity (Zipf-like weight 1/rank^0.8, ranks shuffled so popularity does not follow the id
    or the cost), costs from 10,000 to 2,000,000, budget a quarter of the total cost. Nearly
    every ballot is distinct, so grouping identical ballots does not help (the hard case)."""
    rnd = random.Random(seed)
    ids = [f"S{i:03d}" for i in range(projects)]
    weights = [1 / (i + 1) ** 0.8 for i in range(projects)]
    rnd.shuffle(weights)
    costs = [rnd.randrange(10_000, 2_000_000, 500) for _ in ids]
    lines = [
        "META",
        "key;value",
        "description;synthetic benchmark",
        "country;Nowhere",
        "unit;Synthetic",
        "instance;2024",
        f"num_projects;{projects}",
        f"num_votes;{voters}",
        f"budget;{sum(costs) // 4}",
        "vote_type;approval",
        "rule;greedy",
        "min_length;3",
        "max_length;15",
        "PROJECTS",
        "project_id;cost;name",
    ]
    lines += [f"{pid};{cost};project {pid}" for pid, cost in zip(ids, costs, strict=True)]
    lines += ["VOTES", "voter_id;vote"]
    for v in range(voters):
        size = rnd.randint(3, 15)
        chosen: set[str] = set()
        while len(chosen) < size:
            chosen.update(rnd.choices(ids, weights, k=size - len(chosen)))
        lines.append(f"{v};{','.join(sorted(chosen))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def counts(path: Path) -> tuple[int, int, str]:
    meta: dict[str, str] = {}
    with path.open(encoding="utf-8-sig") as f:
        for line in f:
            if line.strip() == "PROJECTS":
                break
            key, _, value = line.strip().partition(";")
            meta[key] = value
    return (
        int(meta.get("num_votes", 0)),
        int(meta.get("num_projects", 0)),
        meta.get("vote_type", ""),
    )


def fmt_time(child: Child | None, limit: float) -> str:
    if child is None:
        return "n/a"
    if child.seconds is None:
        return f"> {limit:.0f}"
    return f"{child.seconds:.2f}" if child.ok else "error"


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu}; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", default=list(FILES))
    parser.add_argument("--rules", nargs="*", default=list(RULES))
    parser.add_argument("--limit", type=float, default=180.0, help="pabutools time limit (s)")
    parser.add_argument("--ours-limit", type=float, default=600.0)
    parser.add_argument("--voters", type=int, default=100_000, help="synthetic election size")
    parser.add_argument("--projects", type=int, default=200, help="synthetic election size")
    parser.add_argument("--no-synthetic", action="store_true", help="real files only")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()

    rows: list[str] = [
        "| election | voters | projects | rule | ours (s) | ours CPU s | ours peak MB "
        "| pabutools (s) | pabutools CPU s | pabutools peak MB | speed-up | CPU speed-up "
        "| same winners |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        synth = Path(tmp) / f"synthetic_{args.voters}.pb"
        if not args.no_synthetic:
            synthetic(synth, args.voters, args.projects)
        paths = [DATA / name for name in args.files] + ([] if args.no_synthetic else [synth])
        for path in paths:
            n_voters, n_projects, vote_type = counts(path)
            for rule in args.rules:
                if rule == "phragmen" and vote_type not in {"approval", "choose-1"}:
                    continue
                mine, mine_winners = ours(path, rule, args.ours_limit)
                theirs: Child | None = None
                their_winners = None
                if rule != "mes-add1":
                    theirs, their_winners = pabutools(path, rule, args.limit)
                speed = "n/a"
                if mine.seconds and theirs is not None and theirs.seconds:
                    speed = f"{theirs.seconds / mine.seconds:.0f}x"
                elif mine.seconds and theirs is not None and theirs.seconds is None:
                    speed = f"> {args.limit / mine.seconds:.0f}x"
                cpu_speed = "n/a"
                if mine.cpu and theirs is not None and theirs.seconds:
                    cpu_speed = f"{theirs.cpu / mine.cpu:.0f}x"
                same = "n/a"
                if mine_winners is not None and their_winners is not None:
                    ordered = rule.startswith("mes")
                    equal = (
                        mine_winners == their_winners
                        if ordered
                        else sorted(mine_winners) == sorted(their_winners)
                    )
                    same = "yes" if equal else "NO"
                row = (
                    f"| {path.name} | {n_voters:,} | {n_projects} | {rule} "
                    f"| {fmt_time(mine, args.ours_limit)} | {mine.cpu:.2f} | {mine.peak_mb:.0f} "
                    f"| {fmt_time(theirs, args.limit)} "
                    f"| {'' if theirs is None else f'{theirs.cpu:.2f}'} "
                    f"| {'' if theirs is None else f'{theirs.peak_mb:.0f}'} | {speed} "
                    f"| {cpu_speed} | {same} |"
                )
                rows.append(row)
                print(row, flush=True)
        parse = (
            None
            if args.no_synthetic
            else run_child([PYTHON, "-c", PARSE_CHILD, str(synth)], args.ours_limit)
        )
        if parse is None:
            pass
        elif parse.ok:
            notes.append(
                f"Parsing the synthetic file ({args.voters:,} ballots) with our reader: "
                f"{float(parse.stdout.strip()):.2f} s (peak {parse.peak_mb:.0f} MB)."
            )
        else:
            notes.append("Parsing the synthetic file failed (see stderr of the parse child).")
    print()
    print("\n".join(rows))
    for note in notes:
        print(note)
    print("Machine:", machine())
    if args.write_doc:
        write_doc(rows, notes, " ".join(sys.argv[1:]))


def write_doc(rows: list[str], notes: list[str], argv: str) -> None:
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    command = ".venv/bin/python benchmarks/tally.py" + (f" {argv}" if argv else "")
    section = "\n".join(
        [
            "## Counting engine",
            "",
            "Whole processes, parse included: our command line "
            "(`python -m burgerbegroting.voting.tally FILE --rule R --tie-break lexicographic "
            "--json`) against a process running pabutools 1.2.3's `parse_pabulib` and the "
            "matching rule with exact fractions. Peak memory is the child's `ru_maxrss`. "
            "`mes-add1` (real-election Add1) has no pabutools counterpart.",
            "",
            f"Machine: {machine()}.",
            "",
            f"Reproduce: `{command}`",
            "",
            *rows,
            "",
            *notes,
            "",
        ]
    )
    start = text.find("## Counting engine")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("" if end == -1 else text[end + 1 :])
    doc.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
