"""Forgotten password and "Mijn account": name, e-mail address, password, my data, deleting."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text

from burgerbegroting.accounts import recovery, selfservice
from burgerbegroting.accounts.auth import CurrentUser
from burgerbegroting.accounts.models import User
from burgerbegroting.accounts.roles import Role
from burgerbegroting.db import utcnow
from burgerbegroting.proposals import invitations
from burgerbegroting.settings import Settings
from tests.accounts.factories import (
    RESIDENT_PASSWORD,
    STAFF_PASSWORD,
    bearer,
    csrf_token,
    mail_text,
    mails,
    make_user,
    scalar,
)
from tests.proposals.factories import create_proposal, make_round, run

Client = TestClient[Litestar]
NEW_PASSWORD = "een-heel-nieuw-wachtwoord"


def _post(client: Client, path: str, data: dict[str, str]) -> Any:
    return client.post(
        path, data={**data, "_csrf_token": csrf_token(client)}, follow_redirects=False
    )


def _login(client: Client, email: str, password: str = RESIDENT_PASSWORD) -> None:
    response = _post(client, "/inloggen", {"email": email, "password": password, "next_path": "/"})
    assert response.status_code == 303, response.text
    # As a browser does: follow the redirect, which hands out the session's own CSRF token.
    client.get(response.headers["location"])


def _logged_in(client: Client) -> bool:
    return client.get("/mijn-account", follow_redirects=False).status_code == 200


def _link(settings: Settings, path: str) -> str:
    match = re.search(rf"{re.escape(path)}\?token=(\S+)", mail_text(mails(settings)[-1]))
    assert match is not None
    return match.group(1)


@pytest.fixture
def anna(settings: Settings) -> int:
    return make_user(settings, "anna@example.nl", display_name="Anna de Vries")


# --- forgotten password ----------------------------------------------------------------------


def test_forgotten_password_does_not_tell_whether_an_address_has_an_account(
    client: Client, settings: Settings, anna: int
) -> None:
    known = _post(client, "/wachtwoord-vergeten", {"email": "Anna@Example.nl"})
    unknown = _post(client, "/wachtwoord-vergeten", {"email": "niemand@example.nl"})
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    assert known.content == unknown.content
    sent = mails(settings)
    assert [m["To"] for m in sent] == ["anna@example.nl"]  # one mail, to the real account only
    page = client.get(known.headers["location"]).text
    assert "Als er een account is met dit e-mailadres" in page


def test_an_unconfirmed_account_gets_no_reset_link_but_the_same_answer(
    client: Client, settings: Settings
) -> None:
    make_user(settings, "nog-niet@example.nl", confirmed=False)
    response = _post(client, "/wachtwoord-vergeten", {"email": "nog-niet@example.nl"})
    assert response.status_code == 303
    assert response.headers["location"] == "/wachtwoord-vergeten/verstuurd"
    assert mails(settings) == []  # it confirms its address first (registering again)


def _me(client: Client, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/auth/me", headers=headers).status_code)


def test_a_reset_link_works_once_and_ends_every_session(
    client: Client, settings: Settings, anna: int
) -> None:
    laptop = bearer(settings, anna)  # a session on another device
    assert _me(client, laptop) == 200
    _post(client, "/wachtwoord-vergeten", {"email": "anna@example.nl"})
    token = _link(settings, "/wachtwoord-herstellen")
    form = client.get(f"/wachtwoord-herstellen?token={token}")
    assert form.status_code == 200
    assert 'name="token"' in form.text
    done = _post(client, "/wachtwoord-herstellen", {"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 303
    assert done.headers["location"] == "/wachtwoord-herstellen/klaar"
    assert _me(client, laptop) == 401  # the other device's session ended
    again = _post(client, "/wachtwoord-herstellen", {"token": token, "password": "nog-een-ander-1"})
    assert again.status_code == 422
    assert "al gebruikt of verlopen" in again.text
    old = {"email": "anna@example.nl", "password": RESIDENT_PASSWORD, "next_path": "/"}
    assert _post(client, "/inloggen", old).status_code == 401
    _login(client, "anna@example.nl", NEW_PASSWORD)  # the new password is accepted


def test_a_too_short_new_password_keeps_the_link_usable(
    client: Client, settings: Settings, anna: int
) -> None:
    _post(client, "/wachtwoord-vergeten", {"email": "anna@example.nl"})
    token = _link(settings, "/wachtwoord-herstellen")
    short = _post(client, "/wachtwoord-herstellen", {"token": token, "password": "kort"})
    assert short.status_code == 422
    assert f'value="{token}"' in short.text
    ok = _post(client, "/wachtwoord-herstellen", {"token": token, "password": NEW_PASSWORD})
    assert ok.status_code == 303


def test_expired_forged_and_confirmation_tokens_are_not_reset_links(
    client: Client, settings: Settings, anna: int
) -> None:
    async def user(session: Any) -> User:
        found = await session.get(User, anna)
        assert found is not None
        return found

    row = run(settings, user)
    expired = recovery.issue_reset_token(settings, row, now=utcnow() - timedelta(hours=2))
    other_key = recovery.issue_reset_token(
        Settings(secret_key="y" * 48, base_url=settings.base_url), row
    )
    for token in (expired, other_key, "", "abc"):
        response = _post(
            client, "/wachtwoord-herstellen", {"token": token, "password": NEW_PASSWORD}
        )
        assert response.status_code == 422, token
    assert scalar(settings, "SELECT sessions_valid_after FROM users") is None


def _anna_row(settings: Settings, anna: int) -> User:
    async def user(session: Any) -> User:
        found = await session.get(User, anna)
        assert found is not None
        return found

    return run(settings, user)


def test_a_reset_link_is_valid_for_sixty_minutes_and_no_longer(
    client: Client, settings: Settings, anna: int
) -> None:
    row = _anna_row(settings, anna)
    too_old = recovery.issue_reset_token(settings, row, now=utcnow() - timedelta(minutes=61))
    still_valid = recovery.issue_reset_token(settings, row, now=utcnow() - timedelta(minutes=58))
    refused = _post(client, "/wachtwoord-herstellen", {"token": too_old, "password": NEW_PASSWORD})
    assert refused.status_code == 422
    assert "al gebruikt of verlopen" in refused.text
    # a dead link is not offered again: the page asks for a new one instead of a password
    assert 'name="password"' not in refused.text
    assert 'href="/wachtwoord-vergeten"' in refused.text
    accepted = _post(
        client, "/wachtwoord-herstellen", {"token": still_valid, "password": NEW_PASSWORD}
    )
    assert accepted.status_code == 303


def test_a_used_reset_link_opens_no_password_form(
    client: Client, settings: Settings, anna: int
) -> None:
    _post(client, "/wachtwoord-vergeten", {"email": "anna@example.nl"})
    token = _link(settings, "/wachtwoord-herstellen")
    assert 'name="password"' in client.get(f"/wachtwoord-herstellen?token={token}").text
    done = _post(client, "/wachtwoord-herstellen", {"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 303
    again = client.get(f"/wachtwoord-herstellen?token={token}")
    assert again.status_code == 422
    assert "al gebruikt of verlopen" in again.text
    assert 'name="password"' not in again.text


def test_a_reset_link_does_not_reopen_or_change_a_closed_account(
    client: Client, settings: Settings, anna: int
) -> None:
    _post(client, "/wachtwoord-vergeten", {"email": "anna@example.nl"})
    token = _link(settings, "/wachtwoord-herstellen")  # sent while the account was open
    hash_before = scalar(settings, f"SELECT password_hash FROM users WHERE id = {anna}")
    closed_at = "now()" if "postgresql" in settings.database_url else "CURRENT_TIMESTAMP"

    async def close(session: Any) -> None:
        await session.execute(
            text(f"UPDATE users SET deactivated_at = {closed_at} WHERE id = {anna}")
        )

    run(settings, close)
    assert client.get(f"/wachtwoord-herstellen?token={token}").status_code == 422
    used = _post(client, "/wachtwoord-herstellen", {"token": token, "password": NEW_PASSWORD})
    assert used.status_code == 422
    assert "al gebruikt of verlopen" in used.text
    assert scalar(settings, f"SELECT password_hash FROM users WHERE id = {anna}") == hash_before
    assert scalar(settings, f"SELECT sessions_valid_after FROM users WHERE id = {anna}") is None


# --- my account ------------------------------------------------------------------------------


def test_account_page_needs_a_login_and_shows_name_and_address(
    client: Client, settings: Settings, anna: int
) -> None:
    anonymous = client.get("/mijn-account", follow_redirects=False)
    assert anonymous.status_code in {302, 303, 401}
    _login(client, "anna@example.nl")
    html = client.get("/mijn-account").text
    assert "Anna de Vries" in html
    assert "anna@example.nl" in html
    assert 'href="/mijn-account"' in html  # the header's name links here


def test_changing_the_name(client: Client, settings: Settings, anna: int) -> None:
    _login(client, "anna@example.nl")
    empty = _post(client, "/mijn-account/naam", {"display_name": "  "})
    assert empty.status_code == 422
    assert 'id="display_name-fout"' in empty.text
    ok = _post(client, "/mijn-account/naam", {"display_name": "Anna V."})
    assert ok.status_code == 303
    assert scalar(settings, f"SELECT display_name FROM users WHERE id = {anna}") == "Anna V."


def test_a_new_address_counts_only_after_its_link_is_used(
    client: Client, settings: Settings, anna: int
) -> None:
    _login(client, "anna@example.nl")
    wrong = _post(
        client, "/mijn-account/e-mail", {"email": "anna@nieuw.nl", "current_password": "fout-fout"}
    )
    assert wrong.status_code == 422
    assert mails(settings) == []
    sent = _post(
        client,
        "/mijn-account/e-mail",
        {"email": "anna@nieuw.nl", "current_password": RESIDENT_PASSWORD},
    )
    assert sent.status_code == 303
    assert mails(settings)[-1]["To"] == "anna@nieuw.nl"
    assert scalar(settings, f"SELECT email FROM users WHERE id = {anna}") == "anna@example.nl"
    token = _link(settings, "/mijn-account/e-mail-bevestigen")
    assert client.get(f"/mijn-account/e-mail-bevestigen?token={token}").status_code == 200
    confirmed = _post(client, "/mijn-account/e-mail-bevestigen", {"token": token})
    assert confirmed.status_code == 303
    assert scalar(settings, f"SELECT email FROM users WHERE id = {anna}") == "anna@nieuw.nl"
    assert mails(settings)[-1]["To"] == "anna@example.nl"  # the old address is told
    reused = _post(client, "/mijn-account/e-mail-bevestigen", {"token": token})
    assert reused.status_code == 422


def test_the_address_form_reports_every_problem_at_once_and_keeps_the_address(
    client: Client, settings: Settings, anna: int
) -> None:
    _login(client, "anna@example.nl")
    response = _post(
        client, "/mijn-account/e-mail", {"email": "geen-adres", "current_password": ""}
    )
    assert response.status_code == 422
    assert 'id="email-fout"' in response.text
    assert 'id="e-mail-wachtwoord-fout"' in response.text
    assert 'value="geen-adres"' in response.text
    assert mails(settings) == []


def test_the_own_address_is_refused_with_its_own_message(
    client: Client, settings: Settings, anna: int
) -> None:
    _login(client, "anna@example.nl")
    response = _post(
        client,
        "/mijn-account/e-mail",
        {"email": "Anna@Example.nl", "current_password": RESIDENT_PASSWORD},
    )
    assert response.status_code == 422
    assert "Dit is al uw e-mailadres." in response.text
    assert mails(settings) == []


def test_an_address_taken_before_its_link_is_used_is_a_conflict_and_nothing_changes(
    client: Client, settings: Settings, anna: int
) -> None:
    _login(client, "anna@example.nl")
    sent = _post(
        client,
        "/mijn-account/e-mail",
        {"email": "anna@nieuw.nl", "current_password": RESIDENT_PASSWORD},
    )
    assert sent.status_code == 303
    token = _link(settings, "/mijn-account/e-mail-bevestigen")
    make_user(settings, "anna@nieuw.nl", display_name="Iemand anders")
    response = _post(client, "/mijn-account/e-mail-bevestigen", {"token": token})
    assert response.status_code == 409
    assert "Er bestaat inmiddels een ander account met dit e-mailadres." in response.text
    assert scalar(settings, f"SELECT email FROM users WHERE id = {anna}") == "anna@example.nl"


def test_an_address_change_link_expires_after_the_confirmation_hours(
    client: Client, settings: Settings, anna: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _login(client, "anna@example.nl")
    hours = settings.confirm_token_hours
    sent_at = utcnow() - timedelta(hours=hours, minutes=1)
    with monkeypatch.context() as patched:
        patched.setattr(selfservice, "utcnow", lambda: sent_at)
        _post(
            client,
            "/mijn-account/e-mail",
            {"email": "anna@nieuw.nl", "current_password": RESIDENT_PASSWORD},
        )
    late = _post(
        client,
        "/mijn-account/e-mail-bevestigen",
        {"token": _link(settings, "/mijn-account/e-mail-bevestigen")},
    )
    assert late.status_code == 422
    assert scalar(settings, f"SELECT email FROM users WHERE id = {anna}") == "anna@example.nl"
    with monkeypatch.context() as patched:
        patched.setattr(selfservice, "utcnow", lambda: sent_at + timedelta(minutes=2))
        _post(
            client,
            "/mijn-account/e-mail",
            {"email": "anna@nieuw.nl", "current_password": RESIDENT_PASSWORD},
        )
    in_time = _post(
        client,
        "/mijn-account/e-mail-bevestigen",
        {"token": _link(settings, "/mijn-account/e-mail-bevestigen")},
    )
    assert in_time.status_code == 303
    assert scalar(settings, f"SELECT email FROM users WHERE id = {anna}") == "anna@nieuw.nl"


def test_an_address_link_opened_without_a_session_leads_to_the_login(
    client: Client, settings: Settings, anna: int
) -> None:
    _login(client, "anna@example.nl")
    _post(
        client,
        "/mijn-account/e-mail",
        {"email": "anna@nieuw.nl", "current_password": RESIDENT_PASSWORD},
    )
    token = _link(settings, "/mijn-account/e-mail-bevestigen")
    client.cookies.clear()  # the mail is opened in another browser
    assert not _logged_in(client)
    confirmed = _post(client, "/mijn-account/e-mail-bevestigen", {"token": token})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/inloggen"
    assert scalar(settings, f"SELECT email FROM users WHERE id = {anna}") == "anna@nieuw.nl"


def test_an_address_with_an_account_is_not_revealed_on_the_page(
    client: Client, settings: Settings, anna: int
) -> None:
    make_user(settings, "bram@example.nl")
    _login(client, "anna@example.nl")
    response = _post(
        client,
        "/mijn-account/e-mail",
        {"email": "bram@example.nl", "current_password": RESIDENT_PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/mijn-account?melding=e-mail-verstuurd"
    last = mails(settings)[-1]
    assert last["To"] == "bram@example.nl"
    assert "al een account" in mail_text(last)
    assert "?token=" not in mail_text(last)


def test_changing_the_password_logs_out_other_devices_only(
    client: Client, settings: Settings, anna: int
) -> None:
    laptop = bearer(settings, anna)
    _login(client, "anna@example.nl")
    response = _post(
        client,
        "/mijn-account/wachtwoord",
        {"current_password": RESIDENT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 303
    assert _logged_in(client)
    assert _me(client, laptop) == 401


def test_the_password_form_reports_every_problem_at_once(
    client: Client, settings: Settings, anna: int
) -> None:
    _login(client, "anna@example.nl")
    response = _post(
        client, "/mijn-account/wachtwoord", {"current_password": "", "new_password": "kort"}
    )
    assert response.status_code == 422
    assert 'id="current_password-fout"' in response.text
    assert 'id="new_password-fout"' in response.text


def test_a_wrong_current_password_changes_nothing(
    client: Client, settings: Settings, anna: int
) -> None:
    laptop = bearer(settings, anna)
    _login(client, "anna@example.nl")
    hash_before = scalar(settings, f"SELECT password_hash FROM users WHERE id = {anna}")
    response = _post(
        client,
        "/mijn-account/wachtwoord",
        {"current_password": "niet-het-wachtwoord", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 422
    assert "Het wachtwoord klopt niet." in response.text
    assert scalar(settings, f"SELECT password_hash FROM users WHERE id = {anna}") == hash_before
    assert _me(client, laptop) == 200  # no session ended either


def test_my_data_download_holds_account_proposals_and_supports(
    client: Client, settings: Settings, anna: int
) -> None:
    ids = make_round(settings)
    bram = make_user(settings, "bram@example.nl", display_name="Bram")
    proposal = create_proposal(client, settings, ids, bearer(settings, bram))
    assert client.put(
        f"/api/v1/proposals/{proposal['id']}/supports", headers=bearer(settings, anna)
    ).status_code in {200, 201, 204}
    mine = create_proposal(client, settings, ids, bearer(settings, anna), title="Mijn eigen plan")
    carol = make_user(settings, "carol@example.nl", display_name="Carol")
    assert client.put(  # someone else's support is not in Anna's data
        f"/api/v1/proposals/{mine['id']}/supports", headers=bearer(settings, carol)
    ).status_code in {200, 201, 204}
    _login(client, "anna@example.nl")
    response = client.get("/mijn-account/gegevens.json")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["account"]["email"] == "anna@example.nl"
    assert data["account"]["display_name"] == "Anna de Vries"
    assert [p["id"] for p in data["proposals"]] == [mine["id"]]
    assert data["proposals"][0]["title"] == "Mijn eigen plan"
    assert [s["proposal_id"] for s in data["supports"]] == [proposal["id"]]
    assert "password" not in json.dumps(data["account"])


def test_deleting_an_account_keeps_proposals_as_former_participant(
    client: Client, settings: Settings, anna: int
) -> None:
    ids = make_round(settings)
    bram = make_user(settings, "bram@example.nl", display_name="Bram")
    public = create_proposal(client, settings, ids, bearer(settings, anna), title="Buurtkamer")
    draft = create_proposal(client, settings, ids, bearer(settings, anna), submit=False)
    bram_plan = create_proposal(client, settings, ids, bearer(settings, bram))
    assert client.put(
        f"/api/v1/proposals/{bram_plan['id']}/supports", headers=bearer(settings, anna)
    ).status_code in {200, 201, 204}
    _login(client, "anna@example.nl")
    wrong = _post(client, "/mijn-account/verwijderen", {"password": "fout-fout-fout"})
    assert wrong.status_code == 422
    assert scalar(settings, f"SELECT display_name FROM users WHERE id = {anna}") == "Anna de Vries"
    done = _post(client, "/mijn-account/verwijderen", {"password": RESIDENT_PASSWORD})
    assert done.status_code == 303
    assert done.headers["location"] == "/account-verwijderd"
    assert not _logged_in(client)
    page = client.get(f"/voorstellen/{public['id']}").text
    assert "oud-deelnemer" in page
    assert "Anna de Vries" not in page
    assert scalar(settings, f"SELECT count(*) FROM proposals WHERE id = {draft['id']}") == 0
    assert scalar(settings, f"SELECT count(*) FROM proposal_supports WHERE user_id = {anna}") == 0
    assert scalar(settings, f"SELECT count(*) FROM user_roles WHERE user_id = {anna}") == 0
    email = scalar(settings, f"SELECT email FROM users WHERE id = {anna}")
    assert "anna" not in str(email)
    login = _post(
        client,
        "/inloggen",
        {"email": "anna@example.nl", "password": RESIDENT_PASSWORD, "next_path": "/"},
    )
    assert login.status_code == 401
    # the address is free again
    assert make_user(settings, "anna@example.nl") != anna


def _invite(settings: Settings, proposal_id: int, by: int, by_email: str, email: str) -> int:
    author = CurrentUser(id=by, email=by_email, display_name="x", roles=frozenset({Role.RESIDENT}))

    async def work(session: Any) -> int:
        invitation, _mail = await invitations.invite(
            session, settings, proposal_id=proposal_id, user=author, email=email
        )
        return int(invitation.id)

    return run(settings, work)


def _accept(settings: Settings, invitation_id: int, user_id: int, email: str) -> None:
    user = CurrentUser(id=user_id, email=email, display_name="x", roles=frozenset({Role.RESIDENT}))

    async def work(session: Any) -> None:
        await invitations.respond(
            session, settings, user=user, accept=True, invitation_id=invitation_id, email=email
        )

    run(settings, work)


def test_deleting_keeps_a_draft_written_with_others_and_withdraws_invitations_to_me(
    client: Client, settings: Settings, anna: int
) -> None:
    ids = make_round(settings)
    bram = make_user(settings, "bram@example.nl", display_name="Bram")
    shared = create_proposal(client, settings, ids, bearer(settings, anna), submit=False)
    _accept(
        settings,
        _invite(settings, shared["id"], anna, "anna@example.nl", "bram@example.nl"),
        bram,
        "bram@example.nl",
    )
    brams = create_proposal(client, settings, ids, bearer(settings, bram), submit=False)
    to_anna = _invite(settings, brams["id"], bram, "bram@example.nl", "anna@example.nl")
    to_carol = _invite(settings, brams["id"], bram, "bram@example.nl", "carol@example.nl")
    _login(client, "anna@example.nl")
    export = json.loads(client.get("/mijn-account/gegevens.json").content)
    assert [i["proposal_id"] for i in export["invitations_received"]] == [brams["id"]]
    assert "carol" not in json.dumps(export)
    done = _post(client, "/mijn-account/verwijderen", {"password": RESIDENT_PASSWORD})
    assert done.status_code == 303
    # the draft Bram wrote along with stays, credited to Bram and "oud-deelnemer"
    assert scalar(settings, f"SELECT status FROM proposals WHERE id = {shared['id']}") == "draft"
    assert scalar(settings, f"SELECT count(*) FROM proposal_invitations WHERE id = {to_anna}") == 0
    assert scalar(settings, f"SELECT count(*) FROM proposal_invitations WHERE id = {to_carol}") == 1


def test_staff_cannot_delete_their_own_account(client: Client, settings: Settings) -> None:
    make_user(settings, "toetser@gemeente.nl", roles=(Role.MODERATOR,))
    _login(client, "toetser@gemeente.nl", STAFF_PASSWORD)
    assert "Vraag het een beheerder" in client.get("/mijn-account").text
    response = _post(client, "/mijn-account/verwijderen", {"password": STAFF_PASSWORD})
    assert response.status_code == 403
    assert scalar(settings, "SELECT count(*) FROM user_roles") == 1
