"""``create_app(settings)``: the one module that wires the application together."""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.cors import CORSConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler, Middleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from burgerbegroting import __version__
from burgerbegroting.accounts.admin_pages import AdminUsersPagesController
from burgerbegroting.accounts.controllers import AccountPagesController, AuthApiController
from burgerbegroting.accounts.csrf import session_csrf_middleware
from burgerbegroting.accounts.middleware import create_auth
from burgerbegroting.accounts.selfservice_pages import SelfServicePagesController
from burgerbegroting.audit.controllers import AuditApiController, AuditPagesController
from burgerbegroting.audit.export_controllers import CONTROLLERS as AUDIT_EXPORT
from burgerbegroting.db import create_engine
from burgerbegroting.proposals.coauthor_pages import (
    CoauthorPagesController,
    InvitationPagesController,
)
from burgerbegroting.proposals.controllers import API_CONTROLLERS as PROPOSAL_API
from burgerbegroting.proposals.council_pages import CouncilPagesController
from burgerbegroting.proposals.pages import ProposalPagesController
from burgerbegroting.proposals.photo_pages import PhotoPagesController
from burgerbegroting.proposals.review_pages import ReviewPagesController
from burgerbegroting.results.controllers import API_CONTROLLERS as RESULTS_API
from burgerbegroting.results.pages import PAGE_CONTROLLERS as RESULTS_PAGES
from burgerbegroting.rounds.controllers import RoundApiController
from burgerbegroting.rounds.pages import RoundAdminPagesController, RoundPagesController
from burgerbegroting.rounds.scheduler import phase_scheduler
from burgerbegroting.settings import Settings
from burgerbegroting.voting.admin_pages import PAGE_CONTROLLERS as VOTING_STAFF_PAGES
from burgerbegroting.voting.batching import CastBatcher
from burgerbegroting.voting.controllers import API_CONTROLLERS as VOTING_API
from burgerbegroting.voting.pages import PAGE_CONTROLLERS as VOTING_PAGES
from burgerbegroting.web.controllers import ShellController
from burgerbegroting.web.errors import EXCEPTION_HANDLERS
from burgerbegroting.web.health import health
from burgerbegroting.web.limits import RequestLimitsMiddleware
from burgerbegroting.web.middleware import (
    IdRangeMiddleware,
    ReadOnlyTransactionMiddleware,
    access_log_hook,
    cross_site_middleware,
    security_headers_hook,
)
from burgerbegroting.web.openapi import DocumentedJsonRenderPlugin
from burgerbegroting.web.pages import (
    LanguageMiddleware,
    configure_jinja,
    phase_banner_after_exception,
    phase_banner_hook,
)
from burgerbegroting.web.transactions import commit_before_send

FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"


def route_handlers() -> list[ControllerRouterHandler]:
    """Every controller of every feature. Features add their controllers here, nowhere else."""
    handlers: list[ControllerRouterHandler] = [
        health,
        AuthApiController,
        AccountPagesController,
        SelfServicePagesController,
        AdminUsersPagesController,
        ShellController,
        *PROPOSAL_API,
        ProposalPagesController,
        PhotoPagesController,
        CoauthorPagesController,
        InvitationPagesController,
        ReviewPagesController,
        CouncilPagesController,
        RoundApiController,
        RoundPagesController,
        RoundAdminPagesController,
        *VOTING_API,
        *RESULTS_API,
        *RESULTS_PAGES,
        *VOTING_STAFF_PAGES,
        *VOTING_PAGES,
        AuditApiController,
        AuditPagesController,
        *AUDIT_EXPORT,
        create_static_files_router(path="/static", directories=[FRONTEND_DIR / "static"]),
    ]
    return handlers


def allowed_host_headers(settings: Settings) -> list[str]:
    """Host headers to accept: each allowed host, bare and with the port of ``BB_BASE_URL``.

    Litestar compares the whole ``Host`` header, port included, so ``127.0.0.1`` alone would refuse
    the browser's ``127.0.0.1:8000``.
    """
    base = urlsplit(settings.base_url)
    hosts = set(settings.allowed_hosts)
    if base.hostname:
        hosts.add(base.hostname)
    ports = {base.port} if base.port else set()
    if settings.is_development and settings.serve_port:
        # `serve --port 8080` in development: the port it binds is the one the browser sends.
        ports.add(settings.serve_port)
    for port in ports:
        hosts |= {f"{host}:{port}" for host in list(hosts) if ":" not in host}
    return sorted(hosts)


def create_app(settings: Settings) -> Litestar:
    """Build the Litestar application for ``settings``; nothing is read from the environment here."""
    logging.getLogger("burgerbegroting").setLevel(settings.log_level)
    engine = create_engine(settings.database_url)
    alchemy = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        create_all=False,
    )
    # Commit on 2xx like advanced-alchemy's "autocommit", but a failed commit is a 503, not a 2xx.
    alchemy.before_send_handler = commit_before_send(alchemy.session_scope_key)
    middleware: list[Middleware] = [
        ReadOnlyTransactionMiddleware,
        LanguageMiddleware,
        # Outside Litestar's CSRF middleware (which parses forms before it can refuse them).
        RequestLimitsMiddleware,
        cross_site_middleware(trusted_origins=(settings.base_url, *settings.cors_origins)),
        # After authentication (Litestar puts it first), before Litestar's CSRF middleware.
        session_csrf_middleware(settings),
        IdRangeMiddleware,
    ]
    csrf = CSRFConfig(
        secret=settings.secret_key,
        cookie_secure=settings.secure_cookies,
        cookie_httponly=True,
        cookie_samesite="lax",
        # The JSON API authenticates with bearer tokens, which a cross-site form cannot send.
        exclude=["/api/", "/health"],
    )
    cors = (
        CORSConfig(allow_origins=list(settings.cors_origins), allow_credentials=False)
        if settings.cors_origins
        else None
    )
    state: dict[str, Any] = {
        "settings": settings,
        # For work done after the answer was sent (registration: see accounts/controllers.py).
        "background_sessions": async_sessionmaker(
            engine, class_=AsyncSession, expire_on_commit=False
        ),
        # Online casts are written in batches per round (group commit: voting/batching.py).
        "cast_batcher": CastBatcher(
            async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        ),
    }

    async def dispose_engine() -> None:
        await engine.dispose()

    auth = create_auth(settings, engine)

    return Litestar(
        route_handlers=route_handlers(),
        on_app_init=[auth.on_app_init],
        plugins=[SQLAlchemyPlugin(config=alchemy)],
        middleware=middleware,
        csrf_config=csrf,
        cors_config=cors,
        allowed_hosts=AllowedHostsConfig(allowed_hosts=allowed_host_headers(settings)),
        template_config=TemplateConfig(
            directory=FRONTEND_DIR / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=configure_jinja,
        ),
        before_request=phase_banner_hook(alchemy),
        after_exception=[phase_banner_after_exception(alchemy)],
        exception_handlers=EXCEPTION_HANDLERS,
        # A hook, not a middleware: it also reaches 404/405 and refusals raised by middleware.
        before_send=[
            security_headers_hook(hsts=not settings.is_development and settings.env != "test"),
            access_log_hook,
        ],
        openapi_config=OpenAPIConfig(
            title="Burgerbegroting API",
            version=__version__,
            path="/schema",
            # The served document states each operation's real security and error answers.
            render_plugins=[DocumentedJsonRenderPlugin()],
        ),
        state=State(state),
        on_shutdown=[dispose_engine],
        # Rounds move on schedule while the app runs (tests drive the scheduler themselves).
        lifespan=[phase_scheduler(engine)] if settings.env != "test" else [],
        debug=False,
    )


SWITCH_INTERVAL_S = 0.001
"""How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms)."""


def prepare_for_serving(app: Litestar) -> None:
    """Settle a server process once the app is built: compile every page template, then fewer
    and cheaper garbage collections, and a shorter GIL switch interval.

    * Templates: Jinja compiles a template on its first use, on the event loop: the results
      page's first view held the loop about 0.2 s (``benchmarks/results.py``); all 64 take about
      0.8 s here at start-up instead.
    * Collector: everything loaded so far (modules, routes, the compiled templates) is moved out
      of its sight (``gc.freeze``), and the youngest generation is collected after 50,000
      allocations instead of 700: a request allocates thousands of short-lived objects that
      reference counting frees anyway, and each collection paused every request of the worker.
      Measured with ``benchmarks/voting.py`` on 2 cores: PostgreSQL casts at 50 clients
      529-532/s with p99 228-289 ms, against 429-502/s and 308-422 ms without (two runs each,
      side by side).
    * Switch interval: work moved to a thread (a PDF, an export) still holds the GIL, and the
      event loop gets it back only when the thread's interval runs out, at every step of a
      request (read, handle, write): ``/health`` took 75-104 ms during a council report PDF at
      5 ms and 28-47 ms at 1 ms (``benchmarks/results.py``'s probe, 50,000 ballots).
    """
    template_engine = app.template_engine
    if isinstance(template_engine, JinjaTemplateEngine):
        environment = template_engine.engine
        for name in environment.list_templates():
            environment.get_template(name)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def create_app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory`` (used by ``burgerbegroting serve``)."""
    app = create_app(Settings.from_env())
    prepare_for_serving(app)
    return app
