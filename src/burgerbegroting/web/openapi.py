"""The OpenAPI document at ``/schema/openapi.json``, made to tell the truth about every operation.

Litestar's generated document listed only 200 and a 400 with its own (unused) error body for every
operation, and marked every operation as needing a login (``JWTCookieAuth`` puts one global
``security`` requirement on the document, public GETs included). ``document_api`` rewrites the
generated document once, from the routes themselves, so an operation added later is described by
the same rules without being listed here:

* **security** per operation: ``BearerToken`` where the handler has guards, none where it has none
  (anyone may call it; a bearer token, if sent, must still be valid: hence the 401 below);
* **error answers** per operation, each an RFC 9457 problem-details body (``ProblemDetails``):
  400 everywhere (parameters, unclean input: ``web/limits.py``), 401 wherever a token is read,
  403 for guarded and unsafe operations (roles, the cross-site check), 404 where the path names a
  row, 409/413/415/422/429/503 for operations that take a body or write, 503 also for logged
  downloads (their audit line must commit);
* other formats a handler serves besides its documented one (``opt={ALSO_SERVES: {200: [...]}}``,
  the proposal export's CSV);
* the security scheme itself is a plain HTTP bearer JWT (Litestar described the cookie as one).

Served by ``DocumentedJsonRenderPlugin`` (Litestar's supported hook for rendering the document), so
building the app stays cheap: the work happens on the first request for the document.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from burgerbegroting.accounts.guards import requires_same_origin_or_bearer

PROBLEM = "application/problem+json"
ALSO_SERVES = "openapi_also_serves"
"""Handler ``opt`` key: ``{status: [media type, …]}`` answered besides the documented one."""
SECURITY_SCHEME = "BearerToken"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths the authentication middleware skips (accounts/middleware.py: ``exclude``).
UNAUTHENTICATED = re.compile(r"^/health$|^/static/|^/schema")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `detail` is a Dutch sentence for people.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "description": "Per field: a Dutch message, or the framework's list of field errors.",
            "oneOf": [
                {"type": "object", "additionalProperties": {"type": "string"}},
                {"type": "array", "items": {"type": "object"}},
            ],
        },
    },
}

DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: invalid parameters, unreadable body, NUL or invalid UTF-8, JSON too deep.",
    401: "Not logged in, or the bearer token is invalid, expired or revoked.",
    403: "Not allowed: a role is missing, or the request came from another site.",
    404: "No such row (or not yours to see).",
    409: "Conflict with the current state (phase, status, already done).",
    413: "Body, form or field too large.",
    415: "Not application/json.",
    422: "Invalid input; `errors` names the fields.",
    429: "Too many attempts; see Retry-After.",
    503: "Nothing was stored (the database refused the commit, or is unreachable).",
}


def _guards(handler: HTTPRouteHandler) -> list[object]:
    """The guards as written on the handler and its controller/router (not Litestar's wrappers)."""
    return [guard for layer in handler.ownership_layers for guard in (layer.guards or [])]


def _error_statuses(method: str, path: str, handler: HTTPRouteHandler) -> set[int]:
    guards = _guards(handler)
    statuses = {400, 422}
    if not UNAUTHENTICATED.match(path):
        statuses.add(401)
    if guards:
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if method in UNSAFE:
        statuses |= {403, 404, 409, 413, 415, 429, 503}
    if requires_same_origin_or_bearer in guards or path == "/health":
        statuses.add(503)
    return statuses


def _handlers(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    found: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                found[(route.path_format, method.lower())] = handler
    return found


def document_api(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``generated`` with true security and error answers for every operation."""
    doc = copy.deepcopy(generated)
    doc.pop("security", None)
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The token from POST /api/v1/auth/login (Authorization: Bearer …).",
        }
    }
    components.setdefault("schemas", {})["ProblemDetails"] = PROBLEM_SCHEMA
    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    handlers = _handlers(app)
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            handler = handlers.get((path, method))
            if handler is None or not isinstance(operation, dict):
                continue
            operation["security"] = [{SECURITY_SCHEME: []}] if _guards(handler) else []
            responses = operation.setdefault("responses", {})
            for status in sorted(_error_statuses(method.upper(), path, handler)):
                responses[str(status)] = {"description": DESCRIPTIONS[status], "content": problem}
            for status, media_types in handler.opt.get(ALSO_SERVES, {}).items():
                # A second format of the same answer (a CSV download beside its JSON).
                content = responses.setdefault(str(status), {"description": ""}).setdefault(
                    "content", {}
                )
                for media_type in media_types:
                    content[media_type] = {"schema": {"type": "string"}}
            for status, response in responses.items():
                # Error answers a handler declares itself: every one is problem details.
                if status.isdigit() and int(status) >= 400:
                    response["content"] = problem
    return doc


class DocumentedJsonRenderPlugin(JsonRenderPlugin):
    """Serves ``document_api``'s version of the document (computed once per app)."""

    def __init__(self) -> None:
        super().__init__(path=["/openapi.json", "/"])
        self._documents: dict[int, dict[str, Any]] = {}

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        key = id(request.app)
        if key not in self._documents:
            self._documents[key] = document_api(request.app, openapi_schema)
        return self.render_json(request, self._documents[key])
