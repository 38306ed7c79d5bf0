"""The pabulib reader and writer: exact money, policies, errors with line numbers, round trips."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from burgerbegroting.voting.tally import pabulib
from burgerbegroting.voting.tally.model import Ballot, BallotType, Cap, CapKind, Election, Project
from burgerbegroting.voting.tally.pabulib import (
    PabulibError,
    PabulibFile,
    from_election,
    read_election,
    read_pabulib,
    write_pabulib,
)
from tests.voting.tally.strategies import elections

DATA = Path("/work/shared/data/pabulib")
SHARED = sorted(DATA.glob("*.pb"))


def pb(meta: str, projects: str, votes: str) -> str:
    return f"META\nkey;value\n{meta}\nPROJECTS\n{projects}\nVOTES\n{votes}\n"


APPROVAL = pb(
    "budget;100\nvote_type;approval",
    "project_id;cost;name\n1;60;Speeltuin\n2;50;Bankjes\n10;0;Gratis",
    "voter_id;vote\nv1;1,2\nv2;2,1\nv3;10",
)


def test_reads_an_approval_file_and_groups_identical_ballots() -> None:
    election = read_pabulib(APPROVAL).election
    assert election.budget == 100
    assert election.decimals == 0
    assert election.ballot_type is BallotType.APPROVAL
    assert [(p.id, p.cost, p.name) for p in election.projects] == [
        ("1", 60, "Speeltuin"),
        ("2", 50, "Bankjes"),
        ("10", 0, "Gratis"),
    ]
    # "1,2" and "2,1" are the same approval ballot.
    assert election.ballots == (Ballot(("1", "2"), (), 2), Ballot(("10",), (), 1))


def test_bom_crlf_and_quoted_fields_are_understood() -> None:
    text = "\ufeff" + pb(
        'budget;100\nvote_type;approval\ndescription;"Wijk; ""Oost"""',
        'project_id;cost;name\n"L18/06/XI";5;"naam met ; en\nregelovergang"',
        "voter_id;vote\n1;L18/06/XI",
    ).replace("\n", "\r\n")
    parsed = read_pabulib(text)
    assert parsed.meta_dict["description"] == 'Wijk; "Oost"'
    assert parsed.election.projects[0].id == "L18/06/XI"
    assert parsed.election.projects[0].name == "naam met ; en\r\nregelovergang"
    assert read_pabulib(text.encode("utf-8")).election == parsed.election


def test_decimal_money_is_exact_with_one_common_scale() -> None:
    text = pb(
        "budget;1000.5\nvote_type;approval",
        "project_id;cost\na;0,25\nb;333.10\nc;7",
        "voter_id;vote\n1;a,b,c",
    )
    election = read_pabulib(text).election
    assert election.decimals == 2
    assert election.budget == 100050
    assert [p.cost for p in election.projects] == [25, 33310, 700]


def test_duplicate_ids_in_a_ballot_follow_the_documented_policy() -> None:
    approval = pb(
        "budget;9\nvote_type;approval", "project_id;cost\na;1\nb;1", "voter_id;vote\n1;a,a,b"
    )
    assert read_pabulib(approval).election.ballots == (Ballot(("a", "b")),)
    cumulative = pb(
        "budget;9\nvote_type;cumulative",
        "project_id;cost\na;1\nb;1",
        "voter_id;vote;points\n1;b,a,b;1,2,3",
    )
    assert read_pabulib(cumulative).election.ballots == (Ballot(("a", "b"), (2, 4)),)
    ordinal = pb(
        "budget;9\nvote_type;ordinal", "project_id;cost\na;1\nb;1", "voter_id;vote\n1;b,a,b"
    )
    assert read_pabulib(ordinal).election.ballots == (Ballot(("b", "a")),)


def test_cumulative_zero_points_are_no_support_and_empty_votes_still_count_as_voters() -> None:
    text = pb(
        "budget;9\nvote_type;cumulative",
        "project_id;cost\na;1\nb;1",
        "voter_id;vote;points\n1;a,b;0,2\n2;;\n3;b;2",
    )
    assert read_pabulib(text).election.ballots == (
        Ballot(("b",), (2,), 2),
        Ballot((), (), 1),
    )


def test_amsterdam_style_caps_themes_and_districts() -> None:
    text = pb(
        "budget;100\nvote_type;approval\ncategories;Armoede,Groen\n"
        "budget_per_category;40,60.5\nneighborhoods;Noord,Zuid\nbudget_per_neighborhood;70,30",
        "project_id;cost;category;neighborhood\na;10;Groen,Armoede;Noord\nb;20;;Zuid",
        "voter_id;vote\n1;a",
    )
    election = read_pabulib(text).election
    assert election.decimals == 1
    assert election.caps == (
        Cap(CapKind.THEME, "Armoede", 400),
        Cap(CapKind.THEME, "Groen", 605),
        Cap(CapKind.DISTRICT, "Noord", 700),
        Cap(CapKind.DISTRICT, "Zuid", 300),
    )
    a, b = election.projects
    assert (a.theme, a.district) == ("Groen", "Noord")
    assert (b.theme, b.district) == (None, "Zuid")


def test_real_amsterdam_files_have_their_caps() -> None:
    _, e166 = read_election(DATA / "Netherlands_Amsterdam_166.pb")
    assert Cap(CapKind.THEME, "Armoede", 52000) in e166.caps
    assert len(e166.caps) == 6
    _, e252 = read_election(DATA / "Netherlands_Amsterdam_252.pb")
    assert {c.key for c in e252.caps} == {"Oostelijke Eilanden", "Haarlemmerhouttuinen", "Other"}
    assert all(c.kind is CapKind.DISTRICT for c in e252.caps)


def test_threshold_comes_from_meta() -> None:
    parsed, _ = read_election(DATA / "Poland_Katowice_2020.pb")
    assert parsed.threshold == 200
    assert read_pabulib(APPROVAL).threshold is None


def test_shared_files_give_the_published_numbers_of_voters_and_projects() -> None:
    for path in SHARED:
        parsed, election = read_election(path)
        assert sum(b.weight for b in election.ballots) == int(parsed.meta_dict["num_votes"])
        assert len(election.projects) == int(parsed.meta_dict["num_projects"])


def test_lodz_has_duplicate_free_grouped_approval_ballots() -> None:
    _, election = read_election(DATA / "Poland_Lodz_2024.pb")
    assert sum(b.weight for b in election.ballots) == 66045
    assert len(election.ballots) < 66045  # identical ballots grouped
    assert all(len(set(b.projects)) == len(b.projects) for b in election.ballots)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("key;value\nbudget;1\n", 1, "must start with META"),
        (pb("budget;1", "project_id;cost\na;1", "vote\na"), None, "no vote_type"),
        (pb("vote_type;approval", "project_id;cost\na;1", "vote\na"), None, "no budget"),
        (pb("budget;1\nvote_type;scoring", "project_id;cost\na;1", "vote\na"), 4, "scoring"),
        (pb("budget;1,5e3\nvote_type;approval", "project_id;cost\na;1", "vote\na"), 3, "budget"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;-1", "vote\na"), 7, "cost"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;x", "vote\na"), 7, "'x'"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;1\na;2", "vote\na"), 8, "twice"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\n;1", "vote\na"), 7, "empty"),
        (pb("budget;1\nvote_type;approval", "id;cost\na;1", "vote\na"), 6, "project_id"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;1;2", "vote\na"), 7, "3 fields"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;1", "voter_id\n1"), 9, "'vote'"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;1", "vote\na\nb"), 11, "'b'"),
        (pb("budget;1\nvote_type;approval", "project_id;cost\na;1", "vote\na,,a"), 10, "empty"),
        (
            pb("budget;1\nvote_type;cumulative", "project_id;cost\na;1", "vote;points\na;1,2"),
            10,
            "points has 2",
        ),
        (
            pb("budget;1\nvote_type;cumulative", "project_id;cost\na;1", "vote;points\na;1.5"),
            10,
            "whole number",
        ),
        (
            pb("budget;1\nvote_type;cumulative", "project_id;cost\na;1", "vote;points\na;-1"),
            10,
            "negative",
        ),
        (
            pb(
                "budget;1\nvote_type;approval\nbudget_per_category;1,2",
                "project_id;cost\na;1",
                "vote\na",
            ),
            5,
            "categories",
        ),
        (
            pb(
                "budget;1\nvote_type;approval\ncategories;x\nbudget_per_category;1,2",
                "project_id;cost\na;1",
                "vote\na",
            ),
            6,
            "2 amounts",
        ),
        ("META\nkey;value\nbudget;1\nVOTES\nvote\n", 4, "expected section PROJECTS"),
        ("META\nkey;value\nbudget;1\nPROJECTS\nproject_id;cost\n", 5, "VOTES"),
        ('META\nkey;value\nbudget;"1\n', 3, "quot"),
    ],
)
def test_bad_files_name_the_line_and_the_problem(text: str, line: int | None, message: str) -> None:
    with pytest.raises(PabulibError, match=message) as info:
        read_pabulib(text).election  # noqa: B018 - reading the election validates it
    assert info.value.line == line
    if line is not None:
        assert str(info.value).startswith(f"line {line}: ")


def test_non_utf8_bytes_and_missing_files_are_pabulib_errors() -> None:
    with pytest.raises(PabulibError, match="UTF-8"):
        read_pabulib(b"META\nkey;value\nname;\xff\n")
    with pytest.raises(PabulibError, match="cannot read"):
        read_election(Path("/nonexistent/file.pb"))


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_every_shared_file_survives_write_and_read(path: Path) -> None:
    parsed, election = read_election(path)
    again = read_pabulib(write_pabulib(parsed))
    assert again == parsed
    assert again.election == election
    assert write_pabulib(again) == write_pabulib(parsed)


# Fields as arbitrary text: separators, quotes, line breaks, spaces, non-ASCII.
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)


@st.composite
def pabulib_files(draw: st.DrawFn) -> PabulibFile:
    # Each extra key once: a key given twice with different values is refused by the count.
    extra_meta = draw(
        st.lists(
            st.tuples(TEXT, TEXT).filter(lambda kv: kv[0].strip() not in {"budget", "vote_type"}),
            max_size=4,
            unique_by=lambda kv: kv[0].strip(),
        )
    )
    ids = draw(
        st.lists(
            st.text("abcXYZ019/-_ ", min_size=1, max_size=5).map(str.strip).filter(bool),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    extra_p = draw(
        st.lists(
            TEXT.filter(lambda t: t.strip() not in {"project_id", "cost", ""}),
            max_size=2,
            unique_by=str.strip,
        )
    )
    projects = tuple(
        (pid, str(draw(st.integers(0, 10**6))), *(draw(TEXT) for _ in extra_p)) for pid in ids
    )
    extra_v = draw(
        st.lists(
            TEXT.filter(lambda t: t.strip() not in {"vote", "voter_id", ""}),
            max_size=2,
            unique_by=str.strip,
        )
    )
    votes = tuple(
        (
            str(i),
            ",".join(draw(st.lists(st.sampled_from(ids), max_size=4))),
            *(draw(TEXT) for _ in extra_v),
        )
        for i in range(draw(st.integers(0, 6)))
    )
    return PabulibFile(
        meta=(("budget", str(draw(st.integers(0, 10**7)))), ("vote_type", "approval"), *extra_meta),
        project_fields=("project_id", "cost", *extra_p),
        projects=projects,
        vote_fields=("voter_id", "vote", *extra_v),
        votes=votes,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pabulib_files())
def test_write_then_read_is_lossless(original: PabulibFile) -> None:
    again = read_pabulib(write_pabulib(original))
    assert again == original
    assert again.election == original.election


def _canonical(election: Election) -> Election:
    """The election as the reader groups it: approval ballots as sorted sets, merged."""
    merged: dict[tuple[tuple[str, ...], tuple[int, ...]], int] = {}
    for b in election.ballots:
        if election.ballot_type is BallotType.CUMULATIVE:
            items = sorted(zip(b.projects, b.points, strict=True))
            key = (tuple(p for p, _ in items), tuple(v for _, v in items))
        elif election.ballot_type is BallotType.ORDINAL:
            key = (b.projects, ())
        else:
            key = (tuple(sorted(b.projects)), ())
        merged[key] = merged.get(key, 0) + b.weight
    return Election(
        election.budget,
        election.projects,
        tuple(Ballot(p, pts, w) for (p, pts), w in merged.items()),
        election.ballot_type,
        election.decimals,
        election.caps,
    )


@settings(max_examples=200, deadline=None)
@given(elections(caps=True), st.sampled_from([0, 2]))
def test_an_election_written_as_pabulib_reads_back_the_same(
    election: Election, decimals: int
) -> None:
    election = Election(
        election.budget,
        election.projects,
        election.ballots,
        election.ballot_type,
        decimals,
        election.caps,
    )
    written = write_pabulib(from_election(election, meta={"description": "Wijkbudget; test"}))
    parsed = read_pabulib(written)
    assert parsed.meta_dict["description"] == "Wijkbudget; test"
    assert parsed.election == _canonical(election)


@settings(max_examples=50, deadline=None)
@given(elections(caps=True), st.integers(1, 5))
def test_rows_written_in_slices_give_the_text_of_one_call(election: Election, chunk: int) -> None:
    """``write_pabulib`` writes ``WRITE_CHUNK`` rows per writer call (so that a server thread
    writing 100,000 votes lets the event loop in); slices of 1 to 5 rows, across section
    boundaries, give the text a single call gives."""
    written = from_election(election, meta={"description": 'Wijk\nbudget; "test"'})
    whole = write_pabulib(written)
    previous = pabulib.WRITE_CHUNK
    try:
        pabulib.WRITE_CHUNK = chunk
        sliced = write_pabulib(written)
    finally:
        pabulib.WRITE_CHUNK = previous
    assert sliced == whole
    assert read_pabulib(sliced) == written


def test_from_election_refuses_ids_a_pabulib_vote_cannot_hold() -> None:
    bad = Election(1, (Project("a,b", 1),), (), BallotType.APPROVAL)
    with pytest.raises(PabulibError, match="cannot be written"):
        from_election(bad)


def test_leftover_rule_is_read_from_meta_and_unknown_wording_refused() -> None:
    text = pb(
        "budget;10\nvote_type;approval\nleftover_budget;"
        "Fund additional projects that fit within leftover budget ordered by score",
        "project_id;cost\na;5",
        "voter_id;vote\n1;a",
    )
    assert read_pabulib(text).leftover == "fund-by-score"
    assert read_pabulib(APPROVAL).leftover == "keep"
    odd = text.replace("Fund additional projects", "Give it back")
    with pytest.raises(PabulibError, match="line 5: leftover_budget"):
        _ = read_pabulib(odd).leftover


def test_the_writer_writes_the_leftover_rule_back() -> None:
    _, election = read_election(DATA / "Netherlands_Amsterdam_166.pb")
    written = read_pabulib(write_pabulib(from_election(election, leftover="fund-by-score")))
    assert written.leftover == "fund-by-score"
    assert read_pabulib(write_pabulib(from_election(election))).leftover == "keep"


# An auditor's reader: files that contradict themselves are refused, naming the line.
CONSISTENT_META = "budget;100\nvote_type;approval"
PROJECTS_ABC = "project_id;cost\na;30\nb;40\nc;50"


@pytest.mark.parametrize(
    ("meta", "votes", "line", "message"),
    [
        ("", "voter_id;vote\n1;a\n2;b\n1;c", 14, "voter_id '1' appears twice (first on line 12)"),
        ("\nnum_votes;4", "voter_id;vote\n1;a\n2;b", 5, "num_votes says 4 but VOTES has 2 rows"),
        ("\nnum_projects;2", "voter_id;vote\n1;a", 5, "num_projects says 2 but PROJECTS has 3"),
        # Two budgets: which one did the city use? (the last one, read quietly, before)
        ("\nbudget;1000", "voter_id;vote\n1;a", 5, "'budget' is given twice, as '100' (line 3)"),
        ("\nmax_length;2", "voter_id;vote\n1;a\n2;a,b,c", 14, "names 3 projects; max_length"),
        ("\nmin_length;2", "voter_id;vote\n1;a,b\n2;c", 14, "names 1 projects; min_length"),
        ("\nmax_sum_cost;80", "voter_id;vote\n1;a,b\n2;b,c", 14, "cost 90; max_sum_cost is 80"),
        ("\nmin_sum_cost;40.5", "voter_id;vote\n1;a,b\n2;b", 14, "cost 40; min_sum_cost"),
    ],
)
def test_inconsistent_files_are_refused_and_lenient_reading_warns(
    meta: str, votes: str, line: int, message: str
) -> None:
    text = pb(CONSISTENT_META + meta, PROJECTS_ABC, votes)
    with pytest.raises(PabulibError, match=f"^line {line}: .*{re.escape(message)}"):
        read_election(text)
    parsed, election = read_election(text, lenient=True)
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith(f"line {line}: ")
    assert message in parsed.warnings[0]
    assert sum(b.weight for b in election.ballots) == len(votes.splitlines()) - 1


def test_a_choose_one_ballot_naming_two_projects_is_refused() -> None:
    text = pb("budget;100\nvote_type;choose-1", PROJECTS_ABC, "voter_id;vote\n1;a\n2;a,b")
    with pytest.raises(PabulibError, match=r"^line 13: vote names 2 projects; a choose-1"):
        read_election(text)


def test_cumulative_points_limits_are_checked() -> None:
    text = pb(
        "budget;100\nvote_type;cumulative\nmax_sum_points;5",
        PROJECTS_ABC,
        "voter_id;vote;points\n1;a,b;2,3\n2;a,b;3,3",
    )
    with pytest.raises(PabulibError, match=r"^line 14: vote gives 6 points; max_sum_points is 5"):
        read_election(text)


@pytest.mark.parametrize(
    ("meta", "projects", "votes", "what"),
    [
        ("budget;" + "9" * 5000 + "\nvote_type;approval", PROJECTS_ABC, "vote\na", "budget"),
        (CONSISTENT_META, "project_id;cost\na;1." + "5" * 5000, "vote\na", "cost of project"),
        (CONSISTENT_META + "\nnum_votes;" + "1" * 5000, PROJECTS_ABC, "vote\na", "num_votes"),
        (
            "budget;100\nvote_type;cumulative",
            PROJECTS_ABC,
            "vote;points\na;" + "7" * 5000,
            "points value",
        ),
    ],
)
def test_numbers_of_thousands_of_digits_are_refused_not_a_traceback(
    meta: str, projects: str, votes: str, what: str
) -> None:
    with pytest.raises(PabulibError, match=f"{what} .*too many digits"):
        read_election(pb(meta, projects, votes))


def _big_file(path: Path, rows: int, *, duplicate_at: int | None = None) -> None:
    """Many voters, few distinct ballots (as in real files), written line by line."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("\ufeffMETA\r\nkey;value\r\nbudget;1000\r\nvote_type;approval\r\n")
        f.write(f"num_votes;{rows}\r\nPROJECTS\r\nproject_id;cost\r\n")
        f.write("".join(f"p{i};{10 + i}\r\n" for i in range(20)))
        f.write("VOTES\r\nvoter_id;vote\r\n")
        for v in range(rows):
            vid = 7 if duplicate_at == v else v
            f.write(f"{vid};p{v % 20},p{(v * 7) % 20},p{(v // 3) % 5}\r\n")


def test_reading_a_large_file_grouped_keeps_memory_bounded_and_counts_the_same(
    tmp_path: Path,
) -> None:
    path = tmp_path / "large.pb"
    _big_file(path, 150_000)

    def peak(group_votes: bool) -> tuple[int, Election]:
        tracemalloc.start()
        try:
            _, election = read_election(path, group_votes=group_votes)
            return tracemalloc.get_traced_memory()[1], election
        finally:
            tracemalloc.stop()

    grouped_peak, grouped = peak(True)
    rows_peak, by_rows = peak(False)
    assert _canonical(grouped) == _canonical(by_rows)
    assert sum(b.weight for b in grouped.ballots) == 150_000
    # Rows kept: every row's fields. Grouped: 60 distinct ballots plus 8 bytes a voter for the
    # duplicate-id check (a set of the 150,000 ids took 11.8 MB of the peak; now 1.3 MB in all).
    assert grouped_peak < rows_peak / 3
    assert grouped_peak < 4 * 2**20


def test_a_grouped_read_still_finds_duplicate_voters_and_cannot_be_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "twice.pb"
    _big_file(path, 50, duplicate_at=20)
    with pytest.raises(PabulibError, match=r"^line 50: voter_id '7' appears twice"):
        read_election(path, group_votes=True)
    parsed, _ = read_election(path, group_votes=True, lenient=True)
    assert len(parsed.warnings) == 1
    with pytest.raises(PabulibError, match="no vote rows"):
        write_pabulib(parsed)


@pytest.mark.parametrize("source", ["path", "text"])
def test_ids_sharing_a_hash_are_told_apart_and_real_duplicates_named_with_both_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """A grouped read keeps only each voter id's 64-bit hash; when hashes repeat it reads the
    ids again. With a hash that makes ids of one length collide, ids that only share a hash
    must not be called duplicates (they would be if the hashes were trusted), and the real
    duplicate is named with its first and its second line, from a file and from text."""
    monkeypatch.setattr(pabulib, "_id_hash", len)
    text = (
        "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n"
        "a;10\nb;20\nVOTES\nvoter_id;vote\n10;a\n11;b\n\n12;a,b\n 10 ;b\n123;a\n99;a\n"
    )
    path = tmp_path / "shared-hash.pb"
    path.write_text(text, encoding="utf-8")
    src: str | Path = path if source == "path" else text
    with pytest.raises(
        PabulibError, match=r"^line 15: voter_id '10' appears twice \(first on line 11\)"
    ):
        read_election(src, group_votes=True)
    parsed, election = read_election(src, group_votes=True, lenient=True)
    assert len(parsed.warnings) == 1
    assert sum(b.weight for b in election.ballots) == 6
    # Without a repeated hash there is no second pass and nothing to report.
    monkeypatch.setattr(pabulib, "_id_hash", hash)
    clean = text.replace(" 10 ;b", "13;b")
    parsed, _ = read_election(clean, group_votes=True, lenient=True)
    assert not parsed.warnings


def test_a_grouped_read_finds_duplicate_long_voter_ids_and_tells_near_ones_apart(
    tmp_path: Path,
) -> None:
    # Ids longer than 16 characters are checked through a hash, shorter ones as they are.
    long_id = "voter-0123456789abcdef"
    path = tmp_path / "long.pb"
    path.write_text(
        "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n"
        f"a;10\nVOTES\nvoter_id;vote\n{long_id};a\n{long_id}x;a\n{long_id[:16]};a\n"
        f" {long_id} ;a\n",
        encoding="utf-8",
    )
    with pytest.raises(PabulibError, match=rf"^line 13: voter_id '{long_id}' appears twice"):
        read_election(path, group_votes=True)
    parsed, election = read_election(path, group_votes=True, lenient=True)
    assert len(parsed.warnings) == 1
    assert sum(b.weight for b in election.ballots) == 4


def test_a_blank_ballot_is_an_abstention_not_a_breach_of_the_minimums() -> None:
    text = pb(
        CONSISTENT_META + "\nmin_length;2\nmin_sum_cost;40",
        PROJECTS_ABC,
        "voter_id;vote\n1;a,b\n2;",
    )
    parsed, election = read_election(text)
    assert parsed.warnings == []
    assert sum(b.weight for b in election.ballots) == 2
