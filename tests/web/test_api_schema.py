"""The OpenAPI document tells the truth: schemathesis against every operation, as every role.

Generic over the routes: the operations come from the served document (``web/openapi.py``), so
routes that other features add are tested without being listed here. Per backend and role, each
operation gets ``EXAMPLES`` generated requests (valid and invalid ones); half of them have their
path ids pinned to rows that exist (a round, a proposal, users), so requests get past "not found".
Checks: no 5xx, every status documented, bodies and content types as documented, schema-invalid
input refused (``negative_data_rejection``), the documented security honoured (``ignored_auth``).
``positive_data_acceptance`` is left out: business rules (an empty e-mail address, an unknown
theme) refuse requests the schema alone cannot describe, with a documented 422.

The whole file takes about a minute on two cores (``EXAMPLES`` bounds it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis.specs.openapi.checks import positive_data_acceptance

from burgerbegroting.app import create_app
from burgerbegroting.settings import Settings
from burgerbegroting.web.middleware import _int_query_names
from burgerbegroting.web.openapi import _handlers
from tests.accounts.factories import bearer
from tests.conftest import make_settings
from tests.proposals.factories import create_proposal, make_people, make_round

EXAMPLES = 10
ROLES = ("anonymous", "resident", "moderator", "admin")


def _seeded_app(database_url: str, var_dir: Any) -> tuple[Settings, Litestar, dict[str, int]]:
    # schemathesis sends Host: testserver.
    settings = make_settings(
        database_url, var_dir, allowed_hosts=("testserver", "testserver.local")
    )
    app = create_app(settings)
    people = make_people(settings)
    ids = make_round(settings)
    with TestClient(app=app, base_url="http://testserver.local") as client:
        proposal = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    known = {
        "round_id": ids.round_id,
        "proposal_id": int(proposal["id"]),
        "user_id": people.resident,
        "invitation_id": 1,
    }
    users = {"resident": people.resident, "moderator": people.moderator, "admin": people.admin}
    return settings, app, {**known, **{f"user:{k}": v for k, v in users.items()}}


def _exercise(
    operation: Any, role: str, settings: Settings, known: dict[str, int], failures: list[str]
) -> None:
    """Send ``EXAMPLES`` generated requests to ``operation``; collect every failed check."""

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(), pin=st.booleans())
    def run(case: Any, pin: bool) -> None:
        if pin and case.path_parameters:
            for name in list(case.path_parameters):
                if name in known:
                    case.path_parameters[name] = known[name]
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if role != "anonymous":
            # A fresh token per request: the logout operation revokes the one it is sent.
            headers |= bearer(settings, known[f"user:{role}"], staff=role != "resident")
        case.headers = headers
        try:
            # 60 s, not schemathesis' 10: on a loaded 2-core machine one PostgreSQL request once
            # took longer, and a timeout is not what this test is about.
            case.call_and_validate(excluded_checks=[positive_data_acceptance], timeout=60)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected, reported
            failures.append(f"{operation.label} as {role}: {str(error)[:1500]}")

    run()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(database_url: str, tmp_path: Any, role: str) -> None:
    settings, app, known = _seeded_app(database_url, tmp_path / "var")
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the document lost its operations"
    for operation in operations:
        _exercise(operation, role, settings, known, failures)
    assert not failures, f"{len(failures)} failures, the first ones:\n\n" + "\n\n".join(
        failures[:5]
    )


def test_the_document_states_security_errors_and_types(client: TestClient[Litestar]) -> None:
    """Before: every operation needed a login, answered 200/400 only, and the definition was a
    string."""
    doc = client.get("/schema/openapi.json").json()
    assert "security" not in doc
    paths = doc["paths"]
    assert paths["/api/v1/rounds"]["get"]["security"] == []
    assert paths["/api/v1/rounds"]["post"]["security"] == [{"BearerToken": []}]
    assert doc["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    definition = paths["/api/v1/rounds/{round_id}/definition"]["get"]["responses"]
    assert definition["200"]["content"]["application/json"]["schema"]["type"] == "object"
    assert "409" in definition
    patch = paths["/api/v1/rounds/{round_id}"]["patch"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "415", "422"} <= set(patch)
    problem = patch["422"]["content"]["application/problem+json"]["schema"]["$ref"]
    assert problem.endswith("/ProblemDetails")
    export = paths["/api/v1/rounds/{round_id}/proposals/export"]["get"]["responses"]["200"]
    assert {"application/json", "text/csv"} <= set(export["content"])


def _query_parameters(operation: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def test_the_document_lists_every_query_parameter(client: TestClient[Litestar]) -> None:
    """schemathesis generates query strings only from the document: a query parameter the
    document left out would never be fuzzed (an id beyond the column range there was a 500).
    Every query parameter Litestar found in a handler's signature is in the served document, and
    every integer one that ``IdRangeMiddleware`` range-checks is documented as an integer."""
    app = client.app
    generated = app.openapi_schema.to_schema()["paths"]
    served = client.get("/schema/openapi.json").json()["paths"]
    found = 0
    for (path, method), handler in _handlers(app).items():
        if path not in served or method not in served[path]:
            continue
        documented = _query_parameters(served[path][method])
        wanted = set(_query_parameters(generated.get(path, {}).get(method, {})))
        assert wanted <= set(documented), f"{method} {path}: {wanted - set(documented)}"
        for name in _int_query_names(handler):
            schema = json.dumps(documented[name]["schema"])
            assert '"integer"' in schema, f"{method} {path} {name}: {schema}"
        found += len(wanted)
    assert found >= 10
    assert "round" in _query_parameters(served["/api/v1/review/proposals"]["get"])
    assert {"page", "per_page", "subject_id"} <= set(
        _query_parameters(served["/api/v1/audit-log"]["get"])
    )
