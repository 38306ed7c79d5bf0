"""Every page, as every role: axe-core clean (WCAG 2.1 A/AA) and no sideways scrolling at 320 px.

The crawler starts at the home page and follows the site's own links (one page per URL shape:
``/voorstellen/3`` and ``/voorstellen/4`` are the same template), so pages that features add later
are checked without touching this file. Demo data (``burgerbegroting.demo.load_demo``) is loaded
when the demo loader exists, so rounds and proposals have pages to show. Problems on all pages
are collected and reported together.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections import deque
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import create_user
from burgerbegroting.db import create_engine
from tests.browser.conftest import (
    LiveServer,
    horizontal_overflow,
    run_async,
    run_axe,
)

pytestmark = pytest.mark.browser

PASSWORD = "een heel lang wachtwoord voor de test"
MAX_PAGES_PER_ROLE = 60
SKIP_PREFIXES = ("/static", "/api/", "/schema", "/health", "/static-theme.css")
SKIP_SUFFIXES = (".csv", ".json", ".pb", ".txt", ".zip", ".pdf")
ROLES: tuple[str | None, ...] = (None, *(role.value for role in Role))


async def _seed(live_server: LiveServer) -> None:
    engine = create_engine(live_server.database_url)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            for role in Role:
                await create_user(
                    session,
                    email=f"crawler-{role.value}@example.org",
                    password=PASSWORD,
                    display_name=f"Crawler {role.value}",
                    roles=[role],
                    confirmed=True,
                )
            await session.commit()
    finally:
        await engine.dispose()


def _load_demo(live_server: LiveServer) -> None:
    try:
        demo = importlib.import_module("burgerbegroting.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "burgerbegroting.demo":
            raise
        return

    async def load() -> None:
        # In a thread of its own (run_async): Playwright holds this thread's event loop, and a
        # synchronous loader may well call asyncio.run itself.
        result = demo.load_demo(live_server.settings)
        if inspect.isawaitable(result):
            await result

    if inspect.iscoroutinefunction(demo.load_demo):
        run_async(load)
    else:
        run_async(_in_thread, demo.load_demo, live_server.settings)


async def _in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> LiveServer:
    if not live_server.extra.get("crawler_seeded"):
        run_async(_seed, live_server)
        _load_demo(live_server)
        live_server.extra["crawler_seeded"] = True
    return live_server


def _shape(path: str) -> str:
    """``/voorstellen/12/bewerken`` → ``/voorstellen/#/bewerken``: one visit per template."""
    return re.sub(r"/\d+(?=/|$)", "/#", path)


def _log_in(page: Any, live_server: LiveServer, role: str) -> None:
    page.goto(live_server.url("/inloggen"))
    page.fill("#email", f"crawler-{role}@example.org")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")
    assert "crawler" in page.locator("header").inner_text().lower(), f"login as {role} failed"


def _crawl(page: Any, live_server: LiveServer) -> tuple[list[str], list[str]]:
    origin = urlsplit(live_server.base_url).netloc
    queue: deque[str] = deque(["/"])
    seen_shapes: set[str] = set()
    visited: list[str] = []
    problems: list[str] = []
    while queue and len(visited) < MAX_PAGES_PER_ROLE:
        path = queue.popleft()
        shape = _shape(urlsplit(path).path)
        if shape in seen_shapes:
            continue
        seen_shapes.add(shape)
        response = page.goto(live_server.url(path))
        visited.append(path)
        status = response.status if response else 0
        if status >= 500:
            problems.append(f"{path}: HTTP {status}")
            continue
        if "text/html" not in (response.headers.get("content-type", "") if response else ""):
            continue
        for violation in run_axe(page):
            targets = [node.get("target") for node in violation.get("nodes", [])[:3]]
            problems.append(f"{path}: axe {violation['id']} ({violation['help']}) at {targets}")
        page.set_viewport_size({"width": 320, "height": 640})
        overflow = horizontal_overflow(page)
        page.set_viewport_size({"width": 1280, "height": 800})
        if overflow > 0:
            problems.append(f"{path}: scrolls {overflow}px sideways at 320px")
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            url, _fragment = urldefrag(href)
            parts = urlsplit(url)
            if parts.netloc != origin or parts.scheme not in {"http", "https"}:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.path.startswith(SKIP_PREFIXES) or parts.path.endswith(SKIP_SUFFIXES):
                continue
            if parts.path in {"/uitloggen"}:
                continue  # leaving the session would end the crawl for this role
            queue.append(target)
    return visited, problems


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_every_reachable_page_is_accessible_and_reflows(
    new_page: Any, seeded: LiveServer, role: str | None
) -> None:
    page = new_page()
    if role is not None:
        _log_in(page, seeded, role)
    visited, problems = _crawl(page, seeded)
    print(f"{role or 'anonymous'}: {len(visited)} pages: {visited}")  # shown with -s / on failure
    assert len(visited) >= 3, visited  # home, accessibility statement, privacy at least
    assert not problems, f"{len(problems)} problems on {len(visited)} pages:\n" + "\n".join(
        problems
    )
