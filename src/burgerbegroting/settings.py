"""Typed settings read from ``BB_*`` environment variables.

Nothing here runs at import time: ``Settings.from_env()`` is called by the CLI or by tests, and the
result is handed to ``create_app``. Production refuses to start without a real secret and an explicit
database URL; development uses a fixed, loudly labelled secret so a fresh checkout just works.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEV_SECRET = "DEVELOPMENT-ONLY-SECRET-never-use-in-production-0123456789abcdef"  # noqa: S105 - the labelled development secret
_MIN_SECRET_LENGTH = 32
_MIN_SECRET_BITS = 128
_MIN_DISTINCT_CHARACTERS = 12


class SettingsError(ValueError):
    """The environment does not describe a configuration the app may start with."""


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is not fit to sign production tokens, or None.

    Length alone let ``"a" * 32`` through. A secret must also look random: enough different
    characters, no repeated block (``"0123456789abcdef" * 2``), no runs like ``abcdef`` or
    ``123456`` in more than a quarter of it, and at least 128 bits by the character frequencies
    it shows (Shannon entropy per character times its length). A random
    ``secrets.token_urlsafe(48)`` shows about 350 bits and ``secrets.token_hex(32)`` about 250;
    32 hex digits show about 120 and are refused, which costs nothing but a longer secret.
    """
    if not secret or secret == DEV_SECRET:
        return "BB_SECRET_KEY must be set to a random secret (not the development secret)"
    if len(secret) < _MIN_SECRET_LENGTH:
        return f"BB_SECRET_KEY must have at least {_MIN_SECRET_LENGTH} characters"
    if len(set(secret)) < _MIN_DISTINCT_CHARACTERS:
        return "BB_SECRET_KEY is not random: too few different characters"
    for period in range(1, len(secret) // 2 + 1):
        if secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)]:
            return "BB_SECRET_KEY is not random: it repeats itself"
    steps = sum(abs(ord(a) - ord(b)) == 1 for a, b in itertools.pairwise(secret))
    if steps * 4 > len(secret) - 1:
        return "BB_SECRET_KEY is not random: it runs through the alphabet (abc, 123)"
    counts = Counter(secret)
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    if bits < _MIN_SECRET_BITS:
        return (
            f"BB_SECRET_KEY is not random enough (about {bits:.0f} bits, at least "
            f"{_MIN_SECRET_BITS} needed): use secrets.token_urlsafe(48)"
        )
    return None


def _project_root() -> Path:
    # src/burgerbegroting/settings.py -> project root (editable install, the supported set-up).
    return Path(__file__).resolve().parents[2]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _optional(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    return raw or None


def _email(env: Mapping[str, str], name: str) -> str | None:
    value = _optional(env, name)
    if value is not None and (value.count("@") != 1 or any(c.isspace() for c in value)):
        raise SettingsError(f"{name} must be one e-mail address, got {value!r}")
    return value


def _web_address(env: Mapping[str, str], name: str) -> str | None:
    # It ends up in an href: only http(s) addresses, never javascript: or data:.
    value = _optional(env, name)
    if value is not None and (
        not value.startswith(("https://", "http://")) or any(c.isspace() for c in value)
    ):
        raise SettingsError(f"{name} must be an http(s) address, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app needs to know about its environment."""

    env: str = "development"
    database_url: str = ""
    secret_key: str = DEV_SECRET
    base_url: str = "http://127.0.0.1:8000"
    municipality: str = "Gemeente Voorbeeld"
    primary_colour: str = "#01689b"
    var_dir: Path = field(default_factory=lambda: _project_root() / "var")
    resident_token_minutes: int = 30
    staff_token_minutes: int = 15
    voter_session_minutes: int = 30
    confirm_token_hours: int = 48
    login_attempts_per_window: int = 10
    registration_attempts_per_window: int = 5
    registration_mails_per_address: int = 3
    code_attempts_per_window: int = 10
    # Anonymous downloads of a public audit export per client address and window (staff: no limit).
    export_downloads_per_window: int = 30
    rate_limit_window_seconds: int = 900
    max_concurrent_hashes: int = 4
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    smtp_url: str | None = None
    mail_from: str = "noreply@burgerbegroting.example"
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "testserver.local")
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    # The municipality's real contact channels, shown on /toegankelijkheid and /privacy. Only
    # the ones set are mentioned: the pages never promise a form or a phone line that is not there.
    # The port `burgerbegroting serve` binds (it sets BB_SERVE_PORT for its workers). Development
    # accepts it in the Host header even when BB_BASE_URL names another port.
    serve_port: int | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    contact_url: str | None = None
    privacy_email: str | None = None
    # Proposal photos (``BB_MEDIA_DIR``); None means ``var_dir / "media"``. Object storage is not
    # supported yet: point this at a mounted volume that every worker shares.
    media_dir: Path | None = None

    @property
    def media_path(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.var_dir / "media"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` everywhere but plain-HTTP local development and tests."""
        return not self.is_development and self.env != "test"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``BB_*`` variables (``os.environ`` by default) and validate them."""
        env = os.environ if environ is None else environ
        mode = env.get("BB_ENV", "development").strip() or "development"
        if mode not in {"development", "test", "production"}:
            raise SettingsError(f"BB_ENV must be development, test or production, got {mode!r}")
        var_dir = Path(env.get("BB_VAR_DIR") or (_project_root() / "var"))
        database_url = env.get("BB_DATABASE_URL", "").strip()
        secret = env.get("BB_SECRET_KEY", "").strip()
        if mode == "production":
            if (problem := secret_problem(secret)) is not None:
                raise SettingsError(f"{problem} in production")
            if not database_url:
                raise SettingsError("BB_DATABASE_URL must be set explicitly in production")
        if not secret:
            secret = DEV_SECRET
        if not database_url:
            database_url = f"sqlite+aiosqlite:///{var_dir / 'burgerbegroting.sqlite3'}"
        serve_port = _int(env, "BB_SERVE_PORT", 0) or None
        default_base = "http://127.0.0.1:8000"
        if mode == "development" and serve_port is not None:
            default_base = f"http://127.0.0.1:{serve_port}"  # links in dev mail work too
        base_url = (env.get("BB_BASE_URL") or default_base).rstrip("/")
        default_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "testserver.local")
        return cls(
            env=mode,
            database_url=database_url,
            secret_key=secret,
            base_url=base_url,
            municipality=env.get("BB_MUNICIPALITY", "Gemeente Voorbeeld"),
            primary_colour=env.get("BB_PRIMARY_COLOUR", "#01689b"),
            var_dir=var_dir,
            resident_token_minutes=_int(env, "BB_RESIDENT_TOKEN_MINUTES", 30),
            staff_token_minutes=_int(env, "BB_STAFF_TOKEN_MINUTES", 15),
            voter_session_minutes=_int(env, "BB_VOTER_SESSION_MINUTES", 30),
            confirm_token_hours=_int(env, "BB_CONFIRM_TOKEN_HOURS", 48),
            login_attempts_per_window=_int(env, "BB_LOGIN_ATTEMPTS", 10),
            registration_attempts_per_window=_int(env, "BB_REGISTRATION_ATTEMPTS", 5),
            registration_mails_per_address=_int(env, "BB_REGISTRATION_MAILS_PER_ADDRESS", 3),
            code_attempts_per_window=_int(env, "BB_CODE_ATTEMPTS", 10),
            export_downloads_per_window=_int(env, "BB_EXPORT_DOWNLOADS", 30),
            rate_limit_window_seconds=_int(env, "BB_RATE_LIMIT_WINDOW_SECONDS", 900),
            max_concurrent_hashes=_int(env, "BB_MAX_CONCURRENT_HASHES", 4),
            smtp_url=env.get("BB_SMTP_URL") or None,
            mail_from=env.get("BB_MAIL_FROM", "noreply@burgerbegroting.example"),
            allowed_hosts=_list(env, "BB_ALLOWED_HOSTS", default_hosts),
            cors_origins=_list(env, "BB_CORS_ORIGINS", ()),
            log_level=env.get("BB_LOG_LEVEL", "INFO"),
            serve_port=serve_port,
            contact_email=_email(env, "BB_CONTACT_EMAIL"),
            contact_phone=_optional(env, "BB_CONTACT_PHONE"),
            contact_url=_web_address(env, "BB_CONTACT_URL"),
            privacy_email=_email(env, "BB_PRIVACY_EMAIL"),
            media_dir=Path(media) if (media := _optional(env, "BB_MEDIA_DIR")) else None,
        )
