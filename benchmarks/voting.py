"""Casting speed: confirmed ballots per second and latency, beside a bare-insert ceiling.

For each database (a fresh SQLite file; PostgreSQL too when ``BB_TEST_POSTGRES_URL`` is set, as
``scripts/with-postgres`` does) this starts the real server (``uvicorn`` with ``--workers 2``, the
app from ``create_app``) on a loopback port, opens a round for voting with 30 projects, and makes
voters (voter rows and signed voter sessions, straight in the database: redeeming thousands of
codes is not what is measured). Then, at 50 and at 200 concurrent clients, it sends
``--requests`` ``PUT /api/v1/rounds/{id}/ballot`` calls (each voter casts once) and, side by side
on the same server and stack, the same number of ``POST /bench/insert`` calls: an endpoint that
only inserts one row in its own transaction (the ceiling for any write on this stack). Each of
these four runs starts with an unmeasured warm-up of 2 requests per client on the same keep-alive
connections (TCP connects, the server's connection pool, a worker's first read of the round),
then times ``--requests`` requests. It reports throughput (acknowledged requests per second of
wall time), p50/p95/p99 latency, the server's CPU time per request during the timed requests
(all its processes, from Linux ``/proc``; "n/a" elsewhere), and then checks that every
acknowledged receipt, warm-up included, is stored and the log replays (zero lost).

The client runs on the same machine (one asyncio process with aiohttp) and competes with the
server for the 2 cores: the figures are a floor for what a separate client would measure.

    .venv/bin/python benchmarks/voting.py
    scripts/with-postgres .venv/bin/python benchmarks/voting.py --write-doc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.cli import upgrade_database
from burgerbegroting.db import create_engine
from burgerbegroting.settings import Settings
from burgerbegroting.voting import service as voting_service
from burgerbegroting.voting import tokens as voter_tokens
from burgerbegroting.voting.models import Voter, VotingCode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import postgres_admin_url, postgres_database  # noqa: E402
from tests.voting.factories import open_round  # noqa: E402
from tests.voting.replay import replay  # noqa: E402
from tests.voting.server import free_port  # noqa: E402

SECRET = "benchmark-secret-0123456789abcdefghijklmnopqrstuvwxyz-0123"
APP_MODULE = "benchmarks.voting_app:create"


@dataclass
class Figures:
    backend: str
    endpoint: str
    clients: int
    requests: int
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_seconds: float | None  # the server's processes, during the timed requests

    @property
    def cpu_ms_per_request(self) -> str:
        if self.server_cpu_seconds is None or not self.ok:
            return "n/a"
        return f"{self.server_cpu_seconds * 1000 / self.ok:.2f}"

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q * len(data)))]


async def _make_voters(settings: Settings, round_id: int, n: int) -> tuple[list[int], str]:
    """``n`` voters as redeeming a code makes them: a batch of real codes issued by the service
    (so every cast also checks its code was not revoked), one voter row per code; and the
    round's fingerprint, which redeeming a code puts in the voter session."""
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            batch = await voting_service.issue_codes(
                session, settings, round_id, district_id=None, count=n, actor_id=None
            )
            code_ids = (
                await session.execute(
                    select(VotingCode.id).where(VotingCode.batch_id == batch.batch_id)
                )
            ).scalars()
            rows = [
                {
                    "round_id": round_id,
                    "voter_key": secrets.token_hex(32),
                    "method": "code",
                    "code_id": code_id,
                    "verified": True,
                }
                for code_id in code_ids
            ]
            await session.execute(insert(Voter), rows)
            await session.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS bench_inserts (id INTEGER PRIMARY KEY, value TEXT)"
                )
                if "sqlite" in settings.database_url
                else text(
                    "CREATE TABLE IF NOT EXISTS bench_inserts (id SERIAL PRIMARY KEY, value TEXT)"
                )
            )
            await session.commit()
            ids = (
                await session.execute(
                    text("SELECT id FROM voters WHERE round_id = :r ORDER BY id"), {"r": round_id}
                )
            ).scalars()
            fingerprint = (
                await session.execute(
                    text("SELECT fingerprint FROM rounds WHERE id = :r"), {"r": round_id}
                )
            ).scalar_one()
            return list(ids), fingerprint
    finally:
        await engine.dispose()


def _start(settings: Settings, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BB_ENV": "test",
        "BB_DATABASE_URL": settings.database_url,
        "BB_SECRET_KEY": SECRET,
        "BB_BASE_URL": base,
        "BB_VAR_DIR": str(settings.var_dir),
        "BB_ALLOWED_HOSTS": f"127.0.0.1,127.0.0.1:{port}",
        "BB_LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            APP_MODULE,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


Call = tuple[str, str, dict[str, object], dict[str, str]]
CLIENTS = (50, 200)
WARMUP_PER_CLIENT = 2


def _server_cpu_seconds(pid: int) -> float | None:
    """User + system CPU so far of the server process ``pid`` and its workers (Linux ``/proc``),
    or None where that cannot be read."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ticks = 0
        for process in [str(pid), *children]:
            # Fields after the command name: state is the first, utime the 12th, stime the 13th.
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def _load(
    base: str, clients: int, warmup: list[Call], calls: list[Call], server_pid: int
) -> tuple[int, int, float, list[float], list[str], float | None]:
    """Send ``warmup`` and then ``calls`` from ``clients`` concurrent clients on the same
    keep-alive connections; only ``calls`` are timed (the warm-up pays for the TCP connections,
    the server's connection pool and a worker's first read of the round). Receipts of both."""
    queue: asyncio.Queue[Call] = asyncio.Queue()
    latencies: list[float] = []
    receipts: list[str] = []
    errors = 0
    timing = False
    # aiohttp rather than httpx: the client shares the 2 cores with the server, so the lighter
    # client leaves more of them to what is measured.
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    method, path, body, headers = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    async with client.request(method, path, json=body, headers=headers) as response:
                        payload = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    continue
                if status in {200, 201}:
                    if timing:
                        latencies.append((time.perf_counter() - started) * 1000)
                    receipt = json.loads(payload).get("receipt") if method == "PUT" else None
                    if receipt:
                        receipts.append(receipt)
                elif timing:
                    errors += 1
                else:
                    raise RuntimeError(f"warm-up request failed with {status}: {payload[:200]!r}")

        for call in warmup:
            queue.put_nowait(call)
        await asyncio.gather(*(worker() for _ in range(clients)))
        timing = True
        for call in calls:
            queue.put_nowait(call)
        cpu_before = _server_cpu_seconds(server_pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        cpu_after = _server_cpu_seconds(server_pid)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return len(latencies), errors, elapsed, latencies, receipts, cpu


def run_backend(backend: str, database_url: str, requests: int, workers: int) -> list[Figures]:
    var = Path(tempfile.mkdtemp(prefix="bb-bench-"))
    settings = Settings(env="test", database_url=database_url, secret_key=SECRET, var_dir=var)
    upgrade_database(database_url)
    vr = open_round(settings, costs=tuple(300_000 + 10_000 * i for i in range(30)))
    # Each scenario: WARMUP_PER_CLIENT unmeasured casts per client, then `requests` measured ones,
    # every one by a voter of its own.
    per_scenario = {c: WARMUP_PER_CLIENT * c + requests for c in CLIENTS}
    voters, fingerprint = asyncio.run(
        _make_voters(settings, vr.round_id, sum(per_scenario.values()))
    )
    process, base = _start(settings, workers)
    server_settings = replace(settings, base_url=base)
    figures: list[Figures] = []

    def cast(v: int) -> Call:
        token = voter_tokens.issue(
            server_settings,
            voter_id=v,
            round_id=vr.round_id,
            district_id=None,
            fingerprint=fingerprint,
        )
        return (
            "PUT",
            f"/api/v1/rounds/{vr.round_id}/ballot",
            {"projects": sorted({vr.projects[(v * 7) % 30], vr.projects[(v * 13) % 30]})},
            {"Authorization": f"Bearer {token.encoded}"},
        )

    def insert(n: int) -> Call:
        return ("POST", "/api/v1/bench/insert", {"value": str(n)}, {})

    try:
        first = 0
        for clients in CLIENTS:
            mine = voters[first : first + per_scenario[clients]]
            first += per_scenario[clients]
            warm = WARMUP_PER_CLIENT * clients
            scenarios = (
                (
                    "bare insert",
                    [insert(n) for n in range(warm)],
                    [insert(n) for n in range(requests)],
                ),
                ("cast ballot", [cast(v) for v in mine[:warm]], [cast(v) for v in mine[warm:]]),
            )
            for endpoint, warmup, calls in scenarios:
                ok, errors, seconds, latencies, receipts, cpu = asyncio.run(
                    _load(base, clients, warmup, calls, process.pid)
                )
                figures.append(
                    Figures(
                        backend, endpoint, clients, len(calls), ok, errors, seconds, latencies, cpu
                    )
                )
                if endpoint == "cast ballot":
                    result = replay(settings, vr.round_id)
                    lost = set(receipts) - set(result.current_in_db)
                    assert not lost, f"{len(lost)} acknowledged ballots lost"
    finally:
        process.terminate()
        process.wait(timeout=30)
    return figures


def table(figures: list[Figures]) -> str:
    lines = [
        "| database | endpoint | clients | requests | ok/s | p50 ms | p95 ms | p99 ms | errors "
        "| server CPU ms/request |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.backend} | {f.endpoint} | {f.clients} | {f.requests} | {f.per_second:.0f} | "
            f"{f.pct(0.5):.1f} | {f.pct(0.95):.1f} | {f.pct(0.99):.1f} | {f.errors} "
            f"| {f.cpu_ms_per_request} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp:
        figures += run_backend(
            "SQLite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", args.requests, args.workers
        )
    admin = postgres_admin_url()
    if admin:
        with postgres_database(admin, "bb_bench") as url:
            figures += run_backend("PostgreSQL", url, args.requests, args.workers)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average before the run {os.getloadavg()[0]:.1f}"
    )
    report = f"Machine: {machine}; `serve --workers {args.workers}`; zero acknowledged ballots lost.\n\n{table(figures)}\n"
    print(report)
    for f in figures:
        if f.endpoint == "cast ballot":
            ceiling = next(
                g
                for g in figures
                if g.backend == f.backend and g.clients == f.clients and g.endpoint == "bare insert"
            )
            share = f.per_second / ceiling.per_second if ceiling.per_second else float("nan")
            print(
                f"{f.backend} {f.clients} clients: casts at {share:.2f} of the bare-insert ceiling"
            )
    if args.write_doc:
        doc = ROOT / "docs" / "performance.md"
        content = doc.read_text()
        start, end = "<!-- voting:start -->", "<!-- voting:end -->"
        block = f"{start}\n{report}{end}"
        if start in content:
            before, rest = content.split(start, 1)
            after = rest.split(end, 1)[1]
            content = before + block + after
        else:
            content += f"\n## Casting ballots (`benchmarks/voting.py`)\n\n{block}\n"
        doc.write_text(content)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
