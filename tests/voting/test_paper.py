"""Paper ballots (voting/paper.py) through the API: one count per code, accounts-only rounds."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.voting.factories import (
    admin_headers,
    codes_then_accounts_only,
    issue_codes,
    open_round,
    redeem,
    scalar,
)
from tests.voting.replay import replay


def test_paper_ballot_and_online_ballot_of_one_code_count_once_the_later_wins(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = open_round(settings)
    moderator = make_user(settings, "toetser@example.nl", roles=(Role.MODERATOR,))
    [code] = issue_codes(settings, vr, 1)
    voter = redeem(client, code)
    online = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[0]]}, headers=voter
    )
    assert online.status_code == 200
    paper = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": code.lower(), "ballot": {"projects": [vr.projects[1]]}},
        headers=bearer(settings, moderator, staff=True),
    )
    assert paper.status_code == 201, paper.text
    # The staff member learns the paper ballot's own receipt (to hand to the voter), never the
    # receipt of the code's online ballot: with it and the audit export they could read how that
    # voter voted online (docs/security.md, "Paper and assisted voting").
    assert paper.json()["supersedes"] is None
    assert online.json()["receipt"] not in paper.text
    result = replay(settings, vr.round_id)
    assert list(result.current_in_db.values()) == [{"projects": [vr.projects[1]]}]
    assert scalar(settings, "SELECT channel FROM ballots ORDER BY id DESC LIMIT 1") == "paper"
    # The paper entry is accountable, its content is not in the audit log.
    details = scalar(settings, "SELECT details FROM audit_log WHERE action = 'voting.paper_ballot'")
    assert str(vr.projects[1]) not in str(details)
    # A resident cannot enter paper ballots.
    resident = make_user(settings, "inwoner2@example.nl")
    refused = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": code, "ballot": {"projects": [vr.projects[2]]}},
        headers=bearer(settings, resident),
    )
    assert refused.status_code == 403


def test_a_paper_ballot_on_a_code_is_refused_in_an_accounts_only_round(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # The code was printed before the round was set to accounts only: online it opens no booth
    # (test above), so on paper it must not cast a counting ballot either.
    vr, [code] = codes_then_accounts_only(settings)
    refused = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": code, "ballot": {"projects": [vr.projects[1]]}},
        headers=admin_headers(settings, vr),
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        "In deze ronde wordt niet met stemcodes gestemd: "
        "een papieren stem op een stemcode kan niet worden ingevoerd."
    )
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    assert scalar(settings, "SELECT count(*) FROM voters") == 0
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'ballot'") == 0
    assert (
        scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'voting.paper_ballot'") == 0
    )
