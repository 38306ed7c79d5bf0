"""The results page's override form, the council report page and its PDF (text, not images)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import shlex
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from pypdf import PdfReader

from burgerbegroting.accounts.roles import Role
from burgerbegroting.audit.verify import main as verify_main
from burgerbegroting.results import report
from burgerbegroting.settings import Settings
from burgerbegroting.voting.tally.cli import main as tally_main
from tests.accounts.factories import bearer, csrf_token, make_user
from tests.loops import recording
from tests.results.helpers import cast
from tests.voting.factories import (
    VotingRound,
    admin_headers,
    close,
    issue_codes,
    open_round,
    scalar,
)


def _closed_round(client: TestClient[Litestar], settings: Settings) -> VotingRound:
    # Greedy over € 100.000: P1 (€ 60.000) 2 votes, P2 (€ 30.000) 1 vote, P3 (€ 30.000) 0, P4
    # (€ 20.000) 1 vote. P1 first (€ 40.000 left); P4 and P2 tie at one vote: lowest cost puts
    # P4 (€ 20.000) first, funded (€ 20.000 left); P2 no longer fits; P3 had no votes.
    vr = open_round(settings)
    p1, p2, _p3, p4 = vr.projects
    codes = issue_codes(settings, vr, 3)
    cast(client, vr.round_id, codes[0], {"projects": [p1, p2]})
    cast(client, vr.round_id, codes[1], {"projects": [p1]})
    cast(client, vr.round_id, codes[2], {"projects": [p4]})
    close(settings, vr)
    return vr


def test_admin_records_an_override_with_the_form(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = _closed_round(client, settings)
    admin = admin_headers(settings, vr)
    url = f"/rondes/{vr.round_id}/uitslag/correcties"
    page = client.get(f"/rondes/{vr.round_id}/uitslag", headers=admin)
    assert f'action="{url}"' in page.text
    empty = client.post(
        url,
        data={"_csrf_token": csrf_token(client), "project_id": "", "reason": ""},
        headers={**admin, "x-csrftoken": csrf_token(client)},
    )
    assert empty.status_code == 422
    assert "Kies een project dat op het stembiljet" in empty.text
    assert "Geef de reden van de correctie" in empty.text
    assert scalar(settings, "SELECT count(*) FROM result_overrides") == 0
    done = client.post(
        url,
        data={
            "_csrf_token": csrf_token(client),
            "project_id": str(vr.projects[0]),
            "decision": "not-funded",
            "reason": "Locatie blijkt niet beschikbaar",
        },
        headers={**admin, "x-csrftoken": csrf_token(client)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    shown = client.get(done.headers["location"], headers=admin).text
    assert "Locatie blijkt niet beschikbaar" in shown
    assert "De correctie is vastgelegd" in shown
    # The project is still listed among the funded ones, the correction beside it.
    funded_table = shown.split("Gefinancierde projecten")[1].split("Niet gefinancierde")[0]
    assert "Project 1" in funded_table
    assert "Correctie:" in funded_table


def test_council_sees_no_override_form(client: TestClient[Litestar], settings: Settings) -> None:
    vr = _closed_round(client, settings)
    council = bearer(
        settings, make_user(settings, "raad@example.nl", roles=(Role.COUNCIL,)), staff=True
    )
    page = client.get(f"/rondes/{vr.round_id}/uitslag", headers=council)
    assert page.status_code == 200
    assert "/uitslag/correcties" not in page.text
    assert 'role="img"' in page.text
    assert 'aria-labelledby="uitslag-stad-gefinancierd uitslag-stad-niet"' in page.text


def test_council_report_page_and_pdf_hold_the_results_as_text(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = _closed_round(client, settings)
    admin = admin_headers(settings, vr)
    api = client.get(f"/api/v1/rounds/{vr.round_id}/results", headers=admin).json()
    page = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief", headers=admin)
    assert page.status_code == 200
    for needle in (api["fingerprint"], api["log_head"], api["results_digest"], "sha256sum"):
        assert needle in page.text
    # The verifier's command pins the key this report records (an export signed with another
    # key must fail it), instead of trusting the key inside the export.
    key = client.get("/.well-known/burgerbegroting-key").json()["public_key_hex"]
    assert (
        f"python -m burgerbegroting.audit.verify verify ronde-{vr.round_id}-audit.json "
        f"--key {key}" in page.text
    )
    export = client.get(f"/api/v1/rounds/{vr.round_id}/export?format=json", headers=admin)
    assert export.status_code == 200, export.text
    export_digest = hashlib.sha256(export.content).hexdigest()
    assert export_digest in page.text
    # The rule by its name and its machine name, each once.
    assert '<td class="utrecht-table__cell">Meeste stemmen eerst (greedy)</td>' in page.text
    assert "(greedy) (greedy)" not in page.text

    pdf = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief.pdf", headers=admin)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    flat = " ".join(text.split())
    p1, p2, p3, p4 = vr.projects
    # The results tables, row by row: number, title, votes, cost, share or reason.
    assert f"{p1} Project 1 2 € 60.000,00 60,0 %" in flat
    assert f"{p4} Project 4 1 € 20.000,00 20,0 %" in flat
    assert f"{p2} Project 2 1 € 30.000,00 paste niet meer in het resterende budget" in flat
    assert f"{p3} Project 3 0 € 30.000,00 niemand heeft erop gestemd" in flat
    for needle in (api["fingerprint"], api["log_head"], api["results_digest"], export_digest):
        assert needle in text
    assert "Raadsinformatiebrief" in flat
    assert "Meeste stemmen eerst (greedy)" in flat
    assert "(greedy) (greedy)" not in flat


# Each round sets one greedy option the plain `tally --rule greedy` would not apply; the votes
# are chosen so that leaving it out funds other projects (or, for the explicit order, fails).
# Approval ballots (k = 3) over € 100.000.
RECOUNT_CASES = {
    # P1 and P2 (€ 30.000 each) both get the one vote: the order (highest id first) picks P2.
    "explicit": (
        {"tie_break": "explicit"},
        (3_000_000, 3_000_000),
        [[0, 1]],
    ),
    # P1 2 votes, P2 1 vote: the threshold of 2 leaves P2 out, although it fits.
    "threshold": (
        {"greedy_threshold": 2},
        (3_000_000, 3_000_000),
        [[0, 1], [0]],
    ),
    # P1 (€ 60.000) 3 votes, P2 (€ 60.000) 2 votes, P3 (€ 30.000) 1 vote: P2 no longer fits and
    # the count stops there, so P3 is not funded although it fits.
    "no-skip": (
        {"greedy_no_skip": True},
        (6_000_000, 6_000_000, 3_000_000),
        [[0, 1, 2], [0, 1], [0]],
    ),
}


@pytest.mark.parametrize("case", sorted(RECOUNT_CASES))
def test_the_reports_recount_command_reproduces_the_published_winners(
    client: TestClient[Litestar],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    case: str,
) -> None:
    options, costs, ballots = RECOUNT_CASES[case]
    vr = open_round(settings, ballot_type="approval", approval_max_k=3, costs=costs, **options)
    codes = issue_codes(settings, vr, len(ballots))
    for code, picks in zip(codes, ballots, strict=True):
        cast(client, vr.round_id, code, {"projects": [vr.projects[i] for i in picks]})
    close(settings, vr)
    admin = admin_headers(settings, vr)
    results = client.get(f"/api/v1/rounds/{vr.round_id}/results", headers=admin).json()
    (election,) = results["elections"]
    published = [p["project_id"] for p in election["funded"]]
    page = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief", headers=admin).text
    (command,) = (
        html.unescape(c)
        for c in re.findall(r"<code[^>]*>(.*?)</code>", page, flags=re.S)
        if "burgerbegroting.voting.tally" in c
    )
    tally = shlex.split(command.split("&&", 1)[1])
    assert tally[:3] == ["python", "-m", "burgerbegroting.voting.tally"]
    pb = client.get(f"/api/v1/rounds/{vr.round_id}/export?format=pb&district=city", headers=admin)
    assert pb.status_code == 200, pb.text
    path = tmp_path / tally[3]
    path.write_bytes(pb.content)
    args = [str(path), *(a for a in tally[4:] if a != "--explain"), "--json"]
    capsys.readouterr()
    assert tally_main(args) == 0, capsys.readouterr().err
    recount = json.loads(capsys.readouterr().out)
    assert [int(pid) for pid in recount["selected"]] == published


def test_the_chart_says_one_vote_in_the_singular(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = _closed_round(client, settings)  # P1 2 votes, P2 and P4 1 vote, P3 none
    admin = admin_headers(settings, vr)
    chart = client.get(f"/rondes/{vr.round_id}/uitslag", headers=admin).text.split("<svg")[1]
    assert "1 stem · gefinancierd" in chart  # P4
    assert "1 stem · niet gefinancierd" in chart  # P2
    assert "2 stemmen · gefinancierd" in chart  # P1
    assert "0 stemmen · niet gefinancierd" in chart  # P3
    assert "1 stemmen" not in chart
    client.cookies.set("taal", "en")
    english = client.get(f"/rondes/{vr.round_id}/uitslag", headers=admin).text.split("<svg")[1]
    assert "1 vote · " in english
    assert "2 votes · " in english


def test_the_method_names_every_counting_option_of_the_round(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Threshold, no-skip stop, Amsterdam's leftover pass and the explicit order change who is
    funded: the results page, the council report and its PDF say the round used them."""
    vr = open_round(
        settings,
        ballot_type="approval",
        approval_max_k=2,
        theme_cap=5_000_000,
        greedy_threshold=2,
        greedy_no_skip=True,
        leftover="fund-by-score",
        tie_break="explicit",
    )
    (code,) = issue_codes(settings, vr, 1)
    cast(client, vr.round_id, code, {"projects": [vr.projects[0], vr.projects[1]]})
    close(settings, vr)
    admin = admin_headers(settings, vr)
    order = ", ".join(str(pid) for pid in sorted(vr.projects, reverse=True))
    sentences = (
        "Een project heeft minstens 2 stemmen of punten nodig om te worden uitgevoerd.",
        "De telling stopt bij het eerste project dat niet meer binnen het budget past.",
        "Geld dat over blijft doordat thema's hun maximum bereiken, gaat daarna naar de "
        "projecten met de meeste stemmen die nog passen, zonder maximum per thema.",
        "Bij gelijke stand beslist de vooraf gepubliceerde volgorde van de projecten "
        f"(projectnummers, hoogste voorrang eerst): {order}.",
    )
    for path in ("uitslag", "raadsinformatiebrief"):
        page = client.get(f"/rondes/{vr.round_id}/{path}", headers=admin)
        assert page.status_code == 200, page.text
        text = " ".join(html.unescape(page.text).split())
        for sentence in sentences:
            assert sentence in text, (path, sentence)
    pdf = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief.pdf", headers=admin)
    flat = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split()
    )
    for sentence in sentences:
        assert sentence.replace("'", "’") in flat or sentence in flat, sentence


def test_the_reports_verify_command_checks_the_export_against_the_published_key(
    client: TestClient[Litestar],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The report prints the instance's public key; its verify command must use it (--key), or
    the signature is only checked against the key inside the export itself."""
    vr = _closed_round(client, settings)
    admin = admin_headers(settings, vr)
    key = client.get("/.well-known/burgerbegroting-key").json()["public_key_hex"]
    page = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief", headers=admin).text
    (command,) = (
        html.unescape(c)
        for c in re.findall(r"<code[^>]*>(.*?)</code>", page, flags=re.S)
        if "burgerbegroting.audit.verify" in c
    )
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "burgerbegroting.audit.verify"]
    assert words[words.index("--key") + 1] == key
    export = client.get(f"/api/v1/rounds/{vr.round_id}/export?format=json", headers=admin)
    path = tmp_path / next(w for w in words if w.endswith(".json"))
    path.write_bytes(export.content)
    capsys.readouterr()
    assert verify_main([str(path) if w == path.name else w for w in words[3:]]) == 0
    out = capsys.readouterr().out
    assert "sleutel in de export zelf" not in out
    assert out.rstrip().endswith("OK")


NAMES = ("Kuşadası", "Łódź", "Győr", "Čapek", "İstanbul")


def _pdf_text(client: TestClient[Litestar], round_id: int, headers: dict[str, str]) -> str:
    pdf = client.get(f"/rondes/{round_id}/raadsinformatiebrief.pdf", headers=headers)
    assert pdf.status_code == 200, pdf.text
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    return " ".join(text.split())


def test_council_report_pdf_prints_names_outside_windows_1252_as_written(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # The PDF's core fonts (Windows-1252) printed these as "Ku?adas?", "?ód?", "Gy?r", "?apek".
    vr = open_round(
        settings,
        scope="districts",
        districts=("Kuşadası", "Łódź"),
        district_budgets=(5_000_000, 5_000_000),
        budget=10_000_000,
        costs=(2_000_000, 2_000_000, 2_000_000, 2_000_000),
        project_districts=(0, 0, 1, 1),
        title="Begroting İstanbul",
        titles=("Győr buurthuis", "Čapek leesclub", "İstanbul moestuin", "Kuşadası speeltuin"),
    )
    p1, p2, p3, p4 = vr.projects
    first, second = vr.districts
    (a,) = issue_codes(settings, vr, 1, district_id=first)
    (b,) = issue_codes(settings, vr, 1, district_id=second)
    cast(client, vr.round_id, a, {"projects": [p1, p2]})
    cast(client, vr.round_id, b, {"projects": [p3]})
    close(settings, vr)
    flat = _pdf_text(client, vr.round_id, admin_headers(settings, vr))
    assert "Gemeente Teststad: Begroting İstanbul" in flat
    assert "Uitslag: Wijk Kuşadası" in flat
    assert "Uitslag: Wijk Łódź" in flat
    assert f"{p1} Győr buurthuis 1 € 20.000,00" in flat
    assert f"{p2} Čapek leesclub 1 € 20.000,00" in flat
    assert f"{p3} İstanbul moestuin 1 € 20.000,00" in flat
    assert f"{p4} Kuşadası speeltuin 0 € 20.000,00" in flat
    for name in NAMES:
        assert name in flat
        assert name.encode("cp1252", errors="replace").decode("cp1252") not in flat


def _section(page: str, district_id: int) -> str:
    """One election's section of a results page (raw HTML)."""
    return page.split(f'id="uitslag-{district_id}-titel"')[1].split("</section>", maxsplit=1)[0]


def _facts_count(page: str, district_id: int) -> str:
    """The "Uitgebrachte stemmen" fact of one election on a results page (raw HTML)."""
    return (
        _section(page, district_id)
        .split("Uitgebrachte stemmen</dt><dd>")[1]
        .split("</dd>", maxsplit=1)[0]
    )


def test_an_election_under_10_ballots_shows_them_as_under_10_on_pages_and_in_the_pdf(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # In a district round an election is a district: its exact count would undo participation's
    # "<10" for that district. The API keeps the exact count (auditors need it).
    vr = open_round(
        settings,
        scope="districts",
        district_budgets=(5_000_000, 5_000_000),
        budget=10_000_000,
        costs=(2_000_000, 2_000_000, 2_000_000, 2_000_000),
        project_districts=(0, 0, 1, 1),
    )
    p1, _p2, p3, _p4 = vr.projects
    noord, zuid = vr.districts
    for code in issue_codes(settings, vr, 3, district_id=noord):
        cast(client, vr.round_id, code, {"projects": [p1]})
    for code in issue_codes(settings, vr, 12, district_id=zuid):
        cast(client, vr.round_id, code, {"projects": [p3]})
    close(settings, vr)
    admin = admin_headers(settings, vr)
    api = client.get(f"/api/v1/rounds/{vr.round_id}/results", headers=admin).json()
    assert {e["district_id"]: e["ballots"] for e in api["elections"]} == {noord: 3, zuid: 12}
    note = "Aantallen onder de 10 staan er als &#39;&lt;10&#39;, zodat niemand herkenbaar is."
    for path in ("uitslag", "raadsinformatiebrief"):
        page = client.get(f"/rondes/{vr.round_id}/{path}", headers=admin).text
        assert _facts_count(page, noord) == "&lt;10", path
        assert _facts_count(page, zuid) == "12", path
        assert note in _section(page, noord), path
        assert note not in _section(page, zuid), path
    flat = _pdf_text(client, vr.round_id, admin)
    noord_pdf = flat.split("Uitslag: Wijk Noord")[1].split("Uitslag: Wijk Zuid")[0]
    zuid_pdf = flat.split("Uitslag: Wijk Zuid")[1].split("Opkomst")[0]
    assert "Stemmen: <10, waarvan <10 blanco." in noord_pdf
    assert "Stemmen: 3" not in noord_pdf
    assert "Aantallen onder de 10 staan er als '<10', zodat niemand herkenbaar is." in noord_pdf
    assert "Stemmen: 12, waarvan <10 blanco." in zuid_pdf


def test_the_council_report_pdf_is_rendered_off_the_event_loop(
    client: TestClient[Litestar], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 200 projects the PDF takes about a CPU second; on the event loop it held every other
    request of the worker (/health waited 0.5 s behind each download)."""
    vr = _closed_round(client, settings)
    on_loop: list[bool] = []
    monkeypatch.setattr(report, "council_report_pdf", recording(report.council_report_pdf, on_loop))
    admin = admin_headers(settings, vr)
    for language in ("nl", "en"):
        client.cookies.set("taal", language)
        response = client.get(f"/rondes/{vr.round_id}/raadsinformatiebrief.pdf", headers=admin)
        assert response.status_code == 200, response.text
        text = " ".join(
            " ".join(
                p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages
            ).split()
        )
        # The language of the request travels into the thread.
        assert ("Raadsinformatiebrief" if language == "nl" else "Council report") in text
    assert on_loop == [False, False]


def test_a_round_with_many_projects_charts_those_with_the_most_votes_and_tables_all(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A bar per project made a 200-project chart about 10,000 px tall on a phone (52 KB of the
    page); the chart now shows the 25 with the most votes and says so, the tables keep all."""
    n = 30
    vr = open_round(settings, costs=[100_000] * n, budget=100_000 * n)
    codes = issue_codes(settings, vr, n)
    # Project i (1-based) gets i votes: the chart keeps projects 6..30, drops 1..5.
    for k, code in enumerate(codes):
        cast(client, vr.round_id, code, {"projects": vr.projects[k:]})
    close(settings, vr)
    admin = admin_headers(settings, vr)
    for path in ("/rondes/{}/uitslag", "/rondes/{}/raadsinformatiebrief"):
        page = client.get(path.format(vr.round_id), headers=admin).text
        chart = page.split("<svg")[1].split("</svg>")[0]
        labels = re.findall(r'font-size="13" fill="#1a1a1a">([^<]+)</text>', chart)
        assert sorted(labels) == sorted(f"Project {i}" for i in range(6, n + 1))
        assert "De grafiek toont de 25 projecten met de meeste stemmen, van de 30" in page
        tables = page.split("<svg")[0]
        for i in range(1, n + 1):
            assert f"Project {i} <span" in tables
