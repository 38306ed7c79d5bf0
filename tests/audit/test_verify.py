"""``audit.verify``: the ``.pb`` check, parts outside the signature, and foreign input."""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from burgerbegroting import __version__
from burgerbegroting.audit.exportformat import (
    PARTS_CLOSED,
    manifest_bytes,
    pabulib_text,
    part_digests,
)
from burgerbegroting.audit.signing import sign
from burgerbegroting.audit.verify import Report, VerificationError, check_pb, diff, main, verify
from burgerbegroting.settings import Settings
from burgerbegroting.voting.ballots import engine_version
from burgerbegroting.voting.tally.pabulib import read_election, read_pabulib, write_pabulib
from burgerbegroting.voting.tally.rules import count
from burgerbegroting.voting.tally.tiebreak import TieBreak
from tests.audit.factories import export_json, voted_round
from tests.audit.test_pabutools import export_of


def capped_round() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Greedy with a cap on theme 1: project 2 is the capped theme's second project and is not
    funded because of the cap alone (a recount without the cap funds it)."""
    definition = {
        "format": "burgerbegroting-round/1",
        "round_id": 9,
        "budget": {"total_cents": 10_000, "scope": "city"},
        "districts": [],
        "themes": [
            {"id": 1, "name": "Zorg", "max_spend_cents": 5_000},
            {"id": 2, "name": "Jeugd", "max_spend_cents": None},
        ],
        "ballot": {
            "type": "approval",
            "approval_max_k": None,
            "cumulative_points": None,
            "min_projects": 0,
            "max_projects": None,
            "min_budget_share_permille": 0,
            "blank_allowed": True,
        },
        "counting": {"rule": "greedy", "tie_break": "lowest-cost"},
        "eligibility": {
            "min_age": None,
            "districts": [],
            "vote_by_code": True,
            "vote_by_account": False,
        },
        "supports": {"enabled": False, "threshold": None},
        "projects": [
            {"id": 1, "title": "A", "cost_cents": 5_000, "theme_id": 1, "district_id": None},
            {"id": 2, "title": "B", "cost_cents": 4_000, "theme_id": 1, "district_id": None},
            {"id": 3, "title": "C", "cost_cents": 8_000, "theme_id": 2, "district_id": None},
        ],
    }
    contents: list[dict[str, Any]] = [{"projects": [1, 2]}] * 3 + [
        {"projects": [1]},
        {"projects": [3]},
    ]
    return definition, contents


def _recount(text: str) -> list[str]:
    pb, election = read_election(text)
    seed = pb.meta_dict.get("tie_break_seed") or None
    tie_break = TieBreak("lowest-cost", seed=seed)
    return list(count(election, "greedy", tie_break=tie_break, leftover=pb.leftover).selected)


def test_a_pb_file_must_agree_with_the_export_in_every_meta_entry_and_project_column() -> None:
    """The verifier's step 7 ("each .pb file agrees with the export: META, projects, …") must
    cover everything a recount of the file uses: a cap, a project's theme, the lot's seed. A file
    changed in any of them would recount to other winners, yet passed when only six META keys
    and three project columns were compared."""
    export = export_of(*capped_round())
    text = pabulib_text(export, None)
    check_pb(export, "ronde.pb", text, Report())
    published = export["outcome"]["elections"][0]["outcome"]["selected"]
    assert _recount(text) == published == ["1"]
    original = read_pabulib(text)

    def with_meta(key: str, value: str | None) -> str:
        meta = [(k, v) for k, v in original.meta if k != key]
        if value is not None:
            meta.append((key, value))
        return write_pabulib(replace(original, meta=tuple(meta)))

    category = original.project_fields.index("category")
    moved = tuple(
        (*row[:category], "2", *row[category + 1 :]) if row[0] == "2" else row
        for row in original.projects
    )
    cases = {
        "ronde.pb META budget_per_category": with_meta("budget_per_category", "100.00"),
        "ronde.pb META categories": with_meta("categories", "2"),
        "ronde.pb META tie_break_seed": with_meta("tie_break_seed", "een ander zaad"),
        "ronde.pb META leftover_budget": with_meta(
            "leftover_budget",
            "Fund additional projects that fit within leftover budget ordered by score",
        ),
        "ronde.pb project 2": write_pabulib(replace(original, projects=moved)),
    }
    for place, tampered in cases.items():
        with pytest.raises(VerificationError) as problem:
            check_pb(export, "ronde.pb", tampered, Report())
        assert problem.value.place == place, (place, str(problem.value))
    # Why it matters: the changed cap, theme or leftover rule recounts to other winners.
    for place in (
        "ronde.pb META budget_per_category",
        "ronde.pb META categories",
        "ronde.pb META leftover_budget",
        "ronde.pb project 2",
    ):
        assert _recount(cases[place]) != published, place


def test_json_nested_too_deep_is_a_named_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An auditor may be handed any file: nesting deeper than Python's recursion limit is
    reported like any other unreadable file, not with a Python traceback."""
    deep = tmp_path / "diep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert main(["verify", str(deep)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FOUT bij {deep}: niet te lezen als JSON")


def test_a_pb_file_that_cannot_be_read_is_named_like_any_other_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/security.md: exit 1 with the first problem, named. A missing --pb file gave exit 2
    and a bare 'FOUT: [Errno 2] …'; a missing export already gave 'FOUT bij FILE: …', exit 1."""
    export = tmp_path / "ronde.json"
    export.write_text("{}", encoding="utf-8")
    missing = tmp_path / "weg.pb"
    assert main(["verify", str(export), "--pb", str(missing)]) == 1
    assert capsys.readouterr().err.startswith(f"FOUT bij {missing}: niet te lezen")


def test_a_part_the_signature_does_not_cover_is_refused(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Everything in the export is signed but for ``format``, ``manifest`` and ``signature``
    themselves. A part added next to them (say a second "outcome" under another name, for a
    reader who opens the file) passed verify unnoticed: the verifier never looked at it."""
    voted = voted_round(client, settings)
    _, document = export_json(client, voted.vr.round_id, voted.auditor)
    verify(document)
    document["uitslag_na_correctie"] = {"selected": ["1"]}
    with pytest.raises(VerificationError) as problem:
        verify(document)
    assert problem.value.place == "uitslag_na_correctie"


def _as_counted_by(export: dict[str, Any], version: str, settings: Settings) -> None:
    """Make ``export`` look counted by another engine version, signed by the server."""
    export["outcome"]["engine_version"] = version
    export["manifest"]["engine_version"] = version
    export["manifest"]["parts"] = part_digests(export, PARTS_CLOSED)
    export["signature"] = sign(settings, manifest_bytes(export["manifest"]))


def test_an_export_from_another_engine_version_is_recounted_and_the_report_says_so(
    client: TestClient[Litestar],
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An export counted with an older engine is not refused (the verifier refused it with
    'gebruik dezelfde versie' before): it is recounted, and the report says plainly that the
    versions differ, in text and in --json. Only a recount equal but for the version passes."""
    voted = voted_round(client, settings)
    _, document = export_json(client, voted.vr.round_id, voted.auditor)
    ours = engine_version()
    assert ours == f"burgerbegroting-tally/{__version__}"
    same = verify(document)
    assert same.engine_versions == (ours, ours)
    assert not any("versies verschillen" in line for line in same.lines)

    old = "burgerbegroting-tally/0.0.9-test"
    _as_counted_by(document, old, settings)
    report = verify(document)
    assert report.engine_versions == (old, ours)
    differ = [line for line in report.lines if "versies verschillen" in line]
    assert len(differ) == 1
    assert old in differ[0]
    assert ours in differ[0]
    assert differ[0] in report.warnings()
    assert any("(op de versie na), byte voor byte" in line for line in report.lines)

    path = tmp_path / "oud.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    assert out["engine_version"] == {"export": old, "verifier": ours, "same": False}
    assert differ[0] in out["warnings"]
    assert out["lines"] == report.lines
    assert main(["verify", str(path)]) == 0
    assert differ[0] in capsys.readouterr().out
    # audit diff keeps the line too, also with --key (before, it kept only the no-key warning)
    key = bytes.fromhex(client.get("/.well-known/burgerbegroting-key").json()["public_key_hex"])
    assert differ[0] in diff(document, document, public_key=key).lines

    # The explanation changed between versions (a step of the trace reads otherwise): the
    # results agree, and the failure says so, names the place and the version to verify with.
    # It does not pass: the council reads that explanation, and this verifier cannot vouch for
    # what another version wrote.
    explained = copy.deepcopy(document)
    explained["outcome"]["elections"][0]["outcome"]["parameters"]["uitleg"] = "anders"
    _as_counted_by(explained, old, settings)
    with pytest.raises(VerificationError) as unexplained:
        verify(explained)
    assert unexplained.value.place.startswith("outcome/elections/0/outcome/parameters")
    assert "dezelfde uitslag" in unexplained.value.message
    assert f"controleer met {old}" in unexplained.value.message

    # Another result does not pass, whatever the version.
    changed = copy.deepcopy(document)
    selected = changed["outcome"]["elections"][0]["outcome"]["selected"]
    selected.append(selected[0])
    _as_counted_by(changed, old, settings)
    with pytest.raises(VerificationError) as problem:
        verify(changed)
    assert problem.value.place.startswith("outcome/elections/0/outcome/selected")
    assert old in problem.value.message
    path.write_text(json.dumps(changed), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify", str(path), "--json"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert failed["ok"] is False
    assert failed["error"]["place"] == problem.value.place

    # The manifest and the outcome must still name the same version.
    split = copy.deepcopy(document)
    split["manifest"]["engine_version"] = ours
    split["signature"] = sign(settings, manifest_bytes(split["manifest"]))
    with pytest.raises(VerificationError) as mismatch:
        verify(split)
    assert mismatch.value.place == "outcome/engine_version"


def test_the_package_version_is_one_version() -> None:
    """pyproject.toml and ``burgerbegroting.__version__`` (which the engine version and the
    outcomes carry) name the same release."""
    pyproject = tomllib.loads(
        (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    )
    assert pyproject["project"]["version"] == __version__
    assert engine_version() == f"burgerbegroting-tally/{pyproject['project']['version']}"


def test_a_pb_file_with_the_right_number_of_votes_but_other_contents_is_refused() -> None:
    """Step 7 compares the VOTES rows as a whole, not only their number: a file in which one
    ballot names another project (as many rows as before) recounts to other winners, and a check
    of the count alone let it pass. The order of the rows is free (it is a keyed shuffle)."""
    export = export_of(*capped_round())
    text = pabulib_text(export, None)
    original = read_pabulib(text)
    fields = list(original.vote_fields)
    vote = fields.index("vote")
    assert [row[vote] for row in original.votes].count("3") == 1
    # The one ballot for project 3 now names project 2: same number of rows, same voter ids.
    changed = tuple(
        (*row[:vote], "2", *row[vote + 1 :]) if row[vote] == "3" else row for row in original.votes
    )
    assert len(changed) == len(original.votes)
    with pytest.raises(VerificationError) as problem:
        check_pb(export, "ronde.pb", write_pabulib(replace(original, votes=changed)), Report())
    assert problem.value.place == "ronde.pb VOTES"
    assert "te veel" in problem.value.message
    # The same rows in another order are the same ballots.
    reordered = write_pabulib(replace(original, votes=tuple(reversed(original.votes))))
    check_pb(export, "ronde.pb", reordered, Report())
