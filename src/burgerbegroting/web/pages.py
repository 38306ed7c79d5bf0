"""The page shell every HTML page shares: ``render(...)``, the Jinja set-up and the language.

Feature controllers return ``render(request, "feature/page.html", {...})``. The common context
(municipality, current user, language, CSRF token, current path, navigation and the phase banner
of the current round) is computed from the request by :func:`page_shell`, which ``base.html`` also
calls itself, so pages rendered without ``render`` (the error pages of ``web/errors.py``) still get
the full layout.

The phase banner needs a database query, and templates render synchronously, so
:func:`phase_banner_hook` loads it before the route handler runs and leaves it on
``request.state``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.response import Template
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

from burgerbegroting import i18n

if TYPE_CHECKING:
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
    from litestar.plugins.jinja import JinjaTemplateEngine

    from burgerbegroting.settings import Settings

logger = logging.getLogger("burgerbegroting.web")

AnyRequest = Request[Any, Any, Any]

# Paths that never render the page shell: no banner query, no Content-Language.
NON_PAGE_PREFIXES = (
    "/api/",
    "/static/",
    "/static-theme.css",
    "/favicon.ico",
    "/health",
    "/schema",
)

ROUNDS_SERVICE = "burgerbegroting.rounds.service"
_SHELL_KEY = "bb_page_shell"
_BANNER_KEY = "bb_phase_banner"
_OPEN_ROUNDS_KEY = "bb_open_rounds"


@dataclass(frozen=True, slots=True)
class NavItem:
    """A navigation link; shown only when its route exists and the user may see it."""

    path: str
    label: str  # Dutch source text, translated at render time
    roles: frozenset[str] = frozenset()  # empty: everyone; else any of these roles
    login: bool = False  # shown only to logged-in users
    also_current: str | None = None  # regex of other paths that belong to this item
    phases: frozenset[str] = (
        frozenset()
    )  # empty: always; else only while the current round is in one


# Candidate links of every feature. A link appears only once its route is registered, so features
# can land in any order without dead links in the menu.
NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("/", i18n.lazy_gettext("Home")),
    NavItem("/rondes", i18n.lazy_gettext("Rondes")),
    NavItem(
        "/voorstellen", i18n.lazy_gettext("Voorstellen"), also_current=r"^/rondes/\d+/voorstellen"
    ),
    NavItem("/stemmen", i18n.lazy_gettext("Stemmen"), phases=frozenset({"voting"})),
    NavItem("/uitslag", i18n.lazy_gettext("Uitslag")),
    NavItem("/mijn-voorstellen", i18n.lazy_gettext("Mijn voorstellen"), login=True),
    NavItem("/toetsing", i18n.lazy_gettext("Toetsing"), roles=frozenset({"moderator"})),
    NavItem("/raad", i18n.lazy_gettext("Rondes voor de raad"), roles=frozenset({"council"})),
    NavItem("/beheer", i18n.lazy_gettext("Beheer"), roles=frozenset({"admin"})),
    NavItem("/beheer/rondes", i18n.lazy_gettext("Rondes beheren"), roles=frozenset({"admin"})),
    NavItem("/beheer/gebruikers", i18n.lazy_gettext("Gebruikers"), roles=frozenset({"admin"})),
    NavItem("/beheer/logboek", i18n.lazy_gettext("Logboek"), roles=frozenset({"admin", "auditor"})),
)


# Phase names as residents read them (rounds.models.Phase values -> Dutch source text).
PHASE_LABELS: Mapping[str, str] = {
    "draft": i18n.lazy_gettext("In voorbereiding"),
    "submission": i18n.lazy_gettext("Voorstellen indienen"),
    "review": i18n.lazy_gettext("Toetsing door de gemeente"),
    "voting": i18n.lazy_gettext("Stemmen"),
    "closed": i18n.lazy_gettext("Stemmen gesloten, uitslag volgt"),
    "published": i18n.lazy_gettext("Uitslag bekend"),
}


@dataclass(frozen=True, slots=True)
class PageShell:
    """Everything ``base.html`` needs besides the page's own content."""

    municipality: str
    lang: str
    current_user: Any  # accounts.auth.CurrentUser | None (duck-typed: no import cycle)
    current_path: str
    nav: tuple[tuple[str, str, bool], ...]  # (path, translated label, is current)
    phase_banner: Any  # rounds.service.current_round_summary(...) result, or None
    languages: tuple[tuple[str, str], ...]  # (code, native name)
    open_rounds: tuple[Any, ...] = ()  # rounds.service.open_round_summaries(...): every open round


def request_language(request: AnyRequest) -> str:
    """The language of ``request``: the ``taal`` cookie's, else Dutch."""
    return i18n.choose_language(request.cookies.get(i18n.LANGUAGE_COOKIE))


def _settings(request: AnyRequest) -> Settings | None:
    settings: Settings | None = request.app.state.get("settings")
    return settings


def route_paths(request: AnyRequest) -> frozenset[str]:
    """The path templates of every registered route (cached per app)."""
    app = request.app
    cached = app.state.get("bb_route_paths")
    if cached is None:
        cached = frozenset(route.path for route in app.routes)
        app.state["bb_route_paths"] = cached
    paths: frozenset[str] = cached
    return paths


def user_roles(user: Any) -> frozenset[str]:
    roles = getattr(user, "roles", None) or ()
    return frozenset(str(role) for role in roles)


def _banner_phase(request: AnyRequest) -> str | None:
    banner = request.scope.get("state", {}).get(_BANNER_KEY)
    phase = getattr(banner, "phase", None)
    return None if phase is None else str(getattr(phase, "value", phase))


def _navigation(request: AnyRequest, user: Any, lang: str) -> tuple[tuple[str, str, bool], ...]:
    paths = route_paths(request)
    phase = _banner_phase(request)
    roles = user_roles(user)
    current = request.url.path
    translate = i18n.translations(lang).gettext
    visible = [
        item
        for item in NAV_ITEMS
        if item.path in paths
        and not (item.login and user is None)
        and not (item.roles and not (item.roles & roles))
        # Items for one phase only (the booth while voting), or on their own pages.
        and not (
            item.phases and phase not in item.phases and not request.url.path.startswith(item.path)
        )
    ]
    # One item is current at a time (one aria-current): the best match wins, so /beheer/rondes
    # marks "Rondes beheren", not "Beheer" too, and a round's gallery marks "Voorstellen".
    scores = {item.path: _match_score(item, current) for item in visible}
    best = max(scores.values(), default=0)
    return tuple(
        (item.path, translate(item.label), best > 0 and scores[item.path] == best)
        for item in visible
    )


def _match_score(item: NavItem, current: str) -> int:
    """How well ``current`` belongs to ``item``: exact beats ``also_current`` beats a prefix."""
    if current == item.path:
        return 1_000_000
    if item.also_current is not None and re.match(item.also_current, current) is not None:
        return 100_000
    if item.path != "/" and current.startswith(item.path + "/"):
        return len(item.path)
    return 0


def page_shell(request: AnyRequest) -> PageShell:
    """The common page context for ``request`` (computed once per request)."""
    state = request.scope.setdefault("state", {})
    cached = state.get(_SHELL_KEY)
    if isinstance(cached, PageShell):
        return cached
    settings = _settings(request)
    user = request.scope.get("user")
    lang = request_language(request)
    shell = PageShell(
        municipality=settings.municipality if settings else "Burgerbegroting",
        lang=lang,
        current_user=user,
        current_path=request.url.path,
        nav=_navigation(request, user, lang),
        phase_banner=state.get(_BANNER_KEY),
        languages=tuple((code, i18n.LANGUAGE_NAMES[code]) for code in i18n.LANGUAGES),
        open_rounds=tuple(state.get(_OPEN_ROUNDS_KEY) or ()),
    )
    state[_SHELL_KEY] = shell
    return shell


def render(
    request: AnyRequest,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Template:
    """Render ``template_name`` with the page's ``context`` plus the common shell context.

    Adds ``municipality``, ``current_user``, ``lang``, ``csrf_field`` (a hidden input, already
    safe), ``csrf_token_value``, ``current_path``, ``phase_banner`` and ``shell`` (the whole
    :class:`PageShell`). Values in ``context`` win over the common ones.
    """
    shell = page_shell(request)
    token = _csrf_token_value(request)
    common: dict[str, Any] = {
        "shell": shell,
        "municipality": shell.municipality,
        "current_user": shell.current_user,
        "lang": shell.lang,
        "current_path": shell.current_path,
        "phase_banner": shell.phase_banner,
        "csrf_token_value": token,
        "csrf_field": Markup('<input type="hidden" name="_csrf_token" value="{}">').format(token),
    }
    common.update(context or {})
    return Template(
        template_name=template_name,
        context=common,
        status_code=status_code,
        headers=headers,
        cookies=cookies,
    )


def _csrf_token_value(request: AnyRequest) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


# --- Jinja environment -------------------------------------------------------------------------


def _context_language(context: Context) -> str:
    lang = context.get("lang")
    if isinstance(lang, str) and lang in i18n.LANGUAGES:
        return lang
    request = context.get("request")
    if isinstance(request, Request):
        return page_shell(request).lang
    return i18n.get_language()


@pass_context
def _template_gettext(context: Context, message: str) -> str:
    return i18n.translations(_context_language(context)).gettext(message)


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(_context_language(context)).ngettext(singular, plural, n)


@pass_context
def _shell_global(context: Context) -> PageShell | None:
    request = context.get("request")
    return page_shell(request) if isinstance(request, Request) else None


@pass_context
def _money_filter(context: Context, cents: int | None) -> str:
    return i18n.format_money(cents, _context_language(context))


@pass_context
def _datetime_filter(context: Context, value: Any, fmt: str = "medium") -> str:
    return i18n.format_datetime(value, fmt, _context_language(context))


@pass_context
def _date_filter(context: Context, value: Any, fmt: str = "long") -> str:
    return i18n.format_date(value, fmt, _context_language(context))


@pass_context
def _number_filter(context: Context, value: Any) -> str:
    return i18n.format_number(value, _context_language(context))


@pass_context
def _translate_filter(context: Context, message: Any) -> str:
    # Runtime strings (error titles, domain messages) are looked up but never %-formatted: a
    # message such as "minimaal 10% van het budget" must not be read as a format string.
    return i18n.translations(_context_language(context)).gettext(str(message))


@pass_context
def _phase_label(context: Context, phase: Any) -> str:
    key = str(getattr(phase, "value", phase))
    label = PHASE_LABELS.get(key, key)
    return i18n.translations(_context_language(context)).gettext(label)


def configure_jinja(engine: JinjaTemplateEngine) -> None:
    """``TemplateConfig.engine_callback``: i18n extension, formatting filters, shell global.

    Autoescaping is already on (Litestar's Jinja engine enables it for file templates).
    """
    env = engine.engine
    env.autoescape = True
    env.add_extension("jinja2.ext.i18n")
    # newstyle: ``_("… %(name)s", name=x)`` escapes ``x`` and fails loudly on a missing variable.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_template_gettext, ngettext=_template_ngettext, newstyle=True
    )
    env.filters["money"] = _money_filter
    env.filters["datetime"] = _datetime_filter
    env.filters["date"] = _date_filter
    env.filters["number"] = _number_filter
    env.filters["translate"] = _translate_filter
    env.globals["page_shell"] = _shell_global
    env.globals["phase_label"] = _phase_label


# --- Language middleware and the phase banner ---------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return None


class LanguageMiddleware:
    """Sets the request language (``i18n.gettext`` follows it) and ``Content-Language``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        lang = i18n.choose_language(_cookie(scope, i18n.LANGUAGE_COOKIE))

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-language", lang.encode()))
                    headers.append((b"vary", b"Cookie"))
                    message = {**message, "headers": headers}
            await send(message)

        token = i18n.set_language(lang)
        try:
            await self.app(scope, receive, send_with_language)
        finally:
            i18n.reset_language(token)


def _is_page_request(request: AnyRequest) -> bool:
    path = request.url.path
    return not any(path == p.rstrip("/") or path.startswith(p) for p in NON_PAGE_PREFIXES)


def phase_banner_hook(
    alchemy: SQLAlchemyAsyncConfig,
) -> Callable[[AnyRequest], Awaitable[None]]:
    """A ``before_request`` hook that loads the current round's summary for the phase banner.

    It uses the request's own session (the one handlers get), so no second connection is opened.
    ``rounds.service.current_round_summary`` is imported lazily: the shell works before (and
    without) the rounds feature.
    """

    async def load_banner(request: AnyRequest) -> None:
        if not _is_page_request(request):
            return
        await _load_banner(alchemy, request)

    return load_banner


async def _load_banner(alchemy: SQLAlchemyAsyncConfig, request: AnyRequest) -> None:
    # Looked up lazily: the shell must work before (and without) the rounds feature.
    try:
        rounds_service = importlib.import_module(ROUNDS_SERVICE)
    except ModuleNotFoundError as exc:
        # Only "the feature is not there" is fine; a broken import inside it must surface.
        if exc.name not in {ROUNDS_SERVICE, "burgerbegroting.rounds"}:
            raise
        return
    current_round_summary = getattr(rounds_service, "current_round_summary", None)
    if current_round_summary is None:
        return
    session = alchemy.provide_session(request.app.state, request.scope)
    summary = await current_round_summary(session)
    state = request.scope.setdefault("state", {})
    state[_BANNER_KEY] = summary
    open_rounds = getattr(rounds_service, "open_round_summaries", None)
    if open_rounds is not None:
        state[_OPEN_ROUNDS_KEY] = await open_rounds(session)


def phase_banner_after_exception(
    alchemy: SQLAlchemyAsyncConfig,
) -> Callable[[Exception, Scope], Awaitable[None]]:
    """An ``after_exception`` hook: error pages that no handler ran for get the banner too.

    ``before_request`` runs only once a route was found and its guards passed, so the 404 of an
    unknown address and the 401/403 of a guard would otherwise show no phase. Only client errors
    load it: after a 500 the database may be the thing that failed, and the error page must still
    render, so a failing query here is logged and the page goes without a banner.
    """

    async def load(exc: Exception, scope: Scope) -> None:
        if scope.get("type") != ScopeType.HTTP or _BANNER_KEY in scope.get("state", {}):
            return
        status = getattr(exc, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return
        request: AnyRequest = Request(scope)
        if not _is_page_request(request):
            return
        try:
            await _load_banner(alchemy, request)
        except Exception as error:  # noqa: BLE001 - an error page must not fail on its banner
            logger.warning("phase banner not loaded for an error page: %s", type(error).__name__)

    return load
