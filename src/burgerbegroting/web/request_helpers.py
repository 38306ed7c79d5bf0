"""What controllers and pages read from the incoming request, in one place: the app's settings,
the client's address and the JSON-only rule for unsafe API calls.

These were near-copies in every feature's controllers; one module keeps them the same everywhere
(a rate limit keyed on a different notion of "the client" in one feature would be a hole).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

from burgerbegroting.settings import Settings

__all__ = ["AnyRequest", "client_ip", "require_json", "settings_of"]

AnyRequest = Request[Any, Any, Any]


def settings_of(request: AnyRequest) -> Settings:
    """The settings ``create_app`` was built with (``app.state["settings"]``)."""
    settings: Settings = request.app.state["settings"]
    return settings


def client_ip(request: AnyRequest) -> str:
    """The client's address, the key of per-address rate limits (through ``ratelimit.ip_key``,
    which counts an IPv6 client as its /64 network).

    Behind a proxy uvicorn's ``--proxy-headers`` (on in production) puts the real address here;
    without a client (some test transports) every such request shares ``"unknown"``.
    """
    return request.client.host if request.client else "unknown"


def require_json(request: AnyRequest) -> None:
    """Unsafe API calls must be JSON: a cross-site HTML form can post ``text/plain`` that looks
    like JSON, but cannot send ``application/json`` without a CORS preflight. 415 otherwise."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(status_code=415, detail="application/json required")
