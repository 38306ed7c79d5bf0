"""The staff log page: Dutch labels, titles with links, readable changes, filters and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit import service as audit_service
from burgerbegroting.audit.models import AuditEntry
from burgerbegroting.i18n import TIMEZONE
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, csrf_token, make_user
from tests.proposals.factories import create_proposal, make_people, make_round, run
from tests.rounds.factories import api_round_data

Client = TestClient[Litestar]


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return bearer(
        settings,
        make_user(settings, "beheer@gemeente.nl", roles=(Role.ADMIN,), display_name="Bea Beheer"),
        staff=True,
    )


def _round(client: Client, admin: dict[str, str], title: str) -> dict[str, Any]:
    created: dict[str, Any] = client.post(
        "/api/v1/rounds", json=api_round_data(title=title), headers=admin
    ).json()
    return created


def _log(client: Client, admin: dict[str, str], query: str = "") -> str:
    response = client.get(f"/beheer/logboek{query}", headers=admin)
    assert response.status_code == 200, response.text
    return response.text


def _rows(html: str) -> list[str]:
    body = html[html.index("<tbody") : html.index("</tbody>")]
    return re.findall(r"<tr class=\"utrecht-table__row\">(.*?)</tr>", body, flags=re.S)


def test_log_shows_dutch_labels_titles_with_links_and_readable_changes(
    client: Client, admin: dict[str, str]
) -> None:
    created = _round(client, admin, "Sociaal domein 2027")
    response = client.patch(
        f"/api/v1/rounds/{created['id']}",
        json={"min_age": 16, "reason": "Besluit van de raad"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    html = _log(client, admin)
    rows = _rows(html)
    assert len(rows) == 2
    newest = rows[0]
    assert "Ronde gewijzigd" in newest
    assert "Bea Beheer" in newest
    assert (
        f'<a class="utrecht-link" href="/rondes/{created["id"]}">Sociaal domein 2027</a>' in newest
    )
    assert "Besluit van de raad" in newest
    # the change as a line "label: before → after", not {"before": {...}} JSON
    assert re.search(r"<li>Minimumleeftijd: 12 .*→.* 16</li>", newest, flags=re.S)
    assert "min_age" not in html
    created_row = rows[1]
    assert "Ronde aangemaakt" in created_row
    assert re.search(r"<li>Totaal budget: €\s450\.000,00</li>", created_row)  # money in euro
    assert "total_budget_cents" not in html


def test_log_filters_by_action_actor_subject_and_date(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    first = _round(client, admin, "Eerste ronde")
    second = _round(client, admin, "Tweede ronde")
    client.post(
        f"/api/v1/rounds/{first['id']}/phase",
        json={"phase": "submission", "reason": "Start"},
        headers=admin,
    )
    assert len(_rows(_log(client, admin))) == 3
    phase_only = _rows(_log(client, admin, "?actie=round.phase"))
    assert len(phase_only) == 1
    assert "Eerste ronde" in phase_only[0]
    second_only = _rows(_log(client, admin, f"?soort=ronde&nummer={second['id']}"))
    assert len(second_only) == 1
    assert "Tweede ronde" in second_only[0]
    admin_id = re.search(r'<option value="(\d+)">Bea Beheer</option>', _log(client, admin))
    assert admin_id is not None
    assert len(_rows(_log(client, admin, f"?wie={admin_id.group(1)}"))) == 3
    assert "Geen handelingen" in _log(client, admin, "?wie=systeem")
    assert "Geen handelingen" in _log(client, admin, "?van=2099-01-01")
    assert len(_rows(_log(client, admin, "?van=2000-01-01&tot=2099-12-31"))) == 3


@pytest.mark.parametrize(
    "query",
    [
        "?van=gisteren",
        "?tot=2027-02-30",
        "?soort=gebruiker",
        "?wie=abc",
        "?nummer=-1",
        "?van=2027-03-02&tot=2027-03-01",
    ],
)
def test_unreadable_filters_are_a_400_with_the_field_marked(
    client: Client, admin: dict[str, str], query: str
) -> None:
    response = client.get(f"/beheer/logboek{query}", headers=admin)
    assert response.status_code == 400
    assert 'id="foutoverzicht"' in response.text
    assert "-fout" in response.text


def test_log_downloads_as_csv_with_the_same_filters(client: Client, admin: dict[str, str]) -> None:
    first = _round(client, admin, "Eerste ronde")
    _round(client, admin, "Tweede ronde")
    response = client.get(
        f"/beheer/logboek/export.csv?soort=ronde&nummer={first['id']}", headers=admin
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:4] == ["Nummer", "Wanneer", "Wie", "Handeling"]
    assert len(rows) == 2
    assert rows[1][3] == "Ronde aangemaakt"
    assert rows[1][5] == "Eerste ronde"
    assert "Bea Beheer" in rows[1]


def test_log_and_download_are_for_admins_and_auditors_only(
    client: Client, settings: Settings
) -> None:
    council = bearer(
        settings, make_user(settings, "raad@gemeente.nl", roles=(Role.COUNCIL,)), staff=True
    )
    assert client.get("/beheer/logboek", headers=council).status_code == 403
    assert client.get("/beheer/logboek/export.csv", headers=council).status_code == 403


def _add_entries(settings: Settings, *moments: datetime, action: str = "round.update") -> None:
    async def work(session: AsyncSession) -> None:
        for moment in moments:
            session.add(
                AuditEntry(
                    occurred_at=moment,
                    actor_id=None,
                    action=action,
                    subject_type="round",
                    subject_id="999",
                    details={},
                )
            )

    run(settings, work)


def test_the_until_date_counts_that_whole_day(client: Client, admin: dict[str, str]) -> None:
    _round(client, admin, "Vandaag aangemaakt")
    today = datetime.now(TIMEZONE).date()
    assert len(_rows(_log(client, admin, f"?tot={today.isoformat()}"))) == 1
    assert len(_rows(_log(client, admin, f"?van={today.isoformat()}&tot={today.isoformat()}"))) == 1
    yesterday = today - timedelta(days=1)
    assert "Geen handelingen" in _log(client, admin, f"?tot={yesterday.isoformat()}")


def test_date_filters_are_days_in_dutch_time(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    # 23:30 UTC on 1 March is 00:30 on 2 March in the Netherlands (CET, UTC+1).
    _add_entries(settings, datetime(2027, 3, 1, 23, 30, tzinfo=UTC))
    assert len(_rows(_log(client, admin, "?van=2027-03-02&tot=2027-03-02"))) == 1
    assert "Geen handelingen" in _log(client, admin, "?van=2027-03-01&tot=2027-03-01")
    csv_text = client.get(
        "/beheer/logboek/export.csv?van=2027-03-01&tot=2027-03-01", headers=admin
    ).content.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(csv_text), delimiter=";"))) == 1  # the header only


def test_the_csv_holds_every_matching_line_not_one_page(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    lines = audit_service.PAGE_SIZE + 5
    _add_entries(settings, *(start + timedelta(minutes=i) for i in range(lines)))
    page = _log(client, admin)
    assert len(_rows(page)) == audit_service.PAGE_SIZE  # the page shows one page ...
    response = client.get("/beheer/logboek/export.csv", headers=admin)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 1 + lines  # ... the download every line
    assert len({row[0] for row in rows[1:]}) == lines


def test_a_review_in_the_log_names_the_proposal_with_its_link_and_statuses_in_dutch(
    client: Client, settings: Settings
) -> None:
    people = make_people(settings)
    ids = make_round(settings)
    proposal = create_proposal(
        client, settings, ids, people.headers(settings, "resident"), title="Koffieochtend"
    )
    reviewed = client.post(
        f"/api/v1/proposals/{proposal['id']}/review",
        json={"decision": "rejected", "public_reasoning": "Past niet in het sociaal domein."},
        headers=people.headers(settings, "moderator"),
    )
    assert reviewed.status_code == 200, reviewed.text
    rows = _rows(_log(client, people.headers(settings, "admin"), "?actie=proposal.review"))
    assert len(rows) == 1
    row = rows[0]
    assert "Voorstel getoetst" in row
    assert f'<a class="utrecht-link" href="/voorstellen/{proposal["id"]}">Koffieochtend</a>' in row
    assert re.search(r"<li>Status: Ingediend .*→.* Afgewezen</li>", row, flags=re.S), row
    assert "rejected" not in row


def test_the_log_filters_by_account_as_subject(
    client: Client, settings: Settings, admin: dict[str, str]
) -> None:
    _round(client, admin, "Een ronde")
    anna = make_user(settings, "anna@example.nl")
    closed = client.post(
        f"/beheer/gebruikers/{anna}/sluiten",
        data={"reason": "Op verzoek", "_csrf_token": csrf_token(client)},
        headers=admin,
        follow_redirects=False,
    )
    assert closed.status_code == 303
    rows = _rows(_log(client, admin, f"?soort=account&nummer={anna}"))
    assert len(rows) == 1
    assert "Account gesloten" in rows[0]
