"""Fuzzing the proposals API with Hypothesis: whatever a resident or moderator sends (bodies built
from the schemas' own field names, values of every JSON type, ids beyond the id columns' range, control
characters, over-long text) and whatever the gallery's query string holds, the answer is a 2xx or
a 4xx problem-details response, never a 5xx; a refused request writes nothing.

The value strategies are those of ``tests/rounds/test_fuzz.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.proposals.schemas import (
    CoauthorInvite,
    MergeRequest,
    ProposalCreate,
    ProposalUpdate,
    ReviewRequest,
)
from burgerbegroting.settings import Settings
from tests.proposals.factories import (
    People,
    RoundIds,
    create_proposal,
    make_people,
    make_round,
    valid_body,
)
from tests.rounds.factories import db_rows
from tests.rounds.test_fuzz import FUZZ, _check, scalars, texts, values

# Every row, not counts: a refused PATCH that changed a row would pass a count comparison.
TABLES = ("proposals", "proposal_authors", "proposal_supports", "audit_log")

Client = TestClient[Litestar]


def body_for(schema: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(tuple(schema.__struct_fields__)), values, max_size=6)


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


@pytest.fixture
def ids(settings: Settings) -> RoundIds:
    return make_round(settings)


def _refused_writes_nothing(
    settings: Settings, response: Any, before: dict[str, list[tuple[str, ...]]]
) -> None:
    _check(response)
    if response.status_code >= 400:
        assert db_rows(settings, *TABLES) == before


def test_submitting_and_editing_never_answer_5xx(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    resident = people.headers(settings, "resident")
    created = create_proposal(client, settings, ids, resident)

    @FUZZ
    @given(create=body_for(ProposalCreate), patch=body_for(ProposalUpdate))
    def run(create: dict[str, Any], patch: dict[str, Any]) -> None:
        before = db_rows(settings, *TABLES)
        response = client.post(
            f"/api/v1/rounds/{ids.round_id}/proposals",
            json=valid_body(ids, **create),
            headers=resident,
        )
        _refused_writes_nothing(settings, response, before)
        before = db_rows(settings, *TABLES)
        response = client.patch(f"/api/v1/proposals/{created['id']}", json=patch, headers=resident)
        _refused_writes_nothing(settings, response, before)

    run()


def test_review_merge_and_invitations_never_answer_5xx(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    first = create_proposal(client, settings, ids, people.headers(settings, "resident"))
    mod = people.headers(settings, "moderator")
    resident = people.headers(settings, "resident")

    @FUZZ
    @given(
        review=body_for(ReviewRequest),
        merge=body_for(MergeRequest),
        invite=body_for(CoauthorInvite),
        accept=st.dictionaries(
            st.sampled_from(["token", "invitation_id", "organisation_name"]), scalars, max_size=3
        ),
    )
    def run(
        review: dict[str, Any],
        merge: dict[str, Any],
        invite: dict[str, Any],
        accept: dict[str, Any],
    ) -> None:
        url = f"/api/v1/proposals/{first['id']}"
        for method, path, body, headers in (
            ("POST", f"{url}/review", review, mod),
            ("POST", f"{url}/merge", merge, mod),
            ("POST", f"{url}/coauthors", invite, resident),
            ("POST", "/api/v1/invitations/accept", accept, people.headers(settings, "other")),
            ("POST", "/api/v1/invitations/decline", accept, people.headers(settings, "other")),
        ):
            before = db_rows(settings, *TABLES)
            response = client.request(method, path, json=body, headers=headers)
            _refused_writes_nothing(settings, response, before)

    run()


def test_gallery_query_strings_never_answer_5xx(client: Client, ids: RoundIds) -> None:
    # The test client refuses URLs past 64 kB itself; the app's own limit on q is 200 characters.
    query_texts = st.one_of(texts.filter(lambda t: len(t) < 2_000), st.just("x" * 1_500))
    params = st.dictionaries(
        st.sampled_from(["theme", "district", "status", "q", "sort", "page", "city_wide"]),
        st.one_of(query_texts, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
        max_size=5,
    )
    page_params = st.dictionaries(
        st.sampled_from(["thema", "wijk", "status", "q", "sorteer", "pagina"]),
        st.one_of(query_texts, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
        max_size=5,
    )

    @FUZZ
    @given(api=params, page=page_params)
    def run(api: dict[str, str], page: dict[str, str]) -> None:
        _check(client.get(f"/api/v1/rounds/{ids.round_id}/proposals", params=api))
        response = client.get(f"/rondes/{ids.round_id}/voorstellen", params=page)
        assert response.status_code < 500, response.text

    run()
