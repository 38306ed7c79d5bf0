"""Browser-test infrastructure: a live server, Chromium through Playwright, axe-core, 320 px checks.

Fixtures (use them from any ``tests/browser/test_*.py``; mark tests ``@pytest.mark.browser``):

- ``live_server`` (session): the app under uvicorn in a thread on 127.0.0.1 and a free port, on a
  fresh migrated SQLite database. ``live_server.url("/inloggen")``, ``live_server.mail_dir``
  (``var/mail`` of that server), ``live_server.settings``, ``live_server.database_url``.
- ``browser`` (module): headless Debian Chromium (``BB_CHROMIUM``, default ``/usr/bin/chromium``).
  Never downloaded. Missing → skip, or fail when ``BB_REQUIRE_BROWSER=1`` (CI).
- ``page``: a fresh context and page (1280×800, Dutch); fails the test if the page logged a
  Content-Security-Policy violation or a JavaScript error.
- ``new_page``: factory for more pages/contexts: ``new_page(width=320, locale="en-GB")``.
- ``assert_accessible(page, context=None)``: axe-core (wcag2a, wcag2aa, wcag21a, wcag21aa); fails
  with a readable list of violations.
- ``assert_no_horizontal_scroll(page)``: resizes to 320 px wide, re-checks layout, then restores.
- ``latest_mail(mail_dir, to=...)``: the newest ``.eml`` for an address, parsed; ``mail_text``.
- ``run_async(coroutine_function, *args)``: run a coroutine (e.g. seeding the live database)
  from a browser test, where Playwright occupies this thread's event loop.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from burgerbegroting.app import create_app
from burgerbegroting.settings import Settings
from tests.conftest import make_settings

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1280, "height": 800}


def chromium_path() -> str:
    return os.environ.get("BB_CHROMIUM", "/usr/bin/chromium")


def _require_browser() -> None:
    path = chromium_path()
    if Path(path).is_file() and os.access(path, os.X_OK):
        return
    message = f"Chromium not found at {path} (set BB_CHROMIUM; install Debian's chromium)"
    if os.environ.get("BB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BB_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


def run_async(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``function(*args, **kwargs)`` (a coroutine function) to completion in its own thread."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(function(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="run-async")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    database_url: str
    var_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveServer]:
    """The real app served over HTTP by uvicorn, on its own migrated SQLite copy."""
    _require_browser()
    import uvicorn

    root = tmp_path_factory.mktemp("live")
    db_path = root / "live.sqlite3"
    shutil.copyfile(sqlite_template, db_path)
    database_url = f"sqlite+aiosqlite:///{db_path}"
    var_dir = root / "var"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Litestar matches the Host header including its port.
    settings = make_settings(
        database_url, var_dir, base_url=base_url, allowed_hosts=(f"127.0.0.1:{port}",)
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(base_url, settings, database_url, var_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never downloads a browser).

    Playwright's sync API keeps an event loop marked as running in this thread while it is open,
    so ``asyncio.run`` fails until it closes. Hence: module scope (closed before other test modules
    run), the live server (and the migrated template) created first, and :func:`run_async` for
    tests that need to run a coroutine (seeding data) meanwhile.
    """
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


class PageProblems:
    """CSP violations and script errors seen by a page; a page of ours should have none."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            text = str(message.text)
            if message.type == "error" and (
                "Content Security Policy" in text or "Refused to" in text
            ):
                self.messages.append(text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.messages.append(f"page error: {error}"))


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Factory: ``new_page(width=1280, height=800, locale="nl-NL", javascript=True)``."""
    contexts: list[Any] = []
    problems = PageProblems()

    def make(
        *,
        width: int = DESKTOP["width"],
        height: int = DESKTOP["height"],
        locale: str = "nl-NL",
        javascript: bool = True,
    ) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            locale=locale,
            java_script_enabled=javascript,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        problems.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems.messages, "the browser reported:\n" + "\n".join(problems.messages)


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A fresh desktop-sized page in Dutch, in its own browser context (own cookies)."""
    return new_page()


def _format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation.get('impact')}): {violation['help']}")
        for node in violation.get("nodes", [])[:5]:
            lines.append(f"    {node.get('target')}: {node.get('failureSummary', '')[:300]}")
    return "\n".join(lines)


def _axe_script() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def run_axe(page: Any, context: Any = None) -> list[dict[str, Any]]:
    """axe-core's violations on the current page for WCAG 2.0/2.1 A and AA."""
    # Injected through the DevTools protocol, so the page's CSP (script-src 'self') stays in force.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_script())
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    result = page.evaluate(
        "([context, options]) => axe.run(context || document, options)", [context, options]
    )
    return list(result["violations"])


def assert_accessible(page: Any, context: Any = None) -> None:
    """Fail with a readable report when axe-core finds WCAG 2.1 A/AA violations."""
    violations = run_axe(page, context)
    assert not violations, f"axe-core violations on {page.url}:\n" + _format_violations(violations)


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    return int(
        page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def assert_no_horizontal_scroll(page: Any, width: int = 320) -> None:
    """At ``width`` CSS pixels (WCAG 1.4.10 reflow) nothing may scroll sideways."""
    original = page.viewport_size
    page.set_viewport_size({"width": width, "height": 640})
    try:
        overflow = horizontal_overflow(page)
        if overflow > 0:
            culprits = page.evaluate(
                """(limit) => Array.from(document.querySelectorAll('body *'))
                    .filter(el => el.getBoundingClientRect().right > limit + 1)
                    .slice(0, 5)
                    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                         + (el.className && typeof el.className === 'string'
                            ? '.' + el.className.trim().split(/\\s+/).join('.') : ''))""",
                width,
            )
            pytest.fail(f"{page.url} scrolls {overflow}px sideways at {width}px: {culprits}")
    finally:
        if original:
            page.set_viewport_size(original)


def latest_mail(mail_dir: Path, *, to: str, timeout: float = 5.0) -> EmailMessage:
    """The newest mail written to ``mail_dir`` for ``to`` (waits briefly: mail may be async)."""
    deadline = time.monotonic() + timeout
    while True:
        candidates = []
        if mail_dir.is_dir():
            for path in mail_dir.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if to.lower() in str(message.get("To", "")).lower():
                    candidates.append((path.stat().st_mtime_ns, path.name, message))
        if candidates:
            candidates.sort(key=lambda item: (item[0], item[1]))
            found = candidates[-1][2]
            assert isinstance(found, EmailMessage)
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no mail for {to} in {mail_dir}")
        time.sleep(0.1)


def mail_text(message: EmailMessage) -> str:
    """The plain-text body of a mail."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "mail has no text/plain part"
    return str(part.get_content())


# Fixture-style access for tests that prefer injection over imports.
@pytest.fixture(name="assert_accessible")
def assert_accessible_fixture() -> Callable[..., None]:
    return assert_accessible


@pytest.fixture(name="assert_no_horizontal_scroll")
def assert_no_horizontal_scroll_fixture() -> Callable[..., None]:
    return assert_no_horizontal_scroll
