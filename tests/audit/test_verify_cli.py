"""``burgerbegroting audit verify|diff`` and ``python -m burgerbegroting.audit.verify`` on files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting.audit.verify import main as verify_main
from burgerbegroting.cli import main
from burgerbegroting.settings import Settings
from tests.audit.factories import export_json, voted_round


def test_verify_and_diff_from_the_command_line(
    client: TestClient[Litestar],
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    voted = voted_round(client, settings)
    raw, document = export_json(client, voted.vr.round_id, voted.auditor)
    pb = client.get(f"/api/v1/rounds/{voted.vr.round_id}/export?format=pb", headers=voted.auditor)
    key = client.get("/.well-known/burgerbegroting-key")
    (tmp_path / "ronde.json").write_bytes(raw)
    (tmp_path / "stad.pb").write_bytes(pb.content)
    (tmp_path / "sleutel.json").write_bytes(key.content)
    capsys.readouterr()

    args = ["audit", "verify", str(tmp_path / "ronde.json"), "--pb", str(tmp_path / "stad.pb")]
    assert main([*args, "--key", str(tmp_path / "sleutel.json")]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("OK")
    assert "Herteling" in out
    assert "stad.pb" in out
    assert main([*args, "--key", key.json()["public_key_hex"]]) == 0
    assert main([*args, "--key", "00" * 32]) == 1
    assert "FOUT bij manifest/key" in capsys.readouterr().err

    height = next(e["height"] for e in document["log"] if e["kind"] == "ballot")
    document["log"][height]["payload"]["day"] = "2000-01-01"
    (tmp_path / "vals.json").write_text(json.dumps(document), encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", "verify", str(tmp_path / "vals.json")]) == 1
    # Not re-signed: named at the event, and the log's digest differs from the signed manifest.
    assert (
        f"FOUT bij gebeurtenis {height}: de hash klopt niet met de inhoud "
        "(en de SHA-256 van deel log wijkt af van het manifest)"
    ) in capsys.readouterr().err

    assert main(["audit", "diff", str(tmp_path / "ronde.json"), str(tmp_path / "ronde.json")]) == 0
    assert "NEW verlengt OLD" in capsys.readouterr().out

    # The documented recount with our own tally command, the lot's seed taken from META.
    seed = next(
        line.split(";", 1)[1] for line in pb.text.splitlines() if line.startswith("tie_break_seed;")
    )
    published = document["outcome"]["elections"][0]["outcome"]["selected"]
    capsys.readouterr()
    assert (
        main(["tally", str(tmp_path / "stad.pb"), "--rule", "greedy", "--seed", seed, "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["selected"] == published

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "burgerbegroting.audit.verify",
            "verify",
            str(tmp_path / "ronde.json"),
            "--key",
            key.json()["public_key"],
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Stemlogboek" in result.stdout
    # Without the command name, as an auditor types it first: verify is the default.
    capsys.readouterr()
    assert verify_main([str(tmp_path / "ronde.json"), "--pb", str(tmp_path / "stad.pb")]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")
    assert verify_main([str(tmp_path / "vals.json")]) == 1
    assert f"FOUT bij gebeurtenis {height}:" in capsys.readouterr().err
