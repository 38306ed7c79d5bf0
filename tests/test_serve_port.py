"""`burgerbegroting serve --port 8080` in development answers on that port, not 400 to everything."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from burgerbegroting import cli
from burgerbegroting.app import allowed_host_headers, create_app
from burgerbegroting.settings import Settings

REAL_SECRET = (
    "kQ7vN2pXr9LmT4wZ8cB1yH6dF3sJ0gA5uE_RtYiOpWq"  # random-looking: production refuses weak secrets
)


def test_serve_tells_its_workers_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(app: str, **kwargs: Any) -> None:
        seen.update(kwargs, env_port=os.environ.get("BB_SERVE_PORT"))

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.delenv("BB_SERVE_PORT", raising=False)
    args = argparse.Namespace(host="127.0.0.1", port=8080, workers=1)
    assert cli._cmd_serve(args, Settings(env="development")) == 0
    assert seen["port"] == 8080
    assert seen["env_port"] == "8080"
    # what a worker then reads
    worker = Settings.from_env({"BB_SERVE_PORT": "8080"})
    assert worker.base_url == "http://127.0.0.1:8080"
    assert "127.0.0.1:8080" in allowed_host_headers(worker)
    assert "localhost:8080" in allowed_host_headers(worker)


def test_an_explicit_base_url_stays_and_the_served_port_is_added() -> None:
    settings = Settings.from_env({"BB_SERVE_PORT": "8080", "BB_BASE_URL": "http://127.0.0.1:8000"})
    assert settings.base_url == "http://127.0.0.1:8000"
    hosts = allowed_host_headers(settings)
    assert {"127.0.0.1:8000", "127.0.0.1:8080"} <= set(hosts)


def test_production_accepts_only_its_configured_hosts() -> None:
    settings = Settings.from_env(
        {
            "BB_ENV": "production",
            "BB_SECRET_KEY": REAL_SECRET,
            "BB_DATABASE_URL": "postgresql+asyncpg://db/bb",
            "BB_BASE_URL": "https://stem.gemeente.nl",
            "BB_ALLOWED_HOSTS": "stem.gemeente.nl",
            "BB_SERVE_PORT": "8080",
        }
    )
    assert allowed_host_headers(settings) == ["stem.gemeente.nl"]


def test_a_development_app_on_another_port_answers(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'dev.sqlite3'}"
    cli.upgrade_database(database)
    served = Settings.from_env(
        {"BB_DATABASE_URL": database, "BB_VAR_DIR": str(tmp_path), "BB_SERVE_PORT": "8080"}
    )
    with TestClient(app=create_app(served), base_url="http://127.0.0.1:8080") as client:
        assert client.get("/health").status_code == 200
    unserved = Settings.from_env({"BB_DATABASE_URL": database, "BB_VAR_DIR": str(tmp_path)})
    with TestClient(app=create_app(unserved), base_url="http://127.0.0.1:8080") as client:
        assert client.get("/health").status_code == 400  # the old behaviour, for contrast
