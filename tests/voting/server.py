"""Run the real server (``burgerbegroting serve``) in a subprocess for crash and load tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace

import httpx

from burgerbegroting.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    settings: Settings

    def kill(self) -> None:
        """``kill -9`` of the whole process group (uvicorn's manager and its workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(settings: Settings, *, workers: int = 1, timeout: float = 60.0) -> Server:
    """Start ``burgerbegroting serve`` on a free loopback port against ``settings``' database.

    The returned ``settings`` carry the server's base URL (the tokens' issuer)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BB_ENV": "test",
        "BB_DATABASE_URL": settings.database_url,
        "BB_SECRET_KEY": settings.secret_key,
        "BB_BASE_URL": base_url,
        "BB_VAR_DIR": str(settings.var_dir),
        "BB_ALLOWED_HOSTS": f"127.0.0.1,127.0.0.1:{port}",
        "BB_LOG_LEVEL": "WARNING",
        "BB_CODE_ATTEMPTS": "100000",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "burgerbegroting.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return Server(process, base_url, replace(settings, base_url=base_url))
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("server did not start")
