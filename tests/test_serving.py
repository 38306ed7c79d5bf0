"""What ``burgerbegroting serve`` does to its process once the app is built
(``app.prepare_for_serving``); the effects are measured by ``benchmarks/results.py`` and
``benchmarks/voting.py`` (docs/performance.md)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.plugins.jinja import JinjaTemplateEngine

from burgerbegroting.app import SWITCH_INTERVAL_S, create_app, prepare_for_serving
from burgerbegroting.settings import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No database is opened: one backend is enough."""
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bb.sqlite3'}", tmp_path / "var")


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's own collector and switch interval back afterwards."""
    threshold = gc.get_threshold()
    interval = sys.getswitchinterval()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored")
def test_a_served_app_has_every_template_compiled_before_the_first_request(
    settings: Settings,
) -> None:
    """A template compiled on its first use is compiled on the event loop: the results page's
    first view held it about 0.2 s at 50,000 ballots. The server compiles them all at start."""
    app = create_app(settings)
    engine = app.template_engine
    assert isinstance(engine, JinjaTemplateEngine)
    environment = engine.engine
    names = environment.list_templates()
    assert "results/results.html" in names
    assert environment.cache is not None
    assert environment.cache.capacity >= len(names)
    prepare_for_serving(app)
    cached = {template.name for template in environment.cache.values()}
    assert cached >= set(names)
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored")
def test_a_served_app_hands_the_gil_back_to_the_event_loop_within_a_millisecond(
    settings: Settings,
) -> None:
    """A PDF or an export built in a thread holds the GIL for the interval at every step of
    another request: ``/health`` took 75-104 ms during a council report PDF at CPython's 5 ms
    and 28-47 ms at 1 ms."""
    prepare_for_serving(create_app(settings))
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    assert SWITCH_INTERVAL_S <= 0.001
