"""The demo loader: a round in voting with realistic projects, one account per role, idempotent."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from burgerbegroting import cli
from burgerbegroting.db import create_engine
from burgerbegroting.demo import ACCOUNTS, ROUND_TITLE, load_demo
from burgerbegroting.settings import Settings
from tests.conftest import make_settings
from tests.rounds.factories import db_counts

TABLES = (
    "users",
    "user_roles",
    "rounds",
    "districts",
    "themes",
    "proposals",
    "proposal_supports",
    "audit_log",
)


def _rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                return [tuple(row) for row in (await conn.execute(text(sql))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_demo_loads_a_voting_round_and_is_idempotent(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_demo(settings) == 0
    first = db_counts(settings, *TABLES)
    output = capsys.readouterr().out
    for account in ACCOUNTS:
        assert account.email in output
        assert account.password in output

    ((title, phase, fingerprint),) = _rows(settings, "SELECT title, phase, fingerprint FROM rounds")
    assert (title, phase) == (ROUND_TITLE, "voting")
    assert isinstance(fingerprint, str)
    assert len(fingerprint) == 64
    assert 12 <= first["proposals"] <= 20
    assert 4 <= first["districts"] <= 6
    assert first["themes"] == 6
    roles = {row[0] for row in _rows(settings, "SELECT role FROM user_roles")}
    assert roles == {"resident", "moderator", "admin", "council", "auditor"}
    accepted = _rows(
        settings,
        "SELECT count(DISTINCT theme_id), count(DISTINCT district_id), count(*), "
        "min(municipal_cost_cents) FROM proposals WHERE status = 'accepted'",
    )[0]
    themes_used, districts_used, _n_accepted, cheapest = accepted
    assert isinstance(themes_used, int)
    assert themes_used >= 4
    assert isinstance(districts_used, int)
    assert districts_used >= 4
    assert isinstance(cheapest, int)
    assert cheapest > 0
    # Every proposal that reached review has the support the round's threshold asks for.
    ((threshold,),) = _rows(settings, "SELECT support_threshold FROM rounds")
    short = _rows(
        settings,
        "SELECT p.id FROM proposals p LEFT JOIN proposal_supports s ON s.proposal_id = p.id "
        "WHERE p.status IN ('accepted', 'rejected', 'in_review') "
        "GROUP BY p.id HAVING count(s.id) < " + str(threshold),
    )
    assert isinstance(threshold, int)
    assert threshold > 0
    assert short == []
    statuses = {row[0] for row in _rows(settings, "SELECT DISTINCT status FROM proposals")}
    assert {"accepted", "rejected"} <= statuses
    # Voting is open, so no proposal is still waiting for a decision (the round could not open).
    assert not statuses & {"submitted", "in_review"}
    # The schedule, the phase change and the freeze agree on when voting opened, and every
    # decision was taken before it.
    ((voting_starts, phase_changed, frozen, last_review),) = _rows(
        settings,
        "SELECT voting_starts_at, phase_changed_at, frozen_at,"
        " (SELECT max(reviewed_at) FROM proposals) FROM rounds",
    )
    assert str(voting_starts)[:19] == str(phase_changed)[:19] == str(frozen)[:19]
    assert str(last_review)[:19] < str(frozen)[:19]
    # The projects cost more together than the budget: voters have to choose.
    ((total_accepted,),) = _rows(
        settings, "SELECT sum(municipal_cost_cents) FROM proposals WHERE status = 'accepted'"
    )
    # (PostgreSQL's sum over BIGINT is NUMERIC, hence the int().)
    assert int(str(total_accepted)) > 45_000_000

    assert load_demo(settings) == 0
    assert db_counts(settings, *TABLES) == first
    assert _rows(settings, "SELECT fingerprint FROM rounds") == [(fingerprint,)]


def test_demo_is_refused_in_production(database_url: str, tmp_path: Path) -> None:
    production = make_settings(database_url, tmp_path / "var", env="production")
    assert load_demo(production) == 2
    assert db_counts(production, "users", "rounds") == {"users": 0, "rounds": 0}


def test_demo_prints_links_to_the_port_it_will_be_served_on(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`make demo PORT=8765` printed login and booth links to port 8000."""
    for name in ("BB_BASE_URL", "BB_SERVE_PORT", "BB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BB_ENV", "development")
    monkeypatch.setenv("BB_DATABASE_URL", database_url)
    monkeypatch.setenv("BB_VAR_DIR", str(tmp_path / "var"))
    assert cli.main(["demo", "--port", "8765"]) == 0
    output = capsys.readouterr().out
    assert "Inloggen op http://127.0.0.1:8765/inloggen" in output
    assert "http://127.0.0.1:8765/stemmen#code=" in output
    # How to close the demo and see its results (issue 9: "a command or admin button").
    assert re.search(r"sluit de ronde op http://127\.0\.0\.1:8765/beheer/rondes/\d+/fase", output)
    assert re.search(r"http://127\.0\.0\.1:8765/rondes/\d+/uitslag", output)
    assert ":8000" not in output
    # The Makefile passes its PORT on, as it does to `serve`.
    makefile = (Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    assert "burgerbegroting demo --port $(PORT)" in makefile
