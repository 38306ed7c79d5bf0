"""What the proposal pages share: reading a posted form strictly, Dutch euro amounts, the field
labels, turning a domain error into form errors and a status, and the request's user and settings.

Used by ``pages.py``, ``coauthor_pages.py`` and ``review_pages.py``; this module has no routes.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request

from burgerbegroting.accounts.auth import CurrentUser, current_user
from burgerbegroting.accounts.guards import require_roles
from burgerbegroting.accounts.roles import Role
from burgerbegroting.errors import DomainError, ValidationFailed
from burgerbegroting.i18n import lazy_gettext as N_  # noqa: N812 - the gettext convention
from burgerbegroting.web.errors import STATUS_FOR_ERROR
from burgerbegroting.web.forms import read_fields

AnyRequest = Request[Any, Any, Any]
resident_only = require_roles(Role.RESIDENT)

_FORM_LIMIT = 20_000  # characters per form value; the service's own limits are below this

FIELD_LABELS: dict[str, str] = {
    "title": N_("Titel"),
    "summary": N_("Samenvatting"),
    "description": N_("Beschrijving"),
    "theme_id": N_("Thema"),
    "district_id": N_("Wijk"),
    "estimated_cost_cents": N_("Geschatte kosten"),
    "estimated_cost": N_("Geschatte kosten"),
    "societal_effect": N_("Beoogd maatschappelijk effect"),
    "target_group": N_("Doelgroep"),
    "location": N_("Locatie"),
    "organisation_name": N_("Naam organisatie"),
    "email": N_("E-mailadres"),
    "message": N_("Persoonlijk bericht"),
    "decision": N_("Besluit"),
    "municipal_cost_cents": N_("Kostenraming gemeente"),
    "municipal_cost": N_("Kostenraming gemeente"),
    "feasibility_notes": N_("Haalbaarheid (intern)"),
    "public_reasoning": N_("Openbare toelichting"),
    "into_id": N_("Samenvoegen met"),
    "reason": N_("Reden"),
}
# Field names in the forms where they differ from the service's (error links point at inputs).
FORM_FIELD_FOR = {
    "estimated_cost_cents": "estimated_cost",
    "municipal_cost_cents": "municipal_cost",
}


async def read_form(request: AnyRequest, fields: frozenset[str]) -> dict[str, str]:
    """A proposals form's ``fields`` (``web.forms.read_fields`` with this feature's limit)."""
    return await read_fields(request, fields, limit=_FORM_LIMIT)


_EURO = re.compile(r"^([0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,([0-9]{1,2}))?$")


def parse_euro(raw: str, field: str) -> int | None:
    """Dutch amounts to cents: "1250", "1.250", "1.250,50", "€ 1250,5". Empty is None.

    No floats: the euros and cents are read as separate integers.
    """
    text = raw.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if not text:
        return None
    if text.startswith("-"):
        raise ValidationFailed(
            "Controleer de gemarkeerde velden.",
            fields={field: "Het bedrag moet groter zijn dan nul."},
        )
    match = _EURO.match(text)
    if match is None or len(text) > 20:
        raise ValidationFailed(
            "Controleer de gemarkeerde velden.",
            fields={field: "Geef een bedrag in euro, bijvoorbeeld 12.500 of 12.500,50."},
        )
    euros = int(match.group(1).replace(".", ""))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    return euros * 100 + cents


def format_euro_input(cents: int | None) -> str:
    """Cents as the form shows them back: 125050 -> "1250,50"."""
    if cents is None:
        return ""
    euros, rest = divmod(cents, 100)
    return f"{euros},{rest:02d}" if rest else str(euros)


def status_for(error: DomainError) -> int:
    for cls, status, _title in STATUS_FOR_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def form_errors(error: DomainError) -> dict[str, str]:
    if not error.fields:
        return {"": error.message}
    return {FORM_FIELD_FOR.get(k, k): v for k, v in error.fields.items()}


def request_user(request: AnyRequest) -> CurrentUser:
    user = current_user(request)
    assert user is not None  # guarded
    return user


def bad_form_error() -> ValidationFailed:
    return ValidationFailed(
        "Het formulier bevat velden die wij niet kennen of niet verwachten. Probeer het opnieuw."
    )
