"""Fuzzing the override API and form with Hypothesis: whatever an admin sends, the answer is a 2xx
or a 4xx with a Dutch message, never a 5xx, and a refusal writes no override and no audit line.
Values and settings are those of ``tests/rounds/test_fuzz.py``."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.results.schemas import OverrideIn
from burgerbegroting.settings import Settings
from tests.accounts.factories import csrf_token
from tests.results.helpers import cast
from tests.rounds.test_fuzz import FUZZ, _check, texts, values
from tests.voting.factories import admin_headers, close, issue_codes, open_round, scalar

FIELDS = tuple(OverrideIn.__struct_fields__)


def _rows(settings: Settings) -> tuple[int, int]:
    return (
        int(scalar(settings, "SELECT count(*) FROM result_overrides")),
        int(scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'results.override'")),
    )


def test_override_bodies_and_forms_never_answer_5xx(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    code = issue_codes(settings, vr, 1)[0]
    cast(client, vr.round_id, code, {"projects": [vr.projects[0]]})
    close(settings, vr)
    admin = admin_headers(settings, vr)
    token = csrf_token(client)

    @FUZZ
    @given(
        body=st.dictionaries(st.sampled_from((*FIELDS, "extra")), values, max_size=4),
        form=st.dictionaries(st.sampled_from((*FIELDS, "extra")), texts, max_size=4),
    )
    def run(body: dict[str, Any], form: dict[str, str]) -> None:
        before = _rows(settings)
        response = client.post(
            f"/api/v1/rounds/{vr.round_id}/results/overrides", json=body, headers=admin
        )
        _check(response)
        if response.status_code >= 400:
            assert _rows(settings) == before
        before = _rows(settings)
        page = client.post(
            f"/rondes/{vr.round_id}/uitslag/correcties",
            data={"_csrf_token": token, **form},
            headers={**admin, "x-csrftoken": token},
            follow_redirects=False,
        )
        assert page.status_code < 500, page.text
        if page.status_code >= 400:
            assert _rows(settings) == before

    run()
