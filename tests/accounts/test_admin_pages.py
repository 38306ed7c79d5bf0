"""Admins manage staff: invite by e-mail, grant and revoke roles, close and reopen; all logged."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import (
    RESIDENT_PASSWORD,
    bearer,
    csrf_token,
    mail_text,
    mails,
    make_user,
    scalar,
)

Client = TestClient[Litestar]


@pytest.fixture
def admin_id(settings: Settings) -> int:
    return make_user(settings, "beheer@gemeente.nl", roles=(Role.ADMIN,), display_name="Bea")


@pytest.fixture
def admin(settings: Settings, admin_id: int) -> dict[str, str]:
    return bearer(settings, admin_id, staff=True)


def _post(client: Client, path: str, data: dict[str, str], headers: dict[str, str]) -> Any:
    return client.post(
        path,
        data={**data, "_csrf_token": csrf_token(client)},
        headers=headers,
        follow_redirects=False,
    )


def _roles(settings: Settings, user_id: int) -> set[str]:
    raw = (
        scalar(settings, f"SELECT group_concat(role) FROM user_roles WHERE user_id = {user_id}")
        if "sqlite" in settings.database_url
        else scalar(
            settings, f"SELECT string_agg(role, ',') FROM user_roles WHERE user_id = {user_id}"
        )
    )
    return set(str(raw).split(",")) if raw else set()


def _log_actions(settings: Settings) -> int:
    return int(scalar(settings, "SELECT count(*) FROM audit_log WHERE action LIKE 'user.%'"))


def test_only_admins_reach_the_user_pages(client: Client, settings: Settings) -> None:
    moderator = bearer(
        settings, make_user(settings, "toetser@gemeente.nl", roles=(Role.MODERATOR,)), staff=True
    )
    assert client.get("/beheer/gebruikers", headers=moderator).status_code == 403
    assert _post(client, "/beheer/gebruikers/uitnodigen", {}, moderator).status_code == 403


def test_inviting_staff_sends_a_link_that_sets_the_password_and_confirms(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    response = _post(
        client,
        "/beheer/gebruikers/uitnodigen",
        {"display_name": "Tim Toetser", "email": "Tim@Gemeente.nl", "rol_moderator": "1"},
        admin,
    )
    assert response.status_code == 303, response.text
    new_id = int(scalar(settings, "SELECT id FROM users WHERE email = 'tim@gemeente.nl'"))
    assert _roles(settings, new_id) == {"moderator"}
    assert scalar(settings, f"SELECT confirmed_at FROM users WHERE id = {new_id}") is None
    assert _log_actions(settings) == 1
    assert scalar(settings, "SELECT action FROM audit_log") == "user.invite"
    assert "Medewerker uitgenodigd" in client.get("/beheer/logboek", headers=admin).text
    mail = mails(settings)[-1]
    assert mail["To"] == "tim@gemeente.nl"
    token = re.search(r"/wachtwoord-herstellen\?token=(\S+)", mail_text(mail))
    assert token is not None
    short = _post(
        client, "/wachtwoord-herstellen", {"token": token.group(1), "password": "kort-8-tek"}, {}
    )
    assert short.status_code == 422  # staff need 12 characters
    done = _post(
        client,
        "/wachtwoord-herstellen",
        {"token": token.group(1), "password": "een-lang-medewerkerswachtwoord"},
        {},
    )
    assert done.status_code == 303
    assert scalar(settings, f"SELECT confirmed_at FROM users WHERE id = {new_id}") is not None
    listing = client.get("/beheer/gebruikers", headers=admin).text
    assert "Tim Toetser" in listing


def test_invite_errors_are_listed_and_nothing_is_stored(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    make_user(settings, "anna@example.nl")
    empty = _post(
        client, "/beheer/gebruikers/uitnodigen", {"display_name": "", "email": "x"}, admin
    )
    assert empty.status_code == 422
    for field in ("display_name", "email", "rol_moderator"):
        assert f'id="{field}-fout"' in empty.text, field
    taken = _post(
        client,
        "/beheer/gebruikers/uitnodigen",
        {"display_name": "Anna", "email": "anna@example.nl", "rol_admin": "1"},
        admin,
    )
    assert taken.status_code == 409
    assert _log_actions(settings) == 0
    assert mails(settings) == []


def test_granting_and_revoking_roles_is_logged_with_the_reason(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    anna = make_user(settings, "anna@example.nl")
    resident_session = bearer(settings, anna)
    no_reason = _post(
        client,
        f"/beheer/gebruikers/{anna}/rollen",
        {"rol_resident": "1", "rol_council": "1"},
        admin,
    )
    assert no_reason.status_code == 422
    assert _roles(settings, anna) == {"resident"}
    ok = _post(
        client,
        f"/beheer/gebruikers/{anna}/rollen",
        {"rol_resident": "1", "rol_council": "1", "reason": "Gekozen in de raad"},
        admin,
    )
    assert ok.status_code == 303
    assert _roles(settings, anna) == {"resident", "council"}
    assert client.get("/api/v1/auth/me", headers=resident_session).status_code == 401
    log = client.get("/beheer/logboek", headers=admin).text
    assert "Rollen gewijzigd" in log
    assert "Gekozen in de raad" in log
    assert re.search(r"Rollen: inwoner .*→.* raadslid, inwoner", log, flags=re.S)


def test_an_admin_cannot_lock_the_municipality_out(
    client: Client, settings: Settings, admin: dict[str, str], admin_id: int
) -> None:
    own = _post(
        client,
        f"/beheer/gebruikers/{admin_id}/rollen",
        {"rol_moderator": "1", "reason": "test"},
        admin,
    )
    assert own.status_code == 409
    close_own = _post(client, f"/beheer/gebruikers/{admin_id}/sluiten", {"reason": "x"}, admin)
    assert close_own.status_code == 409
    assert _roles(settings, admin_id) == {"admin"}


def test_closing_an_account_ends_its_sessions_and_login_until_reopened(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    anna = make_user(settings, "anna@example.nl")
    session = bearer(settings, anna)
    assert client.get("/api/v1/auth/me", headers=session).status_code == 200
    closed = _post(client, f"/beheer/gebruikers/{anna}/sluiten", {"reason": "Op verzoek"}, admin)
    assert closed.status_code == 303
    assert client.get("/api/v1/auth/me", headers=session).status_code == 401
    login = {"email": "anna@example.nl", "password": RESIDENT_PASSWORD, "next_path": "/"}
    assert _post(client, "/inloggen", login, {}).status_code == 403
    assert (
        _post(client, "/wachtwoord-vergeten", {"email": "anna@example.nl"}, {}).status_code == 303
    )
    assert mails(settings) == []  # a closed account gets no reset link
    reopened = _post(client, f"/beheer/gebruikers/{anna}/heropenen", {"reason": "Terug"}, admin)
    assert reopened.status_code == 303
    assert _post(client, "/inloggen", login, {}).status_code == 303
    assert _log_actions(settings) == 2


def test_closing_needs_a_reason_and_changes_nothing_without_one(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    anna = make_user(settings, "anna@example.nl")
    session = bearer(settings, anna)
    response = _post(client, f"/beheer/gebruikers/{anna}/sluiten", {"reason": "  "}, admin)
    assert response.status_code == 422
    assert scalar(settings, f"SELECT deactivated_at FROM users WHERE id = {anna}") is None
    assert client.get("/api/v1/auth/me", headers=session).status_code == 200
    assert _log_actions(settings) == 0


def test_an_invitation_needs_a_staff_role(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    response = _post(
        client,
        "/beheer/gebruikers/uitnodigen",
        {"display_name": "Rik", "email": "rik@example.nl", "rol_resident": "1"},
        admin,
    )
    assert response.status_code == 422
    assert "Kies minstens één rol voor een medewerker." in response.text
    assert scalar(settings, "SELECT count(*) FROM users WHERE email = 'rik@example.nl'") == 0
    assert mails(settings) == []


def test_the_user_list_shows_staff_and_finds_residents_only_by_search(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    make_user(settings, "toetser@gemeente.nl", roles=(Role.MODERATOR,), display_name="Tim")
    make_user(settings, "anna@example.nl", display_name="Anna de Vries")
    listing = client.get("/beheer/gebruikers", headers=admin).text
    assert "toetser@gemeente.nl" in listing
    assert "anna@example.nl" not in listing
    found = client.get("/beheer/gebruikers?q=Vries", headers=admin).text
    assert "anna@example.nl" in found
    assert "toetser@gemeente.nl" not in found


def test_saving_the_same_roles_logs_nothing_and_keeps_sessions(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    anna = make_user(settings, "anna@example.nl")
    session = bearer(settings, anna)
    same = _post(
        client,
        f"/beheer/gebruikers/{anna}/rollen",
        {"rol_resident": "1", "reason": "Niets veranderd"},
        admin,
    )
    assert same.status_code == 303
    assert _log_actions(settings) == 0
    assert client.get("/api/v1/auth/me", headers=session).status_code == 200


def test_a_reason_longer_than_1000_characters_is_refused(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    anna = make_user(settings, "anna@example.nl")
    too_long = _post(
        client,
        f"/beheer/gebruikers/{anna}/rollen",
        {"rol_resident": "1", "rol_council": "1", "reason": "x" * 1001},
        admin,
    )
    assert too_long.status_code == 422
    assert _roles(settings, anna) == {"resident"}
    just_fits = _post(
        client,
        f"/beheer/gebruikers/{anna}/rollen",
        {"rol_resident": "1", "rol_council": "1", "reason": "x" * 1000},
        admin,
    )
    assert just_fits.status_code == 303
    assert _roles(settings, anna) == {"resident", "council"}


def test_a_session_from_before_closing_stays_ended_after_reopening(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    anna = make_user(settings, "anna@example.nl")
    before = bearer(settings, anna)
    assert (
        _post(
            client, f"/beheer/gebruikers/{anna}/sluiten", {"reason": "Misbruik"}, admin
        ).status_code
        == 303
    )
    assert (
        _post(
            client, f"/beheer/gebruikers/{anna}/heropenen", {"reason": "Opgelost"}, admin
        ).status_code
        == 303
    )
    assert client.get("/api/v1/auth/me", headers=before).status_code == 401
