"""Closing a large round: end event + count of every election (+ the audit export, when present).

Builds a round of ``--ballots`` current ballots (default 100,000) over ``--projects`` projects
(default 200) in 4 districts with their own budgets, counted with ``--rule`` (default
``mes-add1``): voters, ballots and a valid hash-chained ballot log are written in bulk with the
same functions the booth uses (``voting.canonical``), in a fresh SQLite file and, when
``BB_TEST_POSTGRES_URL`` is set, a fresh PostgreSQL database. Ballots are knapsack ballots with a
skewed popularity (a few projects are popular, most are not; 3 to 8 projects per ballot, within
the district's budget). Then it times ``rounds.service.move_phase(…, CLOSED)`` — the end event,
the fingerprint check, loading the current ballots and counting all four elections — and, if the
audit package provides ``audit.export.json_export``, the JSON export.

    .venv/bin/python benchmarks/close.py
    scripts/with-postgres .venv/bin/python benchmarks/close.py --write-doc
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import service as accounts
from burgerbegroting.accounts.roles import Role
from burgerbegroting.cli import upgrade_database
from burgerbegroting.db import create_engine
from burgerbegroting.proposals.models import Proposal, ProposalStatus
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import District, Phase, Round, Theme
from burgerbegroting.settings import Settings
from burgerbegroting.voting.canonical import canonical_json, event_hash, receipt_from_hash
from burgerbegroting.voting.models import Ballot, BallotLog, LogEvent, Voter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import postgres_admin_url, postgres_database  # noqa: E402

DISTRICT_BUDGET = 25_000_000  # € 250.000 each, € 1.000.000 in all


async def build(
    settings: Settings,
    ballots: int,
    projects: int,
    rule: str,
    seed: int,
    *,
    city_wide: bool = False,
) -> tuple[int, int]:
    """Seed the round (voting, not yet closed); return (round id, admin id).

    ``city_wide``: one election over all projects with the four districts' budgets together
    (voters keep their district, for participation), as ``benchmarks/results.py`` uses it.
    """
    rng = random.Random(seed)
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            admin = await accounts.create_user(
                session,
                email="bench@example.nl",
                password="een-lang-wachtwoord-1",
                display_name="Bench",
                roles={Role.ADMIN},
                confirmed=True,
            )
            round_ = Round(
                title="Benchmark",
                total_budget_cents=4 * DISTRICT_BUDGET,
                budget_scope="city" if city_wide else "districts",
                phase=Phase.REVIEW.value,
                ballot_type="knapsack",
                counting_rule=rule,
            )
            session.add(round_)
            await session.flush()
            districts = [
                District(
                    round_id=round_.id,
                    name=f"Wijk {i}",
                    budget_cents=None if city_wide else DISTRICT_BUDGET,
                    position=i,
                )
                for i in range(4)
            ]
            theme = Theme(round_id=round_.id, name="Welzijn")
            session.add_all([*districts, theme])
            await session.flush()
            by_district: dict[int, list[tuple[int, int]]] = {d.id: [] for d in districts}
            city: list[tuple[int, int]] = []
            for i in range(projects):
                district = districts[i % 4]
                cost = rng.randrange(500_000, 8_000_000, 10_000)
                p = Proposal(
                    round_id=round_.id,
                    author_id=admin.id,
                    theme_id=theme.id,
                    district_id=district.id,
                    status=ProposalStatus.ACCEPTED.value,
                    title=f"Project {i}",
                    estimated_cost_cents=cost,
                    municipal_cost_cents=cost,
                )
                session.add(p)
                await session.flush()
                by_district[district.id].append((p.id, cost))
                city.append((p.id, cost))
            await session.commit()
            await rounds.move_phase(
                session, round_.id, Phase.VOTING, actor_id=admin.id, reason="bench"
            )
            await session.commit()
            head = (
                await session.execute(
                    text("SELECT height, head FROM ballot_logs WHERE round_id = :r"),
                    {"r": round_.id},
                )
            ).one()
            height, parent = int(head[0]), str(head[1])
            voters, ballot_rows, events = [], [], []
            day = date(2027, 3, 1)
            weights = {
                d: [1.0 / (k + 1) ** 1.1 for k in range(len(ps))] for d, ps in by_district.items()
            }
            city_weights = [1.0 / (k + 1) ** 1.1 for k in range(len(city))]
            limit = 4 * DISTRICT_BUDGET if city_wide else DISTRICT_BUDGET
            for n in range(ballots):
                district_id = districts[n % 4].id
                options = city if city_wide else by_district[district_id]
                option_weights = city_weights if city_wide else weights[district_id]
                election = None if city_wide else district_id
                chosen: set[int] = set()
                total = 0
                for _ in range(rng.randint(3, 8)):
                    pid, cost = rng.choices(options, weights=option_weights)[0]
                    if pid not in chosen and total + cost <= limit:
                        chosen.add(pid)
                        total += cost
                content = {"projects": sorted(chosen)}
                height += 1
                uid = secrets.token_hex(16)
                payload = {
                    "ballot_id": uid,
                    "election": election,
                    "ballot": content,
                    "supersedes": None,
                    "day": day.isoformat(),
                }
                digest = event_hash(
                    round_id=round_.id, height=height, parent=parent, kind="ballot", payload=payload
                )
                events.append(
                    {
                        "round_id": round_.id,
                        "height": height,
                        "parent": parent,
                        "kind": "ballot",
                        "payload": canonical_json(payload).decode(),
                        "hash": digest,
                    }
                )
                parent = digest
                voters.append(
                    {
                        "id": n + 1,
                        "round_id": round_.id,
                        "voter_key": secrets.token_hex(32),
                        "method": "code",
                        "district_id": district_id,
                        "verified": True,
                    }
                )
                ballot_rows.append(
                    {
                        "id": n + 1,
                        "round_id": round_.id,
                        "voter_id": n + 1,
                        "election_district_id": election,
                        "ballot_uid": uid,
                        "content": canonical_json(content).decode(),
                        "blank": False,
                        "channel": "online",
                        "cast_on": day,
                        "event_height": height,
                        "receipt": receipt_from_hash(digest),
                    }
                )
            for chunk in range(0, ballots, 5000):
                await session.execute(insert(Voter), voters[chunk : chunk + 5000])
                await session.execute(insert(LogEvent), events[chunk : chunk + 5000])
                await session.execute(insert(Ballot), ballot_rows[chunk : chunk + 5000])
            await session.execute(
                text("UPDATE voters SET current_ballot_id = id WHERE round_id = :r"),
                {"r": round_.id},
            )
            await session.execute(
                update(BallotLog)
                .where(BallotLog.round_id == round_.id)
                .values(height=height, head=parent)
            )
            if "postgresql" in settings.database_url:
                await session.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('voters','id'), (SELECT max(id) FROM voters))"
                    )
                )
                await session.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('ballots','id'), (SELECT max(id) FROM ballots))"
                    )
                )
            await session.commit()
            return round_.id, admin.id
    finally:
        await engine.dispose()


async def close(settings: Settings, round_id: int, admin_id: int) -> dict[str, float]:
    engine = create_engine(settings.database_url)
    timings: dict[str, float] = {}
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            started = time.perf_counter()
            await rounds.move_phase(
                session,
                round_id,
                Phase.CLOSED,
                actor_id=admin_id,
                reason="bench",
                now=datetime.now(UTC),
            )
            await session.commit()
            timings["close + count"] = time.perf_counter() - started
            try:
                export = importlib.import_module("burgerbegroting.audit.export")
            except ModuleNotFoundError:
                return timings
            builder = getattr(export, "json_export", None)
            if builder is not None:
                started = time.perf_counter()
                data = await builder(session, settings, round_id)
                timings["json export"] = time.perf_counter() - started
                timings["export MB"] = (
                    len(data) / 1e6 if isinstance(data, bytes | str) else float("nan")
                )
    finally:
        await engine.dispose()
    return timings


def run(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    upgrade_database(url)
    settings = Settings(
        env="test",
        database_url=url,
        secret_key="bench-" + "x" * 40,
        var_dir=Path(tempfile.mkdtemp()),
    )
    started = time.perf_counter()
    round_id, admin_id = asyncio.run(
        build(settings, args.ballots, args.projects, args.rule, args.seed)
    )
    build_s = time.perf_counter() - started
    timings = asyncio.run(close(settings, round_id, admin_id))
    return {"backend": backend, "build": build_s, **timings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ballots", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--rule", default="mes-add1")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run("SQLite", f"sqlite+aiosqlite:///{tmp}/close.sqlite3", args))
    admin = postgres_admin_url()
    if admin:
        with postgres_database(admin, "bb_close") as url:
            results.append(run("PostgreSQL", url, args))
    lines = [
        f"{args.ballots:,} ballots, {args.projects} projects, 4 districts, rule `{args.rule}`. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}.",
        "",
        "| database | close + count (s) | json export (s) |",
        "|---|---:|---:|",
    ]
    for r in results:
        export = f"{r['json export']:.1f}" if "json export" in r else "—"
        lines.append(f"| {r['backend']} | {r['close + count']:.1f} | {export} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write_doc:
        doc = ROOT / "docs" / "performance.md"
        content = doc.read_text()
        start, end = "<!-- close:start -->", "<!-- close:end -->"
        block = f"{start}\n{report}{end}"
        if start in content:
            before, rest = content.split(start, 1)
            content = before + block + rest.split(end, 1)[1]
        else:
            content += (
                f"\n## Closing and counting a large round (`benchmarks/close.py`)\n\n{block}\n"
            )
        doc.write_text(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
