"""The tally command: JSON and Dutch output, options, errors (exit 2, no traceback), golden Assen."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from burgerbegroting.voting.tally.cli import add_tally_parser, main, run_tally
from burgerbegroting.voting.tally.pabulib import read_election

DATA = Path("/work/shared/data/pabulib")
ASSEN = DATA / "Netherlands_Assen_2024.pb"

SMALL = """META
key;value
budget;10
vote_type;approval
currency;EUR
PROJECTS
project_id;cost;name
a;6;Speeltuin
b;5;Bankjes aan de Vaart
c;4;Buurtfeest
d;3;Niemand wil dit
VOTES
voter_id;vote
1;a,b,c
2;a,b
3;a,c
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.pb"
    path.write_text(SMALL, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_rule_selected_cost_budget_and_trace(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hand-checked: a (3 votes, 6) first; b and c tie on 2 votes; lexicographic puts b first,
    # b (5) does not fit the 4 left, c (4) does; d has no votes.
    code, out, err = run(
        capsys, str(small), "--rule", "greedy", "--tie-break", "lexicographic", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["rule"] == "greedy"
    assert data["selected"] == ["a", "c"]
    assert (data["cost"], data["budget"], data["leftover"]) == (10, 10, 0)
    assert [(s["project"], s["reason"]) for s in data["trace"]] == [
        ("a", "selected"),
        ("b", "does-not-fit"),
        ("c", "selected"),
        ("d", "no-support"),
    ]
    assert data["tie_break"] == "lexicographic"
    assert data["voters"] == 3
    assert err == ""


def test_default_tie_break_records_the_seed_used(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, str(small), "--rule", "greedy", "--json")
    data = json.loads(out)
    assert data["tie_break"] == "lowest-cost"
    assert len(data["seed"]) == 64  # the election's fingerprint
    _, out, _ = run(capsys, str(small), "--rule", "greedy", "--json", "--seed", "raad-2026")
    assert json.loads(out)["seed"] == "raad-2026"


def test_explicit_order_decides_ties(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys,
        str(small),
        "--rule",
        "phragmen",
        "--tie-break",
        "explicit",
        "--order",
        "d,c,b,a",
        "--json",
    )
    data = json.loads(out)
    assert data["tie_break_order"] == ["d", "c", "b", "a"]
    assert data["cost"] <= 10


def test_explain_prints_a_dutch_table(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(small), "--rule", "greedy", "--tie-break", "lexicographic")
    assert code == 0
    assert "Telmethode: meeste stemmen eerst (greedy)" in out
    assert "(greedy) (greedy)" not in out
    assert "Budget: € 10; toegekend: € 10; over: € 0" in out
    lines = {
        line.split()[0]: line for line in out.splitlines() if line[:2] in {"a ", "b ", "c ", "d "}
    }
    assert lines["a"].endswith("gefinancierd")
    assert "past niet in het resterende budget" in lines["b"]
    assert "niemand heeft erop gestemd" in lines["d"]
    assert "Speeltuin" in lines["a"]


def test_mes_explanation_shows_effective_votes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, str(ASSEN), "--rule", "mes", "--tie-break", "lexicographic", "--explain"
    )
    assert code == 0
    assert "stemmen  gefinancierd" in out
    assert "het geld van de voorstanders ging naar andere projecten" in out or (
        "te weinig stemmen voor de kosten" in out
    )


@pytest.mark.parametrize("tie", ["lexicographic", "lowest-cost"])
def test_mes_add1_gives_the_official_assen_winners(
    tie: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parsed, _ = read_election(ASSEN)
    fields = [f.strip() for f in parsed.project_fields]
    official = {
        row[fields.index("project_id")]
        for row in parsed.projects
        if row[fields.index("selected")].strip() == "1"
    }
    code, out, _ = run(capsys, str(ASSEN), "--rule", "mes-add1", "--tie-break", tie, "--json")
    assert code == 0
    assert set(json.loads(out)["selected"]) == official
    assert len(official) == 9


def test_threshold_from_the_file_and_a_note_when_it_is_not_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.pb"
    path.write_text(SMALL.replace("currency;EUR", "min_project_score_threshold;3"), "utf-8")
    _, out, err = run(capsys, str(path), "--rule", "greedy", "--json")
    assert json.loads(out)["selected"] == ["a", "c"]
    assert "--threshold file" in err
    _, out, _ = run(capsys, str(path), "--rule", "greedy", "--json", "--threshold", "file")
    data = json.loads(out)
    assert data["selected"] == ["a"]
    assert data["parameters"]["threshold"] == "3"


def test_caps_apply_to_greedy_and_are_dropped_with_a_note_for_other_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = DATA / "Netherlands_Amsterdam_166.pb"
    _, out, _ = run(capsys, str(path), "--rule", "greedy", "--json")
    with_caps = json.loads(out)
    assert any(s["reason"] == "cap-reached" for s in with_caps["trace"])
    _, out, _ = run(capsys, str(path), "--rule", "greedy", "--json", "--ignore-caps")
    assert not any(s["reason"] == "cap-reached" for s in json.loads(out)["trace"])
    code, out, err = run(capsys, str(path), "--rule", "mes", "--json")
    assert code == 0
    assert "genegeerd" in err
    assert json.loads(out)["notes"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rule", "phragmen", "--no-skip"], "--no-skip only applies"),
        (["--rule", "greedy", "--skip"], "--skip only applies"),
        (["--rule", "mes", "--threshold", "3"], "--threshold only applies"),
        (["--rule", "greedy", "--threshold", "drie"], "whole number"),
        (["--rule", "greedy", "--threshold", "file"], "no min_project_score_threshold"),
        (["--rule", "greedy", "--tie-break", "explicit"], "complete order"),
        (["--rule", "greedy", "--tie-break", "explicit", "--order", "a,b"], "missing c, d"),
        (["--rule", "greedy", "--tie-break", "lexicographic", "--seed", "1"], "seed"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    small: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, str(small), *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_bad_file_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.pb"
    path.write_text(SMALL.replace("b;5;", "b;vijf;"), encoding="utf-8")
    code, out, err = run(capsys, str(path), "--rule", "mes")
    assert code == 2
    assert out == ""
    assert "line 9:" in err
    assert "'vijf'" in err


def test_unknown_rule_and_missing_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([str(ASSEN), "--rule", "borda"])
    assert info.value.code == 2
    code, _, err = run(capsys, "/nonexistent.pb", "--rule", "mes")
    assert code == 2
    assert "cannot read" in err


def test_ordinal_file_with_mes_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "o.pb"
    path.write_text(SMALL.replace("vote_type;approval", "vote_type;ordinal"), encoding="utf-8")
    code, _, err = run(capsys, str(path), "--rule", "mes")
    assert code == 2
    assert "ordinal" in err
    code, out, _ = run(capsys, str(path), "--rule", "greedy", "--json")
    assert code == 0
    assert json.loads(out)["ballot_type"] == "ordinal"


def test_progress_goes_to_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(ASSEN), "--rule", "mes-add1", "--json", "--progress")
    assert code == 0
    assert "Tellen" in err
    json.loads(out)  # stdout stays one clean JSON object
    _, _, err = run(capsys, str(ASSEN), "--rule", "mes-add1", "--json", "--no-progress")
    assert "Tellen" not in err


def test_subcommand_plugs_into_another_parser(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="burgerbegroting")
    add_tally_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tally", str(small), "--rule", "greedy", "--json"])
    assert args.command == "tally"
    assert run_tally(args) == 0
    assert json.loads(capsys.readouterr().out)["rule"] == "greedy"


def test_python_dash_m_runs_with_nothing_but_the_package(small: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "burgerbegroting.voting.tally",
            str(small),
            "--rule",
            "mes-add1",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rule"] == "mes-add1"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "burgerbegroting.voting.tally",
            str(small),
            "--rule",
            "mes",
            "--skip",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_greedy_follows_the_files_leftover_rule_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = "/work/shared/data/pabulib/Netherlands_Amsterdam_166.pb"
    code, out, _ = run(capsys, path, "--rule", "greedy", "--json")
    assert code == 0
    funded = json.loads(out)
    assert funded["parameters"]["leftover"] == "fund-by-score"
    assert any("leftover_budget" in note for note in funded["notes"])
    code, out, _ = run(capsys, path, "--rule", "greedy", "--leftover", "keep", "--json")
    kept = json.loads(out)
    assert kept["parameters"]["leftover"] == "keep"
    assert funded["cost"] > kept["cost"]
    assert set(kept["selected"]) < set(funded["selected"])
    code, _, err = run(capsys, path, "--rule", "mes", "--leftover", "keep")
    assert code == 2
    assert "--leftover" in err


def test_an_inconsistent_file_is_refused_and_counted_with_warnings_when_lenient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "twice.pb"
    path.write_text(SMALL.replace("3;a,c", "3;a,c\n2;d"), encoding="utf-8")
    code, out, err = run(capsys, str(path), "--rule", "greedy", "--json")
    assert code == 2
    assert out == ""
    assert "line 17: voter_id '2' appears twice" in err
    code, out, err = run(capsys, str(path), "--rule", "greedy", "--json", "--lenient")
    assert code == 0
    data = json.loads(out)
    assert data["voters"] == 4
    assert len(data["warnings"]) == 1
    assert "appears twice" in data["warnings"][0]
    assert "waarschuwing" in err
    assert "appears twice" in err


def test_json_piped_into_a_reader_that_stops_early_is_no_traceback() -> None:
    lodz = "/work/shared/data/pabulib/Poland_Lodz_2024.pb"
    args = ["-m", "burgerbegroting.voting.tally", lodz, "--rule", "greedy", "--json"]
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(10) == b'{"rule": "'
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 0
    assert "Traceback" not in err


def test_ordinal_scores_are_an_option_shown_in_explain_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ranked.pb"
    path.write_text(
        "META\nkey;value\nbudget;1\nvote_type;ordinal\nPROJECTS\nproject_id;cost\n"
        "a;1\nb;1\nc;1\nd;1\ne;1\nVOTES\nvoter_id;vote\n1;a,c\n2;d,b,c\n3;d,b,c\n4;d,b,c\n5;c\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, str(path), "--rule", "greedy", "--json")
    assert json.loads(out)["selected"] == ["c"]
    assert json.loads(out)["parameters"]["ordinal_scores"] == "borda"
    args = (str(path), "--rule", "greedy", "--ordinal-scores", "3,2,1")
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    assert json.loads(out)["selected"] == ["d"]
    assert json.loads(out)["parameters"]["ordinal_scores"] == "3,2,1"
    code, out, _ = run(capsys, *args, "--explain")
    assert "Punten per plaats in de rangorde: 3, 2, 1" in out
    code, _, err = run(capsys, str(path), "--rule", "greedy", "--ordinal-scores", "drie")
    assert code == 2
    assert "--ordinal-scores" in err


def test_the_lot_uses_the_seed_the_file_publishes_unless_one_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our exports carry the lot's seed in META (tie_break_seed); a recount without --seed used
    the file's fingerprint instead and could draw another lot than the published count."""
    path = tmp_path / "lot.pb"
    tie = "META\nkey;value\nbudget;5\nvote_type;approval\ntie_break_seed;{seed}\n"
    tie += "PROJECTS\nproject_id;cost\nx;5\ny;5\nVOTES\nvoter_id;vote\n1;x\n2;y\n"
    path.write_text(tie.format(seed="gepubliceerd-zaad"), encoding="utf-8")
    code, out, err = run(capsys, str(path), "--rule", "greedy", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["seed"] == "gepubliceerd-zaad"
    assert any("tie_break_seed" in note for note in data["notes"])
    given = run(capsys, str(path), "--rule", "greedy", "--seed", "gepubliceerd-zaad", "--json")
    assert json.loads(given[1])["selected"] == data["selected"]
    other = json.loads(run(capsys, str(path), "--rule", "greedy", "--seed", "ander", "--json")[1])
    assert other["seed"] == "ander"
