"""The audit export through the API: formats, who may download what when, determinism, logging."""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting.accounts import tokens
from burgerbegroting.accounts.middleware import SESSION_COOKIE
from burgerbegroting.accounts.roles import Role
from burgerbegroting.app import create_app
from burgerbegroting.audit.exportfiles import to_csv
from burgerbegroting.audit.exportformat import manifest_bytes
from burgerbegroting.audit.signing import public_key_info, sign
from burgerbegroting.audit.verify import VerificationError, diff, verify
from burgerbegroting.rounds import service as rounds
from burgerbegroting.rounds.models import Phase
from burgerbegroting.settings import Settings
from burgerbegroting.voting import log as log_mod
from burgerbegroting.voting.canonical import canonical_json
from burgerbegroting.voting.tally.pabulib import read_election
from burgerbegroting.voting.tally.rules import count
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.accounts.factories import bearer, make_user
from tests.audit.factories import (
    auditor_headers,
    export_json,
    two_district_round,
    vote,
    voted_round,
)
from tests.conftest import make_settings
from tests.loops import on_event_loop
from tests.proposals.factories import run
from tests.voting.factories import close, issue_codes, open_round, redeem, scalar


def published_key(client: TestClient[Litestar]) -> bytes:
    response = client.get("/.well-known/burgerbegroting-key")
    assert response.status_code == 200, response.text
    info = response.json()
    raw = base64.b64decode(info["public_key"])
    assert raw.hex() == info["public_key_hex"]
    assert info["algorithm"] == "Ed25519"
    return raw


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        rows = await session.execute(
            text(
                "SELECT actor_id, details FROM audit_log WHERE action = 'round.audit_export' "
                "ORDER BY id"
            )
        )
        out = []
        for actor_id, details in rows.all():
            loaded = json.loads(details) if isinstance(details, str) else details
            out.append({"actor_id": actor_id, **loaded})
        return out

    return run(settings, work)


def move(settings: Settings, round_id: int, admin_id: int, phase: Phase) -> None:
    async def work(session: AsyncSession) -> None:
        await rounds.move_phase(session, round_id, phase, actor_id=admin_id, reason="test")

    run(settings, work)


def test_json_export_verifies_with_the_published_key_and_is_byte_identical(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    first, document = export_json(client, voted.vr.round_id, voted.auditor)
    second, _ = export_json(client, voted.vr.round_id, voted.admin)
    assert first == second
    report = verify(document, public_key=published_key(client))
    assert "LET OP" not in report.text()
    assert document["manifest"]["state"] == "closed"
    # The voided and the superseded ballots are in the log but not among the current ones.
    assert len(document["ballots"]) == 5
    assert sum(1 for e in document["log"] if e["kind"] == "ballot") == 7
    assert [e["kind"] for e in document["log"]][-1] == "end"
    stored = scalar(
        settings, "SELECT document FROM round_results WHERE round_id = :r", r=voted.vr.round_id
    )

    async def logged(session: AsyncSession) -> list[dict[str, Any]]:
        return [log_mod.event_json(e) for e in await log_mod.events(session, voted.vr.round_id)]

    assert document["log"] == run(settings, logged)
    # The document is exactly the canonical JSON of itself (parts encoded once, then joined).
    assert first == canonical_json(json.loads(first))
    assert json.loads(stored) == document["outcome"]
    # Another instance's key does not verify it.
    with pytest.raises(VerificationError) as wrong:
        verify(document, public_key=bytes(32))
    assert wrong.value.place == "manifest/key"
    # Every download is in the staff action log, with who and what.
    lines = audit_lines(settings)
    assert [(line["format"], line["state"], line["public"]) for line in lines] == [
        ("json", "closed", False),
        ("json", "closed", False),
    ]
    assert lines[1]["actor_id"] == voted.vr.admin_id


def test_exports_of_one_state_are_byte_identical_later_and_from_a_restarted_server(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """ "Two exports of the same state are byte-identical" in every format, also when taken in
    another second and by another server process. The test above takes its two exports within
    the same second of one app: a manifest carrying the time of export to the second
    (``time.strftime``, a mutation run) passed it and every other test here."""
    voted = voted_round(client, settings)
    rid = voted.vr.round_id
    queries = ("format=json", "format=pb&district=city", "format=csv")

    def exports(via: TestClient[Litestar]) -> list[bytes]:
        out = []
        for query in queries:
            response = via.get(f"/api/v1/rounds/{rid}/export?{query}", headers=voted.auditor)
            assert response.status_code == 200, response.text
            out.append(response.content)
        return out

    first = exports(client)
    started = int(time.time())
    while int(time.time()) == started:  # at most a second: the clock's second moves on
        time.sleep(0.05)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as restarted:
        later = exports(restarted)
    for query, a, b in zip(queries, first, later, strict=True):
        assert a == b, query


#: What each kind of log event may carry: nothing that names a voter, a code or a time of day.
EVENT_PAYLOAD_KEYS = {
    "genesis": {"opened", "roll", "roll_fingerprint", "round_fingerprint"},
    "roll": {"change", "codes", "district_id", "roll", "roll_fingerprint"},
    "ballot": {"ballot", "ballot_id", "day", "election", "supersedes"},
    "void": {"voids"},
    "end": {"closed", "events"},
}


def test_no_export_links_a_voter_or_a_code_to_a_ballot(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """The trust model: no export tells how a given resident voted. A ballot event carries its
    content, a random id, the receipt it supersedes and the day, nothing more: not the voter's
    row id, keyed hash or code, nor the time of day (someone who saw a resident vote at 14:03
    could find the ballot). The verifier accepts extra payload keys, and a ballot event carrying
    the voter's row id (or the time of casting instead of the day) passed every test (mutation
    runs). The voters' keyed hashes and the codes' hashes appear in no export format."""
    voted = voted_round(client, settings)
    rid = voted.vr.round_id
    raw, document = export_json(client, rid, voted.auditor)
    for event in document["log"]:
        kind = event["kind"]
        allowed = EVENT_PAYLOAD_KEYS[kind]
        assert set(event["payload"]) <= allowed, (kind, sorted(event["payload"]))
        if kind == "ballot":
            assert set(event["payload"]) == allowed
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", event["payload"]["day"])
            assert re.fullmatch(r"[0-9a-f]{32}", event["payload"]["ballot_id"])
    for ballot in document["ballots"]:
        assert set(ballot) == {"ballot_id", "content", "election"}

    async def secrets_of_the_round(session: AsyncSession) -> list[str]:
        keys = await session.execute(
            text("SELECT voter_key FROM voters WHERE round_id = :r"), {"r": rid}
        )
        hashes = await session.execute(
            text("SELECT code_hash FROM voting_codes WHERE round_id = :r"), {"r": rid}
        )
        return [str(v) for v in [*keys.scalars(), *hashes.scalars()]]

    secrets = run(settings, secrets_of_the_round)
    assert len(secrets) >= 12  # six voters, six codes
    files = [raw]
    for query in ("format=pb&district=city", "format=csv"):
        response = client.get(f"/api/v1/rounds/{rid}/export?{query}", headers=voted.auditor)
        assert response.status_code == 200, response.text
        files.append(response.content)
    for content in files:
        for secret in secrets:
            assert secret.encode() not in content


def test_pb_export_agrees_with_the_json_and_recounts_to_the_outcome(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    _, document = export_json(client, voted.vr.round_id, voted.auditor)
    response = client.get(
        f"/api/v1/rounds/{voted.vr.round_id}/export?format=pb&district=city", headers=voted.auditor
    )
    assert response.status_code == 200, response.text
    assert (
        f'filename="ronde-{voted.vr.round_id}-city.pb"' in response.headers["content-disposition"]
    )
    again = client.get(f"/api/v1/rounds/{voted.vr.round_id}/export?format=pb", headers=voted.admin)
    assert again.content == response.content
    report = verify(document, pb_files=[("stad.pb", response.content)])
    assert "stad.pb: verkiezing city" in report.text()
    # Our own reader and engine give the published winners from the file alone.
    _pb, election = read_election(response.content)
    outcome = count(election, "greedy", tie_break=TieBreak("lowest-cost"))
    assert list(outcome.selected) == document["outcome"]["elections"][0]["outcome"]["selected"]
    # Four non-blank current ballots (one blank, one voided, one superseded are not votes).
    assert sum(b.weight for b in election.ballots) == 4
    # A file that lost a ballot is named.
    lines = response.content.decode("utf-8").split("\r\n")
    shortened = "\r\n".join(lines[:-2] + lines[-1:]).encode("utf-8")
    with pytest.raises(VerificationError) as problem:
        verify(document, pb_files=[("kort.pb", shortened)])
    assert problem.value.place.startswith("kort.pb")


def test_csv_export_is_for_dutch_excel_and_safe_against_formulas(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    response = client.get(
        f"/api/v1/rounds/{voted.vr.round_id}/export?format=csv", headers=voted.auditor
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    again = client.get(f"/api/v1/rounds/{voted.vr.round_id}/export?format=csv", headers=voted.admin)
    assert again.content == response.content
    lines = response.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Verkiezing;Project id;Titel;")
    assert (
        len([line for line in lines if line.startswith("Stedelijk;") and ";ja;" not in line]) >= 4
    )
    # 4 projects, an empty line, the ballot header, 5 current ballots (one blank) and the end.
    assert len(lines) == 1 + 4 + 1 + 1 + 5 + 1
    _, document = export_json(client, voted.vr.round_id, voted.auditor)
    # The server writes the file from the stored text a ballot at a time; from the signed JSON
    # export an auditor gets the same bytes.
    assert to_csv(document) == response.content
    document["projects"][0]["title"] = '=HYPERLINK("https://evil.example")'
    rows = list(csv.reader(io.StringIO(to_csv(document).decode("utf-8-sig")), delimiter=";"))
    assert rows[1][2] == '\'=HYPERLINK("https://evil.example")'
    assert not any(cell.startswith("=") for row in rows for cell in row)
    # Every text cell a person chose (title, theme, the project's district, the election's
    # district name), with every character that starts a formula: only the title was tried, and
    # a theme or district written unneutralised passed (mutation runs).
    starts = ("=", "+", "-", "@", "\t", "\r")
    for start in starts:
        changed = copy.deepcopy(document)
        payload = f"{start}cmd|' /C calc'!A0"
        for project in changed["projects"]:
            project.update(title=payload, theme=payload, district=payload)
        # The election becomes a district whose name is the payload (label of every row).
        changed["definition"]["districts"] = [{"id": 77, "name": payload}]
        changed["outcome"]["elections"][0]["district_id"] = 77
        for ballot in changed["ballots"]:
            ballot["election"] = 77
        text = to_csv(changed).decode("utf-8-sig")
        cells = [cell for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row]
        expected = 4 * len(changed["projects"]) + len(changed["ballots"])
        assert cells.count("'" + payload) == expected, start
        assert not any(cell.startswith(starts) for cell in cells), start


def test_csv_ballot_lists_stay_text_in_a_dutch_spreadsheet(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """A Dutch Excel reads ``1,10`` as the number 1,1 (the comma is its decimal separator): a
    ballot naming projects 1 and 10 would show as "1,1", and points ``3,20`` as "3,2". Lists of
    project ids and points are therefore written with a separator no spreadsheet reads as a
    number or a date."""
    voted = voted_round(client, settings)
    _, document = export_json(client, voted.vr.round_id, voted.auditor)
    first, second = (p["id"] for p in document["projects"][:2])
    document["ballots"].append(
        {
            "election": None,
            "ballot_id": "f" * 32,
            "content": {"points": {str(first): 3, str(second): 20}},
        }
    )
    rows = list(csv.reader(io.StringIO(to_csv(document).decode("utf-8-sig")), delimiter=";"))
    start = rows.index(["Verkiezing", "Stembiljet", "Blanco", "Projecten", "Punten"])
    dutch_number = re.compile(r"-?[0-9]+(,[0-9]+)?")
    by_id = {b["ballot_id"]: b["content"] for b in document["ballots"]}
    several = 0
    for row in rows[start + 1 :]:
        for cell in row[3:5]:
            if "|" in cell:
                several += 1
            assert not (dutch_number.fullmatch(cell) and "," in cell), row
        content = by_id[row[1]]
        named = [int(pid) for pid in row[3].split("|")] if row[3] else []
        if "points" in content:
            assert dict(zip(named, map(int, row[4].split("|")), strict=True)) == {
                int(k): v for k, v in content["points"].items()
            }
        else:
            assert named == content.get("projects", [])
    assert several >= 4


def test_who_may_download_what_when(client: TestClient[Litestar], settings: Settings) -> None:
    early = open_round(settings, phase=Phase.REVIEW, admin_email="vroeg@example.nl")
    auditor = auditor_headers(settings, "tweede-controleur@example.nl")
    resident = bearer(settings, make_user(settings, "inwoner@example.nl"))
    council = bearer(
        settings, make_user(settings, "raad@example.nl", roles=(Role.COUNCIL,)), staff=True
    )
    url = "/api/v1/rounds/{}/export?format={}"
    assert client.get(url.format(early.round_id, "json"), headers=auditor).status_code == 409
    assert client.get(url.format(987654321, "json"), headers=auditor).status_code == 404
    voted = voted_round(client, settings, closed=False)
    rid = voted.vr.round_id
    # During voting: the auditor's JSON (log so far, no ballots, no outcome), nothing else.
    during = client.get(url.format(rid, "json"), headers=auditor)
    assert during.status_code == 200, during.text
    document = json.loads(during.content)
    assert document["manifest"]["state"] == "voting"
    assert "ballots" not in document
    assert "outcome" not in document
    verify(document)
    for headers, fmt, status in (
        (auditor, "pb", 409),
        (auditor, "csv", 409),
        (voted.admin, "json", 409),
        (council, "json", 403),
        (resident, "json", 403),
        ({}, "json", 401),
    ):
        response = client.get(url.format(rid, fmt), headers=headers)
        assert response.status_code == status, (fmt, status, response.text)
        assert response.json()["detail"]
    close(settings, voted.vr)
    assert client.get(url.format(rid, "json"), headers=voted.admin).status_code == 200
    assert client.get(url.format(rid, "json"), headers=council).status_code == 403
    assert client.get(url.format(rid, "json")).status_code == 401
    bad = client.get(url.format(rid, "xlsx"), headers=auditor)
    assert bad.status_code == 400
    assert "pb, json of csv" in bad.json()["detail"]
    assert client.get(url.format(rid, "pb") + "&district=12", headers=auditor).status_code == 400
    # Published: public only when the round says so (export_public, set before publication).
    patched = client.patch(
        f"/api/v1/rounds/{rid}", json={"export_public": True}, headers=voted.admin
    )
    assert patched.status_code == 200, patched.text
    assert client.get(url.format(rid, "json")).status_code == 401  # closed, not yet published
    move(settings, rid, voted.vr.admin_id, Phase.PUBLISHED)
    public = client.get(url.format(rid, "csv"))
    assert public.status_code == 200, public.text
    line = audit_lines(settings)[-1]
    assert (line["actor_id"], line["format"], line["public"]) == (None, "csv", True)


def test_a_cookie_download_must_be_started_from_our_own_site(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings)
    auditor_id = make_user(settings, "cookie@example.nl", roles=(Role.AUDITOR,))
    token = tokens.issue_session_token(settings, user_id=auditor_id, staff=True)
    client.cookies.set(SESSION_COOKIE, token.encoded)
    url = f"/api/v1/rounds/{voted.vr.round_id}/export?format=json"
    before = len(audit_lines(settings))
    assert client.get(url).status_code == 403
    assert client.get(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.get(url, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert len(audit_lines(settings)) == before  # a refused download writes nothing
    assert client.get(url, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.get(url, headers={"Sec-Fetch-Site": "none"}).status_code == 200
    assert len(audit_lines(settings)) == before + 2


def test_district_round_has_one_pb_file_per_district(
    client: TestClient[Litestar], settings: Settings
) -> None:
    vr = two_district_round(client, settings)
    auditor = auditor_headers(settings)
    _, document = export_json(client, vr.round_id, auditor)
    base = f"/api/v1/rounds/{vr.round_id}/export?format=pb"
    missing = client.get(base, headers=auditor)
    assert missing.status_code == 400
    assert "district" in missing.json()["detail"]
    assert client.get(base + "&district=city", headers=auditor).status_code == 400
    files = []
    for district_id in vr.districts:
        response = client.get(base + f"&district={district_id}", headers=auditor)
        assert response.status_code == 200, response.text
        files.append((f"wijk-{district_id}.pb", response.content))
    report = verify(document, pb_files=files)
    assert report.text().count("kloppen met de export") == 2
    # A district's file handed in as if it were the other's does not pass.
    swapped = files[0][1].replace(
        f"election;{vr.districts[0]}".encode(), f"election;{vr.districts[1]}".encode()
    )
    with pytest.raises(VerificationError):
        verify(document, pb_files=[("verwisseld.pb", swapped)])


def test_diff_proves_a_later_export_extends_an_earlier_one(
    client: TestClient[Litestar], settings: Settings
) -> None:
    voted = voted_round(client, settings, closed=False)
    _, early = export_json(client, voted.vr.round_id, voted.auditor)
    voter = redeem(client, issue_codes(settings, voted.vr, 1)[0])
    vote(client, voted.vr.round_id, voter, {"projects": [voted.vr.projects[1]]})
    _, later = export_json(client, voted.vr.round_id, voted.auditor)
    close(settings, voted.vr)
    _, final = export_json(client, voted.vr.round_id, voted.auditor)
    key = published_key(client)
    assert "NEW verlengt OLD" in diff(early, later, public_key=key).text()
    report = diff(early, final, public_key=key).text()
    assert f"de {len(early['log'])} gebeurtenissen van OLD" in report
    with pytest.raises(VerificationError) as shrunk:
        diff(final, early, public_key=key)
    assert shrunk.value.place == "log"


def test_diff_without_a_key_says_so_and_refuses_two_different_keys(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Without --key each export is checked with the key inside it. ``verify`` then warns that
    only integrity, not origin, was checked; ``diff`` dropped that warning and accepted OLD and
    NEW signed with two different keys (NEW made by someone else, extending OLD)."""
    voted = voted_round(client, settings, closed=False)
    _, early = export_json(client, voted.vr.round_id, voted.auditor)
    close(settings, voted.vr)
    _, final = export_json(client, voted.vr.round_id, voted.auditor)
    assert "LET OP" in diff(early, final).text()
    assert "LET OP" not in diff(early, final, public_key=published_key(client)).text()
    other = replace(settings, secret_key="een-andere-geheime-sleutel-" + "y" * 40)
    info = public_key_info(other)
    final["manifest"]["key"] = {k: info[k] for k in ("algorithm", "key_id", "public_key")}
    final["signature"] = sign(other, manifest_bytes(final["manifest"]))
    verify(final)  # on its own it is a sound export, signed with its own key
    with pytest.raises(VerificationError) as problem:
        diff(early, final)
    assert problem.value.place == "manifest/key"


def test_building_the_file_holds_no_write_lock(
    client: TestClient[Litestar], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the file is built (in a worker thread), another writer can take SQLite's write lock
    at once: a big export during voting does not make casts queue behind it. On PostgreSQL the
    same path runs (readers never block writers there); the probe is SQLite's lock."""
    import sqlite3

    from burgerbegroting.audit import export as export_mod

    voted = voted_round(client, settings)
    probes: list[str] = []
    real_render = export_mod.render

    def render_with_probe(*args: Any) -> Any:
        if settings.database_url.startswith("sqlite"):
            path = settings.database_url.split("///", 1)[1]
            connection = sqlite3.connect(path, timeout=0.2, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                probes.append("write lock free")
            except sqlite3.OperationalError as exc:
                probes.append(str(exc))
            finally:
                connection.close()
        else:
            probes.append("write lock free")
        return real_render(*args)

    monkeypatch.setattr(export_mod, "render", render_with_probe)
    response = client.get(
        f"/api/v1/rounds/{voted.vr.round_id}/export?format=json", headers=voted.auditor
    )
    assert response.status_code == 200, response.text
    assert probes == ["write lock free"]
    assert len(audit_lines(settings)) == 1


def test_anonymous_public_downloads_are_limited_per_address_and_staff_are_not(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "var", export_downloads_per_window=2)
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        voted = voted_round(client, settings)
        rid = voted.vr.round_id
        patched = client.patch(
            f"/api/v1/rounds/{rid}", json={"export_public": True}, headers=voted.admin
        )
        assert patched.status_code == 200, patched.text
        move(settings, rid, voted.vr.admin_id, Phase.PUBLISHED)
        url = f"/api/v1/rounds/{rid}/export?format="
        assert client.get(url + "json").status_code == 200
        assert client.get(url + "csv").status_code == 200
        refused = client.get(url + "json")
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) > 0
        assert refused.json()["status"] == 429
        assert refused.json()["detail"].startswith("U heeft het te vaak geprobeerd.")
        # A refused download builds nothing and is not in the staff action log.
        assert [line["public"] for line in audit_lines(settings)] == [True, True]
        # Signed-in staff from the same address are not limited (they are named in the log).
        for headers in (voted.auditor, voted.admin, voted.auditor):
            assert client.get(url + "json", headers=headers).status_code == 200
        assert client.get(url + "pb", headers=voted.auditor).status_code == 200
        assert client.get(url + "json").status_code == 429


def test_council_report_digest_is_cached_and_equals_a_fresh_export(
    client: TestClient[Litestar], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from burgerbegroting.audit import export as export_mod

    voted = voted_round(client, settings)
    rid = voted.vr.round_id

    def digest(with_settings: Settings = settings) -> str:
        async def work(session: AsyncSession) -> str:
            return await export_mod.export_digest(session, with_settings, rid)

        return run(with_settings, work)

    def downloaded() -> str:
        body, _ = export_json(client, rid, voted.auditor)
        return hashlib.sha256(body).hexdigest()

    first = digest()
    assert first == downloaded()
    # The second view is answered from the cache: building the export would fail here.
    # (The digest is hashed from the export's pieces, not from a rendered file: both ways of
    # building it must stay unused.)
    real_render, real_digest = export_mod.render, export_mod.signed_json_digest

    def no_render(*args: Any) -> Any:
        raise AssertionError("the export was built again")

    monkeypatch.setattr(export_mod, "render", no_render)
    monkeypatch.setattr(export_mod, "signed_json_digest", no_render)
    assert digest() == first
    monkeypatch.setattr(export_mod, "render", real_render)
    monkeypatch.setattr(export_mod, "signed_json_digest", real_digest)
    # An override is recorded beside the outcome: the export, hence the digest, stays the same.
    override = client.post(
        f"/api/v1/rounds/{rid}/results/overrides",
        json={
            "project_id": voted.vr.projects[0],
            "decision": "not-funded",
            "reason": "Niet uitvoerbaar gebleken",
        },
        headers=voted.admin,
    )
    assert override.status_code == 201, override.text
    assert downloaded() == first
    assert digest() == first

    # What the export holds beyond the log and the outcome (a summary the database still lets
    # change, the signing key) is a new cache key: the digest follows the fresh export.
    async def shorten(session: AsyncSession) -> None:
        await session.execute(
            text("UPDATE proposals SET summary = 'Korter' WHERE id = :p"),
            {"p": voted.vr.projects[1]},
        )

    run(settings, shorten)
    changed = downloaded()
    assert changed != first
    assert digest() == changed
    other = replace(settings, secret_key="een-andere-geheime-sleutel-" + "x" * 40)

    async def fresh(session: AsyncSession) -> str:
        return hashlib.sha256(await export_mod.json_export(session, other, rid)).hexdigest()

    resigned = digest(other)
    assert resigned not in {first, changed}
    assert resigned == run(other, fresh)


def _keys(value: Any) -> set[str]:
    """Every object key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_an_export_during_voting_carries_no_result_and_is_never_public(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """During voting the auditor's JSON holds the definition, the projects and the log so far:
    no part, manifest entry or field with a result (no outcome, current ballots, votes per project,
    selection or engine version). A round whose export is to be public (export_public, which an
    admin may set during voting) gives nothing to anyone else before publication."""
    voted = voted_round(client, settings, closed=False)
    rid = voted.vr.round_id
    patched = client.patch(
        f"/api/v1/rounds/{rid}", json={"export_public": True}, headers=voted.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["export_public"] is True
    resident = bearer(settings, make_user(settings, "buurman@example.nl"))
    for fmt in ("json", "pb", "csv"):
        url = f"/api/v1/rounds/{rid}/export?format={fmt}"
        assert client.get(url).status_code == 401, fmt
        assert client.get(url, headers=resident).status_code == 403, fmt
        assert client.get(url, headers=voted.admin).status_code == 409, fmt

    _, document = export_json(client, rid, voted.auditor)
    assert set(document) == {"format", "manifest", "signature", "definition", "projects", "log"}
    manifest = document["manifest"]
    assert manifest["state"] == "voting"
    assert set(manifest["parts"]) == {"definition", "projects", "log"}
    assert manifest["engine_version"] is None
    assert {frozenset(p) for p in document["projects"]} == {
        frozenset(
            {"id", "title", "summary", "cost_cents", "theme_id", "theme", "district_id", "district"}
        )
    }
    assert {e["kind"] for e in document["log"]} <= {"genesis", "ballot", "void", "roll"}
    result_words = {"outcome", "selected", "votes", "winners", "elections", "ballots", "tally"}
    assert not _keys(document) & result_words
    report = verify(document, public_key=published_key(client))
    assert "geen uitslag" in report.text()
    assert report.engine_versions is None


def test_ballots_and_log_are_parsed_and_encoded_off_the_event_loop(
    client: TestClient[Litestar], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a large round's export parses every log event and ballot and encodes them again:
    about 2 CPU seconds at 100,000 ballots. On the event loop (the parse ran there) or in one
    call of the C encoder (which holds the GIL throughout, thread or not) it stalled every other
    request of the worker; /health waited 1.5 s behind a download. Only the definition is parsed
    on the loop now, and no encoder call takes more than ``ENCODE_CHUNK`` items of a list."""
    from burgerbegroting.audit import export as export_mod
    from burgerbegroting.audit import exportfiles as files_mod

    voted = voted_round(client, settings)
    parsed_on_loop: list[str] = []
    encoded_lists: list[int] = []

    class RecordingJson:
        @staticmethod
        def loads(text: str | bytes) -> Any:
            if on_event_loop():
                parsed_on_loop.append(str(text)[:40])
            return json.loads(text)

        @staticmethod
        def dumps(value: Any, **options: Any) -> str:
            if isinstance(value, list):
                encoded_lists.append(len(value))
            return json.dumps(value, **options)

    # The loading (on the loop) and the files (in a thread): both modules parse and encode.
    monkeypatch.setattr(export_mod, "json", RecordingJson)
    monkeypatch.setattr(files_mod, "json", RecordingJson)
    monkeypatch.setattr(files_mod, "ENCODE_CHUNK", 2)
    response = client.get(
        f"/api/v1/rounds/{voted.vr.round_id}/export?format=json", headers=voted.auditor
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["log"]) > 2
    assert len(body["ballots"]) > 2
    # Chunked encoding gives the bytes one call gives (the signature checks them too).
    report = verify(json.loads(response.content), public_key=published_key(client))
    assert "LET OP" not in report.text()
    for fmt in ("pb", "csv"):
        other = client.get(
            f"/api/v1/rounds/{voted.vr.round_id}/export?format={fmt}", headers=voted.auditor
        )
        assert other.status_code == 200, other.text
    assert len(parsed_on_loop) == 3, parsed_on_loop  # the definition, once per download
    assert encoded_lists
    assert max(encoded_lists) <= 2


def test_a_long_list_is_encoded_in_chunks_to_the_same_bytes() -> None:
    from burgerbegroting.audit import exportfiles as files_mod

    chunk = files_mod.ENCODE_CHUNK
    for size in (0, 1, chunk, chunk + 1, 2 * chunk, 2 * chunk + 321):
        items = [{"height": i, "payload": {"b": [i, "é"], "a": None}} for i in range(size)]
        whole = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert files_mod.canonical_from_database(items) == whole.encode("utf-8"), size


@pytest.mark.parametrize("closed", [True, False])
def test_the_large_parts_spliced_from_stored_text_equal_the_parsed_and_encoded_ones(
    client: TestClient[Litestar], settings: Settings, closed: bool
) -> None:
    """The JSON export writes the log, the ballots and the outcome from the canonical JSON text
    the database holds instead of parsing and encoding it again (2 CPU s and long garbage
    collections at 100,000 ballots): byte for byte what encoding the parsed parts gives."""
    from burgerbegroting.audit import export as export_mod
    from burgerbegroting.audit import exportfiles as files_mod
    from burgerbegroting.rounds.models import Round

    voted = voted_round(client, settings, closed=closed)

    async def work(session: AsyncSession) -> export_mod.LoadedRound:
        round_ = await session.get(Round, voted.vr.round_id)
        assert round_ is not None
        return await export_mod.load_round(session, round_)

    loaded = run(settings, work)
    spliced = files_mod._spliced_parts(loaded)
    body = loaded.body()
    assert set(spliced) == ({"log", "ballots", "outcome"} if closed else {"log"})
    for name, data in spliced.items():
        assert data == files_mod.canonical_from_database(body[name]), name
    assert any(e["kind"] == "genesis" for e in body["log"])
