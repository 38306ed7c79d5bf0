"""The staff pages: issuing codes answers with the download, revoking a batch or a code (with its
ballot), and entering paper ballots; on both databases."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from pypdf import PdfReader

from burgerbegroting.accounts.roles import Role
from burgerbegroting.settings import Settings
from burgerbegroting.voting import letters
from tests.accounts.factories import bearer, csrf_token, make_user
from tests.loops import recording
from tests.voting.factories import (
    VotingRound,
    admin_headers,
    codes_then_accounts_only,
    issue_codes,
    open_round,
    redeem,
    scalar,
)

Client = TestClient[Litestar]


def _form(client: Client, **fields: str) -> dict[str, str]:
    return {"_csrf_token": csrf_token(client), **fields}


def _codes_url(vr: VotingRound) -> str:
    return f"/beheer/rondes/{vr.round_id}/stemcodes"


def _paper_url(vr: VotingRound) -> str:
    return f"/beheer/rondes/{vr.round_id}/papieren-stem"


def _csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def _stored(settings: Settings, vr: VotingRound) -> dict[str, int]:
    return {
        "batches": scalar(settings, "SELECT count(*) FROM code_batches"),
        "codes": scalar(settings, "SELECT count(*) FROM voting_codes"),
        "audit": scalar(settings, "SELECT count(*) FROM audit_log WHERE action LIKE 'codes.%'"),
    }


def test_issuing_on_the_page_answers_with_the_csv_and_stores_only_hashes(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    response = client.post(
        _codes_url(vr),
        data=_form(
            client, district_id=str(vr.districts[1]), age_band="18-26", count="12", output="csv"
        ),
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    header, *rows = _csv_rows(response.content)
    assert header == list(letters.CSV_COLUMNS)
    assert len(rows) == 12
    codes = [row[3] for row in rows]
    assert len(set(codes)) == 12
    assert {row[1] for row in rows} == {"Zuid"}
    assert {row[2] for row in rows} == {"18-26"}
    assert rows[0][4] == f"{settings.base_url}/stemmen#code={codes[0]}"
    assert _stored(settings, vr) == {"batches": 1, "codes": 12, "audit": 1}
    # Hashes only: no stored value is, or contains, a plain code.
    for code in codes:
        bare = code.replace("-", "")
        found = scalar(
            settings,
            "SELECT count(*) FROM voting_codes WHERE code_hash LIKE :a OR code_hash LIKE :b",
            a=f"%{code}%",
            b=f"%{bare}%",
        )
        assert found == 0
    # The codes work, in their district.
    redeemed = client.post("/api/v1/auth/code", json={"code": codes[0]})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["district_id"] == vr.districts[1]
    page = client.get(_codes_url(vr), headers=admin)
    assert page.status_code == 200
    table = page.text[page.text.index("<table") : page.text.index("</table>")]
    assert "Zuid" in table
    assert "18-26" in table
    assert re.search(r">\s*1\s*</td>", table), "one code used"
    assert codes[0] not in page.text


def test_pdf_letters_and_zip_downloads(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    pdf = client.post(
        _codes_url(vr), data=_form(client, district_id="", count="3", output="pdf"), headers=admin
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 3
    assert "Burgerbegroting Stemtest" in (reader.pages[0].extract_text() or "")
    bundle = client.post(
        _codes_url(vr), data=_form(client, district_id="", count="2", output="zip"), headers=admin
    )
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        names = sorted(archive.namelist())
        assert [n.rsplit(".", 1)[1] for n in names] == ["csv", "pdf"]
        rows = _csv_rows(archive.read(names[0]))[1:]
        pages = PdfReader(io.BytesIO(archive.read(names[1]))).pages
    assert len(rows) == len(pages) == 2
    for row, page in zip(rows, pages, strict=True):
        assert row[3] in (page.extract_text() or "")
    assert _stored(settings, vr) == {"batches": 2, "codes": 5, "audit": 2}


def test_letters_are_rendered_off_the_event_loop(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5,000 PDF letters take about 12 CPU seconds: on the event loop they would stall every other
    # request of the worker (casts included) for that long; /health waited 1.1 s behind 1,000.
    vr = open_round(settings)
    on_loop: list[bool] = []
    monkeypatch.setattr(letters, "render", recording(letters.render, on_loop))
    for output in ("csv", "pdf", "zip"):
        response = client.post(
            _codes_url(vr),
            data=_form(client, district_id="", count="1", output=output),
            headers=admin_headers(settings, vr),
        )
        assert response.status_code == 200, response.text
    assert on_loop == [False, False, False]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"count": "twaalf", "output": "csv"}, "count"),
        ({"count": "0", "output": "csv"}, "count"),
        ({"count": "3", "output": "docx"}, "output"),
        ({"count": str(letters.MAX_PDF_LETTERS + 1), "output": "pdf"}, "output"),
        ({"count": "3", "output": "csv", "age_band": "99+"}, "age_band"),
        ({"count": "3", "output": "csv", "district_id": "987654"}, "district_id"),
    ],
)
def test_a_bad_issue_form_rerenders_with_its_message_and_stores_nothing(
    client: Client, settings: Settings, fields: dict[str, str], field: str
) -> None:
    vr = open_round(settings)
    values = {"district_id": "", "age_band": "", **fields}
    response = client.post(
        _codes_url(vr), data=_form(client, **values), headers=admin_headers(settings, vr)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'href="#{field}"' in response.text
    assert _stored(settings, vr) == {"batches": 0, "codes": 0, "audit": 0}


def test_an_unknown_form_field_is_refused(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    response = client.post(
        _codes_url(vr),
        data=_form(client, count="3", output="csv", district_id="", age_band="", extra="x"),
        headers=admin_headers(settings, vr),
    )
    assert response.status_code == 400
    assert _stored(settings, vr)["batches"] == 0


def test_revoking_a_batch_needs_a_reason_and_stops_its_codes(
    client: Client, settings: Settings
) -> None:
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    codes = issue_codes(settings, vr, 2)
    batch_id = scalar(settings, "SELECT max(id) FROM code_batches")
    url = f"{_codes_url(vr)}/{batch_id}/intrekken"
    missing = client.post(url, data=_form(client, reason="  "), headers=admin)
    assert missing.status_code == 422
    assert f'href="#batch_{batch_id}_reason"' in missing.text
    assert scalar(settings, "SELECT count(*) FROM code_batches WHERE revoked_at IS NOT NULL") == 0
    done = client.post(
        url,
        data=_form(client, reason="Brieven naar verkeerde adressen"),
        headers=admin,
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith("melding=reeks-ingetrokken")
    assert scalar(settings, "SELECT revoke_reason FROM code_batches") == (
        "Brieven naar verkeerde adressen"
    )
    assert client.post("/api/v1/auth/code", json={"code": codes[0]}).status_code == 401
    page = client.get(done.headers["location"], headers=admin)
    assert "Brieven naar verkeerde adressen" in page.text
    assert 'id="melding"' in page.text
    again = client.post(url, data=_form(client, reason="nog eens"), headers=admin)
    assert again.status_code == 409


def test_revoking_one_code_can_void_its_ballot(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    code, other = issue_codes(settings, vr, 2)
    voter = redeem(client, code)
    cast = client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[1]]}, headers=voter
    )
    assert cast.status_code == 200, cast.text
    receipt = cast.json()["receipt"]
    url = f"{_codes_url(vr)}/intrekken"
    wrong = client.post(
        url, data=_form(client, code="AAAA-AAAA-AAAA-AAAA", reason="kwijt"), headers=admin
    )
    assert wrong.status_code == 422
    assert 'href="#revoke_code"' in wrong.text
    done = client.post(
        url,
        data=_form(client, code=code.lower(), reason="Brief gestolen", void_ballot="1"),
        headers=admin,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("melding=stem-vervallen")
    status = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{receipt}").json()["status"]
    assert status == "voided"
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'void'") == 1
    assert scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'codes.revoke'") == 1
    # Revoking the other code without voiding leaves the log's ballots alone.
    plain = client.post(
        url,
        data=_form(client, code=other, reason="Verhuisd"),
        headers=admin,
        follow_redirects=False,
    )
    assert plain.headers["location"].endswith("melding=code-ingetrokken")
    assert scalar(settings, "SELECT count(*) FROM log_events WHERE kind = 'void'") == 1


def test_staff_enter_a_paper_ballot_and_get_its_receipt(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    (code,) = issue_codes(settings, vr, 1)
    moderator = make_user(settings, "toetser@example.nl", roles=(Role.MODERATOR,))
    staff = bearer(settings, moderator, staff=True)
    assert client.get(_paper_url(vr), headers=staff).status_code == 200
    shown = client.post(
        _paper_url(vr), data=_form(client, code=code.replace("-", " "), step="code"), headers=staff
    )
    assert shown.status_code == 200, shown.text
    assert f"<strong>{code}</strong>" in shown.text  # as printed, not as typed
    for pid in vr.projects:
        assert f'name="project_{pid}"' in shown.text
    # Over budget: the form comes back with the rule's message, nothing is stored.
    everything = {f"project_{pid}": "1" for pid in vr.projects}
    over = client.post(
        _paper_url(vr), data=_form(client, code=code, step="ballot", **everything), headers=staff
    )
    assert over.status_code == 422
    assert "meer dan het budget" in over.text
    assert "checked" in over.text
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    entered = client.post(
        _paper_url(vr),
        data=_form(client, code=code, step="ballot", **{f"project_{vr.projects[0]}": "1"}),
        headers=staff,
        follow_redirects=False,
    )
    assert entered.status_code == 303, entered.text
    receipt = entered.headers["location"].split("ontvangstbewijs=")[1]
    page = client.get(entered.headers["location"], headers=staff)
    assert receipt in page.text
    status = client.get(f"/api/v1/rounds/{vr.round_id}/receipts/{receipt}").json()["status"]
    assert status == "counted"
    assert scalar(settings, "SELECT channel FROM ballots") == "paper"
    assert (
        scalar(settings, "SELECT count(*) FROM audit_log WHERE action = 'voting.paper_ballot'") == 1
    )


def test_a_paper_ballot_with_a_project_not_on_its_ballot_is_refused_not_trimmed(
    client: Client, settings: Settings
) -> None:
    """A district code's ballot lacks the other district's projects: a form naming one of them
    (or any unknown number) must be refused, not entered without it."""
    vr = open_round(
        settings,
        scope="districts",
        project_districts=[0, 0, 1, 1],
        district_budgets=[10_000_000, 10_000_000],
    )
    (code,) = issue_codes(settings, vr, 1, district_id=vr.districts[0])
    headers = admin_headers(settings, vr)
    for stranger in (vr.projects[3], 987654):
        fields = {f"project_{vr.projects[0]}": "1", f"project_{stranger}": "1"}
        refused = client.post(
            _paper_url(vr), data=_form(client, code=code, step="ballot", **fields), headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert f"Project {stranger} staat niet op uw stembiljet" in refused.text
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0


def test_paper_form_never_shows_the_codes_online_ballot(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    (code,) = issue_codes(settings, vr, 1)
    voter = redeem(client, code)
    client.put(
        f"/api/v1/rounds/{vr.round_id}/ballot", json={"projects": [vr.projects[2]]}, headers=voter
    )
    shown = client.post(
        _paper_url(vr),
        data=_form(client, code=code, step="code"),
        headers=admin_headers(settings, vr),
    )
    assert shown.status_code == 200
    assert "checked" not in shown.text


def test_paper_form_refuses_an_unknown_code(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    response = client.post(
        _paper_url(vr),
        data=_form(client, code="AAAA-AAAA-AAAA-AAAA", step="code"),
        headers=admin_headers(settings, vr),
    )
    assert response.status_code == 422
    assert 'href="#code"' in response.text
    assert scalar(settings, "SELECT count(*) FROM voters") == 0


def test_paper_form_refuses_a_code_in_an_accounts_only_round(
    client: Client, settings: Settings
) -> None:
    vr, [code] = codes_then_accounts_only(settings)
    staff = admin_headers(settings, vr)
    message = (
        "In deze ronde wordt niet met stemcodes gestemd: "
        "een papieren stem op een stemcode kan niet worden ingevoerd."
    )
    # Neither the typed code (no ballot form shown) nor a filled-in ballot (nothing stored).
    for step, fields in (("code", {}), ("ballot", {f"project_{vr.projects[1]}": "1"})):
        response = client.post(
            _paper_url(vr), data=_form(client, code=code, step=step, **fields), headers=staff
        )
        assert response.status_code == 409, response.text
        assert message in response.text
        assert f'name="project_{vr.projects[1]}"' not in response.text
    assert scalar(settings, "SELECT count(*) FROM ballots") == 0
    assert scalar(settings, "SELECT count(*) FROM voters") == 0


@pytest.mark.parametrize(
    ("ballot_type", "extra"),
    [("cumulative", {"cumulative_points": 10}), ("ranked", {}), ("choose-1", {})],
)
def test_paper_ballots_of_every_form_shape(
    client: Client, settings: Settings, ballot_type: str, extra: dict[str, int]
) -> None:
    vr = open_round(settings, ballot_type=ballot_type, **extra)  # type: ignore[arg-type]
    (code,) = issue_codes(settings, vr, 1)
    a, b = vr.projects[0], vr.projects[1]
    fields = {
        "cumulative": {f"points_{a}": "7", f"points_{b}": "3"},
        "ranked": {f"rank_{a}": "2", f"rank_{b}": "1"},
        "choose-1": {"choice": str(b)},
    }[ballot_type]
    headers = admin_headers(settings, vr)
    entered = client.post(
        _paper_url(vr),
        data=_form(client, code=code, step="ballot", **fields),
        headers=headers,
        follow_redirects=False,
    )
    assert entered.status_code == 303, entered.text
    expected = {
        "cumulative": f'{{"points":{{"{a}":7,"{b}":3}}}}',
        "ranked": f'{{"ranking":[{b},{a}]}}',
        "choose-1": f'{{"projects":[{b}]}}',
    }[ballot_type]
    assert scalar(settings, "SELECT content FROM ballots") == expected


def test_residents_reach_neither_page(client: Client, settings: Settings) -> None:
    vr = open_round(settings)
    resident = bearer(settings, make_user(settings, "inwoner@example.nl"))
    assert client.get(_codes_url(vr), headers=resident).status_code == 403
    assert client.get(_paper_url(vr), headers=resident).status_code == 403
    moderator = make_user(settings, "toetser@example.nl", roles=(Role.MODERATOR,))
    assert (
        client.get(_codes_url(vr), headers=bearer(settings, moderator, staff=True)).status_code
        == 403
    )
