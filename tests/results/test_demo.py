"""The demo end to end: after `burgerbegroting demo`, the admin's phase page closes the round
("gesloten"), the count is stored, and council members find the results from the menu and the
round page."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.demo import ACCOUNTS, ROUND_TITLE, load_demo
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, csrf_token
from tests.voting.factories import scalar


def _user(settings: Settings, role: str) -> dict[str, str]:
    email = next(a.email for a in ACCOUNTS if a.role.value == role)
    user_id = scalar(settings, "SELECT id FROM users WHERE email = :e", e=email)
    return bearer(settings, int(user_id), staff=True)


def test_demo_round_closes_from_the_phase_page_and_shows_results(
    client: TestClient[Litestar], settings: Settings
) -> None:
    assert load_demo(settings) == 0
    round_id = int(scalar(settings, "SELECT id FROM rounds WHERE title = :t", t=ROUND_TITLE))
    admin = _user(settings, "admin")
    council = _user(settings, "council")
    token = csrf_token(client)
    moved = client.post(
        f"/beheer/rondes/{round_id}/fase",
        data={"_csrf_token": token, "phase": "closed", "reason": "Demo: stemmen gesloten"},
        headers={**admin, "x-csrftoken": token},
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    assert scalar(settings, "SELECT phase FROM rounds WHERE id = :r", r=round_id) == "closed"
    assert (
        scalar(settings, "SELECT count(*) FROM round_results WHERE round_id = :r", r=round_id) == 1
    )

    home = client.get("/", headers=council).text
    assert 'href="/uitslag"' in home
    overview = client.get("/uitslag", headers=council).text
    assert f'href="/rondes/{round_id}/uitslag"' in overview
    assert f'href="/rondes/{round_id}/uitslag"' in client.get(f"/rondes/{round_id}").text
    page = client.get(f"/rondes/{round_id}/uitslag", headers=council)
    assert page.status_code == 200
    # Nobody voted in the demo: every project is listed as not funded, nobody voted for it.
    assert "niemand heeft erop gestemd" in page.text
    report = client.get(f"/rondes/{round_id}/raadsinformatiebrief.pdf", headers=council)
    assert report.status_code == 200
    assert report.content.startswith(b"%PDF")
