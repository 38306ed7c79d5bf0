"""Fuzzing the rounds API with Hypothesis: whatever JSON body an admin sends to
``POST /api/v1/rounds``, ``PATCH /api/v1/rounds/{id}`` or ``POST …/phase``, the answer is a 2xx or a
4xx problem-details response with a Dutch ``detail``, never a 5xx; a refused body writes nothing.

Bodies are built from the schema's own field names (so most reach the service's checks rather than
msgspec's unknown-field refusal) with values of every JSON type, including numbers beyond int64,
non-ASCII digits, control characters and over-long text.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.rounds.schemas import RoundCreate, RoundPatch
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.rounds.factories import api_round_data, db_rows

Client = TestClient[Litestar]
TABLES = ("rounds", "districts", "themes", "audit_log")
FUZZ = settings(
    max_examples=int(os.environ.get("BB_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "١٢", "²", "\x00", "x" * 20_001, "2027-03-01T09:00:00+01:00"]),
    st.sampled_from(["knapsack", "approval", "choose-1", "city", "districts", "greedy", "mes"]),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63, 2**64, 10**11, 1000, 1001, 121]),
    st.floats(allow_nan=False, allow_infinity=False),
)
times = st.one_of(
    st.sampled_from(
        [
            "2027-01-10T09:00:00Z",
            "2027-03-11T09:00:00+01:00",
            "2027-03-11T09:00:00",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2027-02-30T09:00:00Z",
            "morgen",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts, times)
rows = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "name", "budget_cents", "max_spend_cents", "eligible", "kleur"]),
        scalars,
        max_size=4,
    ),
    max_size=4,
)
values = st.one_of(scalars, rows, st.lists(scalars, max_size=3))


def body_for(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), values, max_size=8)


CREATE_FIELDS = tuple(RoundCreate.__struct_fields__)
PATCH_FIELDS = tuple(RoundPatch.__struct_fields__)


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return bearer(settings, make_user(settings, "fuzz@example.nl", roles=(Role.ADMIN,)), staff=True)


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"]


def test_create_never_answers_5xx(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    @FUZZ
    @given(overrides=body_for(CREATE_FIELDS))
    def run(overrides: dict[str, Any]) -> None:
        before = db_rows(settings, *TABLES)
        response = client.post("/api/v1/rounds", json=api_round_data(**overrides), headers=admin)
        _check(response)
        if response.status_code >= 400:
            assert db_rows(settings, *TABLES) == before

    run()


def test_patch_and_phase_moves_never_answer_5xx(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    created = client.post("/api/v1/rounds", json=api_round_data(), headers=admin)
    assert created.status_code == 201
    url = f"/api/v1/rounds/{created.json()['id']}"

    @FUZZ
    @given(
        body=body_for(PATCH_FIELDS),
        phase=st.one_of(scalars, st.sampled_from(["submission", "review", "voting"])),
    )
    def run(body: dict[str, Any], phase: Any) -> None:
        before = db_rows(settings, *TABLES)
        response = client.patch(url, json=body, headers=admin)
        _check(response)
        if response.status_code >= 400:
            assert db_rows(settings, *TABLES) == before
        _check(client.post(f"{url}/phase", json={"phase": phase, "reason": "x"}, headers=admin))

    run()
