"""The round form without JavaScript: add and remove district and theme rows without saving,
and fields that belong to one ballot type marked as such."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.rounds.forms import apply_row_command
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, csrf_token, make_user
from tests.rounds.factories import db_counts
from tests.rounds.test_pages import NEW_ROUND

Client = TestClient[Litestar]


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    user = make_user(settings, "beheer@gemeente.nl", roles=(Role.ADMIN,))
    return bearer(settings, user, staff=True)


def _names(html: str, kind: str) -> list[str]:
    return re.findall(rf'name="{kind}_name_\d+" value="([^"]*)"', html)


def test_add_a_district_row_without_saving(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw",
        data={**NEW_ROUND, "action": "add_district", "_csrf_token": csrf_token(client)},
        headers=admin,
    )
    assert response.status_code == 200
    assert _names(response.text, "district") == ["Noord", "Zuid", "", ""]
    assert _names(response.text, "theme") == ["Mantelzorg", "Schuldhulp"]
    assert 'value="120.000"' in response.text  # everything typed stays
    assert "foutoverzicht" not in response.text
    assert db_counts(settings, "rounds")["rounds"] == 0


def test_remove_a_row_shifts_the_rest_up_without_saving(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    response = client.post(
        "/beheer/rondes/nieuw",
        data={**NEW_ROUND, "action": "remove_district_0", "_csrf_token": csrf_token(client)},
        headers=admin,
    )
    assert response.status_code == 200
    assert _names(response.text, "district") == ["Zuid", ""]
    assert 'name="district_budget_0" value="50.000,00"' in response.text
    assert db_counts(settings, "rounds")["rounds"] == 0
    saved = client.post(
        "/beheer/rondes/nieuw",
        data={**NEW_ROUND, "_csrf_token": csrf_token(client)},
        headers=admin,
        follow_redirects=False,
    )
    assert saved.status_code == 303  # no action: the form saves as before
    assert db_counts(settings, "rounds")["rounds"] == 1


def test_apply_row_command_keeps_hidden_ids_with_their_rows() -> None:
    raw = {
        "district_id_0": "7",
        "district_name_0": "Noord",
        "district_eligible_0": "1",
        "district_id_1": "8",
        "district_name_1": "Zuid",
        "theme_id_0": "3",
        "theme_name_0": "Armoede",
    }
    result = apply_row_command(raw, "remove_district_0")
    assert result is not None
    values, counts = result
    assert values["district_id_0"] == "8"
    assert values["district_name_0"] == "Zuid"
    assert "district_eligible_0" not in values  # Zuid's box was not ticked
    assert "district_id_1" not in values
    assert counts == {"district": 1, "theme": 1}
    assert apply_row_command(raw, "remove_district_9") is None
    assert apply_row_command(raw, "opslaan") is None
    assert apply_row_command(raw, "add_theme") == (raw, {"district": 2, "theme": 2})


def test_ballot_type_fields_are_marked_for_their_type(
    client: Client, admin: dict[str, str]
) -> None:
    html = client.get("/beheer/rondes/nieuw", headers=admin).text
    assert 'class="bb-ballot-field bb-ballot-field--approval"' in html
    assert 'class="bb-ballot-field bb-ballot-field--cumulative"' in html
    # Enter in a field saves: the first submit button of the form is the (hidden) save button
    form = html[html.index('id="rondeformulier"') :]
    first_button = re.search(r"<button[^>]*>", form)
    assert first_button is not None
    assert 'name="action"' not in first_button.group(0)
