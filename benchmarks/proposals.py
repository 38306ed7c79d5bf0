"""Proposal gallery speed: 2,000 proposals, filtered pages and API calls, server side.

Seeds one round (8 themes, 10 districts), 400 residents, 2,000 proposals with realistic text
(statuses mixed as after a review phase) and 20,000 supports into a fresh, migrated SQLite file,
and into a fresh PostgreSQL database when ``BB_TEST_POSTGRES_URL`` is set. Then it times, in
process (Litestar ``TestClient``: no network, so the figure is the app's own time plus the
client's sub-millisecond overhead), each gallery request 60 times after 5 warm-up calls and
reports median and p95 in milliseconds.

The same requests are then timed again after dropping the gallery's indexes
(``ix_proposals_round_*``), to show what they contribute.

    .venv/bin/python benchmarks/proposals.py               # print the table
    .venv/bin/python benchmarks/proposals.py --write-doc   # also update docs/performance.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.models import User, UserRole
from burgerbegroting.app import create_app
from burgerbegroting.cli import upgrade_database
from burgerbegroting.db import create_engine
from burgerbegroting.proposals.models import Proposal, ProposalAuthor, ProposalSupport
from burgerbegroting.rounds.models import District, Round, Theme
from burgerbegroting.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SECTION = "## Proposal gallery"
PROPOSALS = 2_000
RESIDENTS = 400
SUPPORTS = 20_000
WARMUP = 5
RUNS = 60
SEED = 20_27
GALLERY_INDEXES = (
    "ix_proposals_round_status",
    "ix_proposals_round_theme",
    "ix_proposals_round_district",
    "ix_proposals_round_created",
)
WORDS = [
    "buurt",
    "ouderen",
    "jongeren",
    "mantelzorg",
    "koffie",
    "ontmoeting",
    "sport",
    "taalles",
    "armoede",
    "schulden",
    "moestuin",
    "wandelen",
    "eenzaamheid",
    "dementie",
    "vrijwilligers",
    "buurthuis",
    "huiswerk",
    "school",
    "gezondheid",
    "bewegen",
    "cultuur",
    "muziek",
    "koken",
    "samen",
    "wijk",
    "park",
    "speeltuin",
    "fiets",
]
STATUSES = (
    ["submitted"] * 30
    + ["in_review"] * 15
    + ["accepted"] * 25
    + ["rejected"] * 10
    + ["changes_requested"] * 5
    + ["draft"] * 10
    + ["withdrawn"] * 5
)


@dataclass
class Seeded:
    round_id: int
    theme_id: int
    district_id: int


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


async def seed(url: str) -> Seeded:
    rng = random.Random(SEED)
    engine = create_engine(url)
    now = datetime.now(UTC)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            round_ = Round(
                title="Benchmarkronde",
                total_budget_cents=500_000_000,
                phase="review",
                supports_enabled=True,
            )
            session.add(round_)
            await session.flush()
            themes = [Theme(round_id=round_.id, name=f"Thema {i}", position=i) for i in range(8)]
            districts = [
                District(round_id=round_.id, name=f"Wijk {i}", position=i) for i in range(10)
            ]
            session.add_all([*themes, *districts])
            await session.flush()
            await session.execute(
                insert(User),
                [
                    {
                        "email": f"inwoner{i}@example.nl",
                        "display_name": f"Inwoner {i}",
                        "password_hash": "not-a-real-hash",
                        "created_at": now,
                    }
                    for i in range(RESIDENTS)
                ],
            )
            user_ids = list(
                (await session.execute(text("SELECT id FROM users ORDER BY id"))).scalars()
            )
            await session.execute(
                insert(UserRole), [{"user_id": u, "role": "resident"} for u in user_ids]
            )
            rows = []
            for i in range(PROPOSALS):
                status = rng.choice(STATUSES)
                cost = rng.randrange(1_000, 200_000) * 100
                rows.append(
                    {
                        "round_id": round_.id,
                        "theme_id": rng.choice(themes).id,
                        "district_id": None if rng.random() < 0.15 else rng.choice(districts).id,
                        "author_id": rng.choice(user_ids),
                        "status": status,
                        "title": _text(rng, 5)[:200],
                        "summary": _text(rng, 30)[:500],
                        "description": "\n\n".join(_text(rng, 60) for _ in range(4)),
                        "societal_effect": _text(rng, 40),
                        "target_group": _text(rng, 6),
                        "estimated_cost_cents": cost,
                        "municipal_cost_cents": cost if status == "accepted" else None,
                        "created_at": now - timedelta(minutes=PROPOSALS - i),
                        "updated_at": now,
                        "submitted_at": None if status == "draft" else now,
                    }
                )
            await session.execute(insert(Proposal), rows)
            proposal_ids = list(
                (await session.execute(text("SELECT id, author_id FROM proposals"))).all()
            )
            await session.execute(
                insert(ProposalAuthor),
                [
                    {"proposal_id": p, "user_id": a, "role": "author", "created_at": now}
                    for p, a in proposal_ids
                ],
            )
            pairs: set[tuple[int, int]] = set()
            while len(pairs) < SUPPORTS:
                pairs.add((rng.choice(proposal_ids)[0], rng.choice(user_ids)))
            await session.execute(
                insert(ProposalSupport),
                [{"proposal_id": p, "user_id": u, "created_at": now} for p, u in sorted(pairs)],
            )
            await session.commit()
            # Fresh planner statistics, as a database that has been running would have.
            await session.execute(text("ANALYZE"))
            await session.commit()
            return Seeded(round_.id, themes[3].id, districts[4].id)
    finally:
        await engine.dispose()


def requests(s: Seeded) -> list[tuple[str, str]]:
    r = s.round_id
    return [
        (
            "page: theme + district filter",
            f"/rondes/{r}/voorstellen?thema={s.theme_id}&wijk={s.district_id}&status=&q=&sorteer=nieuw",
        ),
        (
            "page: status filter, most supported",
            f"/rondes/{r}/voorstellen?status=accepted&sorteer=steun",
        ),
        # Both words are in the seeded vocabulary, so most proposals match: the search's worst case.
        (
            "page: search, two common words",
            f"/rondes/{r}/voorstellen?q=moestuin+ouderen&sorteer=kosten",
        ),
        ("page: no filter, page 40", f"/rondes/{r}/voorstellen?pagina=40"),
        (
            "API: theme + district + status",
            f"/api/v1/rounds/{r}/proposals?theme={s.theme_id}&district={s.district_id}&status=submitted",
        ),
        (
            "API: search, sorted by supports",
            f"/api/v1/rounds/{r}/proposals?q=buurthuis&sort=supports",
        ),
    ]


def measure(url: str, seeded: Seeded, var_dir: Path) -> list[tuple[str, float, float, int]]:
    settings = Settings(
        env="test",
        database_url=url,
        var_dir=var_dir,
        secret_key="benchmark-secret-0123456789abcdefghijkl",
    )
    out = []
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        for label, path in requests(seeded):
            for _ in range(WARMUP):
                assert client.get(path).status_code == 200
            times = []
            for _ in range(RUNS):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            out.append((label, statistics.median(times), p95, len(response.content)))
    return out


async def drop_indexes(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for name in GALLERY_INDEXES:
                await conn.execute(text(f"DROP INDEX {name}"))
    finally:
        await engine.dispose()


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    # The load average matters: the development machine is shared, and p95 follows it.
    return (
        f"{nproc} cores, {cpu}, Python {platform.python_version()}, {platform.system()}, "
        f"load average at the end {load}"
    )


def run_backend(name: str, url: str, tmp: Path) -> list[str]:
    upgrade_database(url)
    seeded = asyncio.run(seed(url))
    lines = [
        f"| {name} | request | median ms | p95 ms | response bytes |",
        "|---|---|---:|---:|---:|",
    ]
    for label, median, p95, size in measure(url, seeded, tmp / f"var-{name}"):
        lines.append(f"| {name} | {label} | {median:.1f} | {p95:.1f} | {size:,} |")
    asyncio.run(drop_indexes(url))
    for label, median, p95, size in measure(url, seeded, tmp / f"var-{name}"):
        lines.append(
            f"| {name}, without gallery indexes | {label} | {median:.1f} | {p95:.1f} | {size:,} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-doc", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    tables: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        tables.append(run_backend("SQLite", f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}", tmp))
        admin = os.environ.get("BB_TEST_POSTGRES_URL", "").strip()
        if admin:
            import asyncpg

            name = f"bb_bench_{uuid.uuid4().hex[:8]}"
            dsn = admin.replace("postgresql+asyncpg://", "postgresql://", 1)

            async def ddl(sql: str) -> None:
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute(sql)
                finally:
                    await conn.close()

            asyncio.run(ddl(f'CREATE DATABASE "{name}"'))
            try:
                tables.append(run_backend("PostgreSQL", f"{admin.rpartition('/')[0]}/{name}", tmp))
            finally:
                asyncio.run(ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = [
        f"{PROPOSALS:,} proposals, {SUPPORTS:,} supports, {RESIDENTS} residents; "
        f"{RUNS} timed requests each after {WARMUP} warm-up; run {when} on {machine()}.",
        "",
    ]
    for table in tables:
        report.extend([*table, ""])
    print("\n".join(report))
    if args.write_doc:
        write_doc(report)
    return 0


def write_doc(report: list[str]) -> None:
    intro = [
        SECTION,
        "",
        "`benchmarks/proposals.py` seeds one round with 2,000 proposals (mixed statuses, realistic "
        "text), 400 residents and 20,000 supports into a fresh migrated SQLite database (and "
        "PostgreSQL when `BB_TEST_POSTGRES_URL` is set), then times each gallery page and API "
        "call in process with Litestar's `TestClient` (median and p95 of 60 requests after 5 "
        "warm-up calls). It then drops the gallery indexes (`ix_proposals_round_*`) and times "
        "the same requests again. Target: a filtered page under 50 ms server time.",
        "",
        "How the gallery stays fast: one query fetches the ids of one page (with the total as a "
        "window count, and for the most-supported sort one grouped count of supports), a second "
        "loads those 20 rows with their theme, district and support count. An earlier version "
        "put a correlated support count in the row query; PostgreSQL then counted supports for "
        "every matching proposal before sorting, which made broad searches several times slower. "
        "The composite indexes on `(round_id, status|theme_id|district_id|created_at)` keep "
        "filtered lookups index range scans; at 2,000 proposals the whole table is small and "
        "cached, so the rows without them below differ little: they matter as rounds grow. "
        "Search is a case-insensitive substring match (`ILIKE`/`LIKE`) over title, summary and "
        "description, every word required; it reads every visible proposal of the round, so it "
        "is the slowest request. A PostgreSQL `tsvector`/trigram index is the next step if "
        "rounds grow well beyond this size.",
        "",
        "Reproduce: `.venv/bin/python benchmarks/proposals.py --write-doc` (with "
        "`BB_TEST_POSTGRES_URL=postgresql+asyncpg://…` for the PostgreSQL rows).",
        "",
        *report,
    ]
    content = DOC.read_text() if DOC.exists() else "# Performance\n"
    start = content.find(SECTION)
    if start == -1:
        content = content.rstrip("\n") + "\n\n" + "\n".join(intro).rstrip("\n") + "\n"
    else:
        end = content.find("\n## ", start + len(SECTION))
        rest = content[end + 1 :] if end != -1 else ""
        content = (
            content[:start] + "\n".join(intro).rstrip("\n") + "\n" + ("\n" + rest if rest else "")
        )
    DOC.write_text(content)


if __name__ == "__main__":
    raise SystemExit(main())
