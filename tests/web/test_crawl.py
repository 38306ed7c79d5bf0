"""Every page reachable by links, as anonymous, resident, moderator and admin, without a browser.

The crawler starts at the home page of a demo-like world (``tests/world.py``: a round in every
phase, proposals in every state, a closed and a published round with results) and follows every
internal link, each distinct URL once. Every page must answer 200 (a link may be refused only as
``expected_refusal`` says), be Dutch (``<html lang="nl">``), have a ``<title>`` and exactly one
``<h1>``, mark at most one navigation item with ``aria-current``, carry the security headers, and
put a CSRF field in every POST form. Every internal ``href``/``src`` on those pages (downloads,
static files, the API) must answer below 400. How many pages each role must reach is derived from
the world's data: every round page and every proposal page the role may see (the browser test
``tests/browser/test_all_pages.py`` runs axe on one page per template).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlencode, urljoin, urlsplit

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.settings import Settings
from tests.world import World, build_world

ORIGIN = "http://testserver.local"
ROLES = ("anonymous", "resident", "moderator", "admin")
SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "permissions-policy",
    "cache-control",
)
MAX_PAGES = 400  # a safety net against a link explosion; reaching it fails the test


@dataclass
class Page(HTMLParser):
    """What the checks need from one HTML page."""

    lang: str | None = None
    h1: int = 0
    title: str = ""
    current_pages: int = 0
    """Elements with ``aria-current="page"``: the navigation marks one page, never two."""
    lists_with_two_current: int = 0
    """Lists (a menu, a phase timeline) with more than one ``aria-current`` item."""
    links: list[str] = field(default_factory=list)
    forms_without_csrf: list[str] = field(default_factory=list)
    _in_title: bool = False
    _form: str | None = None
    _form_has_csrf: bool = False
    _lists: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "form" and a.get("method", "get").lower() == "post":
            self._form, self._form_has_csrf = a.get("action", "(this page)"), False
        elif tag == "input" and self._form is not None and a.get("name") == "_csrf_token":
            self._form_has_csrf = bool(a.get("value"))
        if tag in {"ol", "ul"}:
            self._lists.append(0)
        if "aria-current" in a:
            self.current_pages += a["aria-current"] == "page"
            if self._lists:
                self._lists[-1] += 1
        for name in ("href", "src", "action"):
            if a.get(name) and not (tag == "form" and name == "action"):
                self.links.append(a[name])

    def handle_endtag(self, tag: str) -> None:
        if tag in {"ol", "ul"} and self._lists:
            self.lists_with_two_current += self._lists.pop() > 1
        if tag == "title":
            self._in_title = False
        elif tag == "form" and self._form is not None:
            if not self._form_has_csrf:
                self.forms_without_csrf.append(self._form)
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _internal(base: str, link: str) -> str | None:
    """The path and query of an internal link, or None for other sites, mail and fragments."""
    url, _fragment = urldefrag(urljoin(base, link))
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != ORIGIN:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _headers(world: World, settings: Settings, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    return world.people.headers(settings, role)


@dataclass
class Crawl:
    pages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def expected_refusal(world: World, role: str, path: str, status: int, location: str) -> bool:
    """Links a role is shown but may not follow, on purpose (everything else must be a 200)."""
    if (
        role == "anonymous"
        and status == 303
        and location == "/inloggen?" + urlencode({"next": path})
    ):
        return True  # an action for residents ("Dien een voorstel in"): log in first
    # A closed round's page links to its results "(nog niet openbaar: voor raadsleden, controleurs
    # en beheerders)": the link says who may follow it.
    return path == f"/rondes/{world.closed.round_id}/uitslag" and role in {"resident", "moderator"}


def crawl(client: TestClient[Litestar], world: World, role: str, headers: dict[str, str]) -> Crawl:
    result = Crawl()
    queue: deque[tuple[str, str]] = deque([("/", "(start)")])
    queued = {"/"}
    checked: dict[str, int] = {}  # non-page targets: status
    while queue:
        path, referrer = queue.popleft()
        if len(result.pages) >= MAX_PAGES:
            result.problems.append(f"more than {MAX_PAGES} pages: is a link generating URLs?")
            break
        response = client.get(path, headers=headers, follow_redirects=False)
        location = response.headers.get("location", "")
        if response.status_code in {303, 403} and expected_refusal(
            world, role, path, response.status_code, location
        ):
            result.refused.append(path)
            continue
        if 300 <= response.status_code < 400:
            result.problems.append(
                f"{path} (linked from {referrer}): unexpected {response.status_code} to {location}"
            )
            continue
        if "text/html" not in response.headers.get("content-type", ""):
            checked[path] = response.status_code
            if response.status_code >= 400:
                result.problems.append(f"{path} (linked from {referrer}): {response.status_code}")
            continue
        result.pages.append(path)
        if response.status_code != 200:
            result.problems.append(f"{path} (linked from {referrer}): {response.status_code}")
            continue
        missing = [h for h in SECURITY_HEADERS if h not in response.headers]
        if missing:
            result.problems.append(f"{path}: security headers missing: {missing}")
        page = Page()
        page.feed(response.text)
        if page.lang != "nl":
            result.problems.append(f"{path}: <html lang={page.lang!r}>")
        if page.h1 != 1:
            result.problems.append(f"{path}: {page.h1} <h1> elements")
        if not page.title.strip():
            result.problems.append(f"{path}: no <title>")
        if page.current_pages > 1 or page.lists_with_two_current:
            result.problems.append(
                f"{path}: aria-current='page' {page.current_pages} times, "
                f"{page.lists_with_two_current} lists with two current items"
            )
        for form in page.forms_without_csrf:
            result.problems.append(f"{path}: POST form {form} has no CSRF field")
        for link in page.links:
            target = _internal(ORIGIN + path, link)
            if target is None or target in queued:
                continue
            queued.add(target)
            if _is_page_link(target):
                queue.append((target, path))
            else:
                status = client.get(target, headers=headers, follow_redirects=False).status_code
                checked[target] = status
                if status >= 400:
                    result.problems.append(f"{path}: link {target} answers {status}")
    return result


_NOT_PAGES = re.compile(r"^/(static/|api/|schema|health|favicon)|\.(csv|json|pb|pdf|zip|txt|css)$")


def _is_page_link(target: str) -> bool:
    return not _NOT_PAGES.search(urlsplit(target).path)


def _must_reach(world: World, role: str) -> set[str]:
    """Pages the role must find by links alone: every round and every proposal it may see."""
    rounds = {f"/rondes/{r}" for phase, r in world.round_ids.items() if phase.value != "draft"}
    public = {
        world.submitted_of_a,
        world.submitted_of_b,
        world.to_withdraw_of_a,
        world.in_review_of_a,
        *world.voting.projects,
        *world.closed.projects,
        *world.published.projects,
    }
    proposals = {f"/voorstellen/{p}" for p in public}
    if role == "admin":
        rounds.add(f"/rondes/{world.draft_round}")
    if role == "resident":
        proposals.add(f"/voorstellen/{world.draft_of_a}")  # her own draft, from "Mijn voorstellen"
        rounds.add(f"/rondes/{world.submission_round}/voorstellen/nieuw")
    return rounds | proposals


def test_every_linked_page_of_every_role_is_sound(
    client: TestClient[Litestar], settings: Settings
) -> None:
    world = build_world(settings, client)
    report: list[str] = []
    for role in ROLES:
        result = crawl(client, world, role, _headers(world, settings, role))
        must = _must_reach(world, role)
        unreached = sorted(must - {urlsplit(p).path for p in result.pages})
        if unreached:
            report.append(f"{role}: never reached {unreached}")
        if len(set(result.pages)) < len(must):
            report.append(f"{role}: {len(result.pages)} pages, fewer than the {len(must)} needed")
        report.extend(f"{role}: {problem}" for problem in result.problems)
        print(f"{role}: {len(result.pages)} pages")
    assert report == [], f"{len(report)} problems:\n" + "\n".join(report)
