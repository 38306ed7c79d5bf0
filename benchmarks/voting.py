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

The clients run on the same machine (one asyncio process) and compete with the server for the
2 cores: the figures are a floor for what a separate client would measure. ``--client`` picks the
load generator: ``raw`` (default), a minimal HTTP/1.1 keep-alive client on asyncio streams that
takes about a third of aiohttp's CPU per request (as ``wrk`` or ``oha`` would, neither of which
installs from PyPI), or ``aiohttp``; ``--client raw aiohttp`` runs both side by side. The table
gives the load generator's own CPU per request too.

    .venv/bin/python benchmarks/voting.py
    scripts/with-postgres .venv/bin/python benchmarks/voting.py --requests 5000 --client raw aiohttp --write-doc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.cli import upgrade_database
from burgerbegroting.db import create_engine
from burgerbegroting.settings import Settings
from burgerbegroting.voting import roll
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
    client: str  # the load generator: raw or aiohttp
    endpoint: str
    clients: int
    requests: int
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_seconds: float | None  # the server's processes, during the timed requests
    client_cpu_seconds: float  # the load generator's process, during the timed requests

    @property
    def cpu_ms_per_request(self) -> str:
        if self.server_cpu_seconds is None or not self.ok:
            return "n/a"
        return f"{self.server_cpu_seconds * 1000 / self.ok:.2f}"

    @property
    def client_cpu_ms_per_request(self) -> str:
        return f"{self.client_cpu_seconds * 1000 / self.ok:.2f}" if self.ok else "n/a"

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
            batch = await roll.issue_codes(
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


def _client_cpu_seconds() -> float:
    """User + system CPU so far of this process: the load generator."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Load:
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    receipts: list[str]
    server_cpu_seconds: float | None
    client_cpu_seconds: float


class _Timed:
    """What the clients of one run share: the timed flag, the results, the calls left."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Call] = asyncio.Queue()
        self.latencies: list[float] = []
        self.receipts: list[str] = []
        self.errors = 0
        self.timing = False

    def answered(self, method: str, status: int, payload: bytes, started: float) -> None:
        if status in {200, 201}:
            if self.timing:
                self.latencies.append((time.perf_counter() - started) * 1000)
            receipt = json.loads(payload).get("receipt") if method == "PUT" else None
            if receipt:
                self.receipts.append(receipt)
        elif self.timing:
            self.errors += 1
        else:
            raise RuntimeError(f"warm-up request failed with {status}: {payload[:200]!r}")


async def _run_timed(  # noqa: PLR0917 - the load functions' arguments, passed through
    shared: _Timed,
    clients: int,
    warmup: list[Call],
    calls: list[Call],
    server_pid: int,
    worker: Callable[[int], Awaitable[None]],
) -> _Load:
    """The warm-up, then the timed ``calls``, each sent by ``clients`` concurrent ``worker(i)``."""
    for call in warmup:
        shared.queue.put_nowait(call)
    await asyncio.gather(*(worker(i) for i in range(clients)))
    shared.timing = True
    shared.errors = 0  # a warm-up call that failed to connect is not a measured error
    for call in calls:
        shared.queue.put_nowait(call)
    cpu_before, client_before = _server_cpu_seconds(server_pid), _client_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    cpu_after, client_after = _server_cpu_seconds(server_pid), _client_cpu_seconds()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return _Load(
        len(shared.latencies),
        shared.errors,
        elapsed,
        shared.latencies,
        shared.receipts,
        cpu,
        client_after - client_before,
    )


async def _load_aiohttp(
    base: str, clients: int, warmup: list[Call], calls: list[Call], server_pid: int
) -> _Load:
    """Send ``warmup`` and then ``calls`` from ``clients`` concurrent aiohttp clients on the same
    keep-alive connections; only ``calls`` are timed (the warm-up pays for the TCP connections,
    the server's connection pool and a worker's first read of the round). Receipts of both."""
    shared = _Timed()
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def worker(_client: int) -> None:
            while True:
                try:
                    method, path, body, headers = shared.queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    async with client.request(method, path, json=body, headers=headers) as response:
                        payload = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    shared.errors += 1
                    continue
                shared.answered(method, status, payload, started)

        return await _run_timed(shared, clients, warmup, calls, server_pid, worker)


def _request_bytes(host: str, call: Call) -> bytes:
    method, path, body, headers = call
    data = json.dumps(body).encode()
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + data


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection, of one HTTP/1.1 response with a
    Content-Length (what the server sends for every JSON answer; anything else is an error)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length: int | None = None
    keep = True
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
        elif name == "transfer-encoding":
            raise ValueError("chunked answers are not expected here")
    if length is None:
        raise ValueError("an answer without Content-Length")
    return status, await reader.readexactly(length), keep


async def _load_raw(
    base: str, clients: int, warmup: list[Call], calls: list[Call], server_pid: int
) -> _Load:
    """As :func:`_load_aiohttp`, with a minimal HTTP/1.1 keep-alive client on asyncio streams: the
    request bytes are built before the run and an answer is read by its Content-Length, so the load
    generator takes as little as it can of the two cores it shares with the server (as ``wrk`` or
    ``oha`` would; neither installs from PyPI)."""
    shared = _Timed()
    host, port = base.removeprefix("http://").split(":")
    prepared = {id(call): _request_bytes(f"{host}:{port}", call) for call in [*warmup, *calls]}

    # Client i keeps its own connection through the warm-up and the timed calls.
    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = [None] * clients

    async def worker(client: int) -> None:
        while True:
            try:
                call = shared.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            connection = connections[client]
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, int(port))
                    connections[client] = connection
                reader, writer = connection
                writer.write(prepared[id(call)])
                status, payload, keep = await asyncio.wait_for(_read_response(reader), 60)
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
                shared.errors += 1
                if connection is not None:
                    connection[1].close()
                connections[client] = None
                continue
            if not keep:
                writer.close()
                connections[client] = None
            shared.answered(call[0], status, payload, started)

    try:
        return await _run_timed(shared, clients, warmup, calls, server_pid, worker)
    finally:
        for connection in connections:
            if connection is not None:
                connection[1].close()


LOADERS = {"raw": _load_raw, "aiohttp": _load_aiohttp}


def run_backend(
    backend: str, database_url: str, requests: int, workers: int, loaders: Sequence[str]
) -> list[Figures]:
    var = Path(tempfile.mkdtemp(prefix="bb-bench-"))
    settings = Settings(env="test", database_url=database_url, secret_key=SECRET, var_dir=var)
    upgrade_database(database_url)
    vr = open_round(settings, costs=tuple(300_000 + 10_000 * i for i in range(30)))
    # Each scenario: WARMUP_PER_CLIENT unmeasured casts per client, then `requests` measured ones,
    # every one by a voter of its own.
    per_scenario = {c: (WARMUP_PER_CLIENT * c + requests) * len(loaders) for c in CLIENTS}
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
            for loader in loaders:
                mine = voters[first : first + per_scenario[clients] // len(loaders)]
                first += len(mine)
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
                    load = asyncio.run(LOADERS[loader](base, clients, warmup, calls, process.pid))
                    figures.append(
                        Figures(
                            backend,
                            loader,
                            endpoint,
                            clients,
                            len(calls),
                            load.ok,
                            load.errors,
                            load.seconds,
                            load.latencies_ms,
                            load.server_cpu_seconds,
                            load.client_cpu_seconds,
                        )
                    )
                    if endpoint == "cast ballot":
                        result = replay(settings, vr.round_id)
                        lost = set(load.receipts) - set(result.current_in_db)
                        assert not lost, f"{len(lost)} acknowledged ballots lost"
    finally:
        process.terminate()
        process.wait(timeout=30)
    return figures


def table(figures: list[Figures]) -> str:
    lines = [
        "| database | client | endpoint | clients | requests | ok/s | p50 ms | p95 ms | p99 ms "
        "| errors | server CPU ms/request | client CPU ms/request |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.backend} | {f.client} | {f.endpoint} | {f.clients} | {f.requests} | "
            f"{f.per_second:.0f} | {f.pct(0.5):.1f} | {f.pct(0.95):.1f} | {f.pct(0.99):.1f} | "
            f"{f.errors} | {f.cpu_ms_per_request} | {f.client_cpu_ms_per_request} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--client",
        nargs="+",
        choices=sorted(LOADERS),
        default=["raw"],
        help="load generator(s), side by side in one run (default: raw)",
    )
    parser.add_argument(
        "--database",
        nargs="+",
        choices=["sqlite", "postgresql"],
        default=["sqlite", "postgresql"],
        help="which databases (PostgreSQL needs BB_TEST_POSTGRES_URL, as scripts/with-postgres sets)",
    )
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in args.database:
            figures += run_backend(
                "SQLite",
                f"sqlite+aiosqlite:///{tmp}/bench.sqlite3",
                args.requests,
                args.workers,
                args.client,
            )
    admin = postgres_admin_url()
    if admin and "postgresql" in args.database:
        with postgres_database(admin, "bb_bench") as url:
            figures += run_backend("PostgreSQL", url, args.requests, args.workers, args.client)
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
                if g.backend == f.backend
                and g.client == f.client
                and g.clients == f.clients
                and g.endpoint == "bare insert"
            )
            share = f.per_second / ceiling.per_second if ceiling.per_second else float("nan")
            print(
                f"{f.backend}, {f.client} client, {f.clients} clients: casts at {share:.2f} "
                "of the bare-insert ceiling"
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
