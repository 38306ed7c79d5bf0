"""Reading the results of a large closed round: every results, report and export request.

Seeds a city-wide round with ``benchmarks/close.py``'s ``build`` (``--ballots`` current ballots,
default 100,000, over ``--projects`` projects, default 200, rule ``--rule``, default ``mes``: one
election, voters spread over four districts) into a SQLite file (``--database``; reused when it
exists, so the seeding is paid once), closes it, and serves it with ``burgerbegroting serve`` on
``--port``. Then, signed in as the round's admin, it requests each results, council report and
export address once (``cold``: the first request after the server started) and ``--repeat``
times more (``warm``), while a second thread asks ``/health`` every 20 ms: the slowest ``/health``
during a request shows whether the request held the event loop (a request whose work runs in a
thread leaves ``/health`` answering within milliseconds).

    PYTHONPATH=src .venv/bin/python benchmarks/results.py --database /tmp/results.sqlite3
    PYTHONPATH=src .venv/bin/python benchmarks/results.py --ballots 2000 --projects 40 \\
        --database /tmp/small.sqlite3

Times are wall times seen by the client on the same machine (server time plus a local round
trip). Keep the machine otherwise quiet; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.close import build, close  # noqa: E402

from burgerbegroting.cli import upgrade_database  # noqa: E402
from burgerbegroting.settings import Settings  # noqa: E402

PASSWORD = "een-lang-wachtwoord-1"  # close.build's admin
SECRET = "bench-" + "x" * 40


def _settings(url: str, var_dir: Path) -> Settings:
    return Settings(env="test", database_url=url, secret_key=SECRET, var_dir=var_dir)


def seed(path: Path, args: argparse.Namespace) -> int:
    """Build and close the round in ``path`` unless it is there already; its round id."""
    url = f"sqlite+aiosqlite:///{path}"
    marker = path.with_suffix(".round")
    if path.exists() and marker.exists():
        return int(marker.read_text())
    upgrade_database(url)
    settings = _settings(url, Path(tempfile.mkdtemp()))
    started = time.perf_counter()
    round_id, admin_id = asyncio.run(
        build(settings, args.ballots, args.projects, args.rule, args.seed, city_wide=True)
    )
    print(f"seeded round {round_id} in {time.perf_counter() - started:.1f} s", flush=True)
    timings = asyncio.run(close(settings, round_id, admin_id))
    print("closed:", {k: round(v, 2) for k, v in timings.items()}, flush=True)
    marker.write_text(str(round_id))
    return round_id


@contextmanager
def server(path: Path, port: int) -> Iterator[str]:
    env = {
        **os.environ,
        "BB_ENV": "development",
        "BB_DATABASE_URL": f"sqlite+aiosqlite:///{path}",
        "BB_SECRET_KEY": SECRET,
        "BB_VAR_DIR": tempfile.mkdtemp(),
        "BB_LOG_LEVEL": "WARNING",
        "BB_EXPORT_DOWNLOADS": "1000",
    }
    log = (path.parent / f"{path.stem}-server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "burgerbegroting.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


class HealthProbe:
    """Asks ``/health`` every 20 ms from its own thread and keeps each answer's latency."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                client.get(f"{self.base}/health")
                self.samples.append((started, time.perf_counter() - started))
                time.sleep(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def worst_between(self, start: float, end: float) -> float:
        return max(
            (s for t, s in self.samples if t <= end and t + s >= start),
            default=float("nan"),
        )


def measure(base: str, round_id: int, repeat: int) -> list[tuple[str, float, float, float, int]]:
    with httpx.Client(base_url=base, timeout=600) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": "bench@example.nl", "password": PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        paths = [
            f"/api/v1/rounds/{round_id}/results",
            f"/rondes/{round_id}/uitslag",
            f"/rondes/{round_id}/raadsinformatiebrief",
            f"/rondes/{round_id}/raadsinformatiebrief.pdf",
            f"/api/v1/rounds/{round_id}/results/document",
            f"/api/v1/rounds/{round_id}/export?format=json",
            f"/api/v1/rounds/{round_id}/export?format=pb&district=city",
            f"/api/v1/rounds/{round_id}/export?format=csv",
            "/uitslag",
        ]
        rows = []
        with HealthProbe(base) as probe:
            time.sleep(0.2)
            for path in paths:
                times, worst, size = [], [], 0
                for _ in range(1 + repeat):
                    started = time.perf_counter()
                    response = client.get(path, headers=headers)
                    ended = time.perf_counter()
                    response.raise_for_status()
                    size = len(response.content)
                    times.append(ended - started)
                    time.sleep(0.1)  # let the probe answer after the request, too
                    worst.append(probe.worst_between(started, ended))
                warm = statistics.median(times[1:]) if repeat else float("nan")
                rows.append((path, times[0], warm, max(worst), size))
                print(
                    f"{path}: cold {times[0] * 1000:.0f} ms, warm {warm * 1000:.0f} ms, "
                    f"worst /health {max(worst) * 1000:.0f} ms, {size / 1000:.0f} KB",
                    flush=True,
                )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ballots", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--rule", default="mes")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8891)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    round_id = seed(args.database, args)
    with server(args.database, args.port) as base:
        rows = measure(base, round_id, args.repeat)
    print()
    print(
        f"{args.ballots:,} ballots, {args.projects} projects, city-wide, rule `{args.rule}`. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}."
    )
    print()
    print("| request | first (ms) | then, median (ms) | slowest /health meanwhile (ms) | KB |")
    print("|---|---:|---:|---:|---:|")
    for path, cold, warm, worst, size in rows:
        print(
            f"| `{path}` | {cold * 1000:.0f} | {warm * 1000:.0f} | {worst * 1000:.0f} | "
            f"{size / 1000:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
