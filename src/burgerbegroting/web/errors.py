"""One table maps domain errors to HTTP.

API paths get RFC 9457 problem details, pages an error page. Every message shown here is Dutch and
safe: unexpected exceptions are logged (without request bodies, so no passwords or codes reach the
log) and answered with a generic 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from burgerbegroting.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from burgerbegroting.i18n import gettext, ngettext
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.web.limits import RequestRefused
from burgerbegroting.web.middleware import ID_OUT_OF_RANGE

# N_ marks the Dutch texts for the translation catalogue; error.html translates them per request.
logger = logging.getLogger("burgerbegroting.web")

PROBLEM_JSON = "application/problem+json"

# Domain error class -> (status, short Dutch title). Most specific first.
STATUS_FOR_ERROR: tuple[tuple[type[DomainError], int, str], ...] = (
    (ValidationFailed, 422, N_("Ongeldige invoer")),
    (NotFound, 404, N_("Niet gevonden")),
    (Conflict, 409, N_("Conflict")),
    (NotAuthenticated, 401, N_("Niet ingelogd")),
    (Forbidden, 403, N_("Geen toegang")),
    (RateLimited, 429, N_("Te veel pogingen")),
    (DomainError, 400, N_("Ongeldig verzoek")),
)

# Dutch wording for framework-level HTTP errors (their own messages are English).
DUTCH_HTTP: dict[int, tuple[str, str]] = {
    400: (
        N_("Ongeldig verzoek"),
        N_("Het verzoek kon niet worden verwerkt. Controleer de invoer."),
    ),
    401: (N_("Niet ingelogd"), N_("U bent niet (meer) ingelogd. Log in en probeer het opnieuw.")),
    403: (N_("Geen toegang"), N_("U heeft geen toegang tot deze pagina of handeling.")),
    404: (N_("Niet gevonden"), N_("De pagina of het gegeven dat u zoekt bestaat niet.")),
    405: (N_("Methode niet toegestaan"), N_("Deze handeling is hier niet mogelijk.")),
    409: (N_("Conflict"), N_("De handeling past niet bij de huidige toestand.")),
    413: (N_("Te groot"), N_("Het verzoek is te groot.")),
    415: (N_("Verkeerd formaat"), N_("Het formaat van het verzoek wordt niet ondersteund.")),
    422: (N_("Ongeldige invoer"), N_("De invoer is ongeldig. Controleer de velden.")),
    429: (
        N_("Te veel pogingen"),
        N_("U heeft het te vaak geprobeerd. Wacht even en probeer het opnieuw."),
    ),
    500: (N_("Er ging iets mis"), N_("Er ging aan onze kant iets mis. Probeer het later opnieuw.")),
}


def wants_problem_json(request: Request[Any, Any, Any]) -> bool:
    """API paths, the health check, and clients that ask for JSON get problem details."""
    path = request.url.path
    if path.startswith("/api/") or path == "/health" or path.startswith("/schema"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def login_redirect(request: Request[Any, Any, Any]) -> Redirect | None:
    """An anonymous visitor who opens a page that needs a login goes to the login page, and back.

    Only for pages fetched with GET: a refused form submission cannot be replayed by a redirect, so
    it keeps the 401 page (with its login link). The API keeps answering 401 problem details.
    """
    if wants_problem_json(request) or request.method != "GET":
        return None
    target = request.url.path
    if request.url.query:
        target = f"{target}?{request.url.query}"
    return Redirect(f"/inloggen?{urlencode({'next': target})}", status_code=303)


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    title: str,
    detail: str,
    errors: dict[str, str] | list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    if status == 401 and (redirect := login_redirect(request)) is not None:
        return redirect
    if wants_problem_json(request):
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": request.url.path,
        }
        if errors:
            body["errors"] = errors
        return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
    return Template(
        template_name="error.html",
        context={"status": status, "title": title, "detail": detail, "errors": errors or {}},
        status_code=status,
        headers=headers,
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    for cls, status, title in STATUS_FOR_ERROR:
        if isinstance(exc, cls):
            headers = None
            if isinstance(exc, RateLimited):
                headers = {"Retry-After": str(exc.retry_after)}
            return problem_response(
                request,
                status=status,
                title=title,
                detail=exc.message,
                errors=exc.fields or None,
                headers=headers,
            )
    raise AssertionError("DomainError is the last row of the table")  # pragma: no cover


# msgspec's (English) decoding messages, as Litestar passes them on, by kind -> a Dutch message.
# The JSON type names msgspec uses, as the Dutch words a resident reads.
_TYPE_NAMES: dict[str, str] = {
    "int": N_("een geheel getal"),
    "float": N_("een getal"),
    "str": N_("tekst"),
    "bool": N_("true of false"),
    "array": N_("een lijst"),
    "object": N_("een object"),
}
_WRONG_TYPE = re.compile(r"Expected `([^`]+)`, got `[^`]+`")
_BOUND = re.compile(r"Expected `(?:int|float)` (>=|>|<=|<) (-?[0-9.e+]+)")
_LENGTH = re.compile(r"Expected `(str|array|object|bytes)` of length (>=|<=) ([0-9]+)")
_FIELD = re.compile(r"Object (missing required|contains unknown) field `([^`]*)`")
_BOUND_MESSAGES = {
    ">=": N_("Moet minstens %(limit)s zijn."),
    ">": N_("Moet groter zijn dan %(limit)s."),
    "<=": N_("Mag hoogstens %(limit)s zijn."),
    "<": N_("Moet kleiner zijn dan %(limit)s."),
}
_FIXED_MESSAGES = (
    ("Invalid enum value", N_("Ongeldige keuze.")),
    ("Number out of range", N_("Dit getal valt buiten het toegestane bereik.")),
    ("matching regex", N_("Heeft niet de juiste vorm.")),
    ("encoded datetime", N_("Ongeldige datum en tijd.")),
    ("Expected `datetime`", N_("Ongeldige datum en tijd.")),
    ("encoded date", N_("Ongeldige datum.")),
    ("Expected `date`", N_("Ongeldige datum.")),
)
INVALID_VALUE = N_("Ongeldige waarde.")


def validation_message(message: str) -> str:
    """A decoding error's message in the request's language, from msgspec's English text.

    Each kind of error msgspec reports (wrong type, below a minimum, above a maximum, too long or
    too short, a missing or unknown field, a bad choice) gets a short Dutch sentence; anything else
    the generic "Ongeldige waarde.", so no English framework text reaches a resident.
    """
    if match := _WRONG_TYPE.fullmatch(message):
        # ``array | null``: null only means the field may be left out, which is not the mistake.
        expected = [t.strip() for t in match.group(1).split("|") if t.strip() != "null"]
        if len(expected) == 1 and expected[0] in _TYPE_NAMES:
            return gettext(
                "Verkeerd soort waarde: hier hoort %(expected)s.",
                expected=gettext(_TYPE_NAMES[expected[0]]),
            )
        return gettext("Verkeerd soort waarde.")
    if match := _BOUND.fullmatch(message):
        return gettext(_BOUND_MESSAGES[match.group(1)], limit=match.group(2))
    if match := _LENGTH.fullmatch(message):
        return _length_message(match.group(1) == "str", match.group(2) == ">=", int(match.group(3)))
    if match := _FIELD.fullmatch(message):
        if match.group(1) == "missing required":
            return gettext("Dit veld ontbreekt: %(field)s.", field=match.group(2))
        return gettext("Dit veld kennen wij niet: %(field)s.", field=match.group(2))
    for marker, text in _FIXED_MESSAGES:
        if marker in message:
            return gettext(text)
    return gettext(INVALID_VALUE)


def _length_message(text: bool, minimum: bool, n: int) -> str:
    if text and minimum:
        return ngettext(
            "Moet minstens %(num)d teken lang zijn.", "Moet minstens %(num)d tekens lang zijn.", n
        )
    if text:
        return ngettext(
            "Mag hoogstens %(num)d teken lang zijn.", "Mag hoogstens %(num)d tekens lang zijn.", n
        )
    if minimum:
        return ngettext(
            "Moet minstens %(num)d element bevatten.",
            "Moet minstens %(num)d elementen bevatten.",
            n,
        )
    return ngettext(
        "Mag hoogstens %(num)d element bevatten.", "Mag hoogstens %(num)d elementen bevatten.", n
    )


def _validation_errors(exc: ValidationException) -> list[dict[str, Any]]:
    """Litestar's list of decoding errors, each with its key and source as given and its message
    in the request's language (``validation_message``)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    out: list[dict[str, Any]] = []
    for item in extra:
        if isinstance(item, dict):
            error = {k: item[k] for k in ("key", "source") if k in item}
            error["message"] = validation_message(str(item.get("message", "")))
            out.append(error)
    return out


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    title, detail = DUTCH_HTTP.get(status, DUTCH_HTTP[400 if status < 500 else 500])
    errors: list[dict[str, Any]] | None = None
    if isinstance(exc, ValidationException):
        errors = _validation_errors(exc) or None
        status = 400
        title, detail = DUTCH_HTTP[400]
        detail = N_(
            "De invoer is ongeldig of onvolledig. Controleer de velden en probeer het opnieuw."
        )
        if exc.detail == ID_OUT_OF_RANGE:
            detail = exc.detail
    elif isinstance(exc, NotAuthorizedException):
        title, detail = DUTCH_HTTP[401]
    elif isinstance(exc, PermissionDeniedException):
        title, detail = DUTCH_HTTP[403]
    elif isinstance(exc, NotFoundException):
        title, detail = DUTCH_HTTP[404]
    elif isinstance(exc, RequestRefused):
        detail = exc.detail  # already Dutch (or the request's language)
    return problem_response(
        request, status=status, title=title, detail=detail, errors=errors, headers=exc.headers
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Log the exception type and path only: never request bodies (passwords, codes, ballots).
    logger.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc
    )
    title, detail = DUTCH_HTTP[500]
    return problem_response(
        request, status=HTTP_500_INTERNAL_SERVER_ERROR, title=title, detail=detail
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
