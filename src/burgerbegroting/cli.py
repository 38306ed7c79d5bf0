"""The ``burgerbegroting`` command: serve, db, demo, users, tally, audit."""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from burgerbegroting.settings import Settings, SettingsError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> object:
    """An Alembic config pointing at the project's migrations and ``database_url``."""
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (creating the SQLite folder if needed)."""
    from alembic import command

    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)  # type: ignore[arg-type]


def _log_config(settings: Settings) -> dict[str, Any]:
    """Uvicorn's logging set-up plus our ``burgerbegroting`` loggers (access log included)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["burgerbegroting"] = {
        "handlers": ["default"],
        "level": settings.log_level.upper(),
        "propagate": False,
    }
    return config


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if settings.is_development:
        print(
            "Let op: ontwikkelmodus met een vaste ontwikkel-sleutel (BB_ENV=development). "
            "Niet voor productie.",
            file=sys.stderr,
        )
    # The workers read their settings again; tell them the port, so development accepts it.
    os.environ["BB_SERVE_PORT"] = str(args.port)
    uvicorn.run(
        "burgerbegroting.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=settings.is_production,
        log_level=settings.log_level.lower(),
        # The app writes its own access log without query values (tokens) and with control
        # characters escaped (web/middleware.py: access_log_hook).
        access_log=False,
        log_config=_log_config(settings),
    )
    return 0


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(settings.database_url, args.revision)
    print(f"Database bijgewerkt tot {args.revision}.")
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from burgerbegroting.demo import load_demo

    if args.port is not None:
        # The port `serve` will bind: the printed login and booth links point at it, as the
        # server's own links will (`make demo PORT=8765` printed links to port 8000).
        settings = Settings.from_env({**os.environ, "BB_SERVE_PORT": str(args.port)})
    upgrade_database(settings.database_url)
    return load_demo(settings)


def _cmd_rounds_tick(args: argparse.Namespace, settings: Settings) -> int:
    from burgerbegroting.rounds.cli import tick_command

    return tick_command(settings)


def _cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from burgerbegroting.accounts.cli import create_user_command

    return create_user_command(settings, email=args.email, roles=args.role, name=args.name)


def build_parser() -> argparse.ArgumentParser:
    from burgerbegroting.voting.cli import add_codes_parser
    from burgerbegroting.voting.tally.cli import add_tally_parser

    parser = argparse.ArgumentParser(prog="burgerbegroting", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_cmd_serve)

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    upgrade = dbsub.add_parser("upgrade", help="run migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=_cmd_db)

    demo = sub.add_parser("demo", help="load demo data (safe to re-run)")
    demo.add_argument(
        "--port", type=int, default=None, help="the port `serve` will use, for the printed links"
    )
    demo.set_defaults(handler=_cmd_demo)

    users = sub.add_parser("users", help="manage accounts")
    usub = users.add_subparsers(dest="users_command", required=True)
    create = usub.add_parser("create", help="create an account (password from stdin or prompt)")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["resident", "moderator", "admin", "council", "auditor"],
    )
    create.add_argument("--name", default=None, help="display name (default: part before @)")
    create.set_defaults(handler=_cmd_users)

    rounds = sub.add_parser("rounds", help="budget rounds")
    rsub = rounds.add_subparsers(dest="rounds_command", required=True)
    tick = rsub.add_parser("tick", help="move rounds whose next phase is due (for cron)")
    tick.set_defaults(handler=_cmd_rounds_tick)

    add_codes_parser(sub)
    add_tally_parser(sub)

    from burgerbegroting.audit.verify import add_arguments as add_audit_arguments

    audit = sub.add_parser("audit", help="verify an audit export independently (no database)")
    add_audit_arguments(audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "tally":
        from burgerbegroting.voting.tally.cli import run_tally

        return run_tally(args)
    if args.command == "audit":
        from burgerbegroting.audit.verify import run as run_audit

        return run_audit(args)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"Configuratiefout: {exc}", file=sys.stderr)
        return 2
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    return handler(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
