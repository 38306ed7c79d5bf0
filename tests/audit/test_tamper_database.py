"""Tampering with the database itself after closing, then exporting: the verifier names the place.

Issue #9 asks for changes "to the database after closing"; ``test_tamper.py`` changes a copy of
the export instead. That is the same only if every stored value the verifier relies on reaches
the export as stored: a DB change the export smoothed over (a current ballot read through the
log instead of the ``ballots`` table, an outcome recounted at download instead of read from
``round_results``) would be invisible to it. Here each case writes one change with plain SQL
(what someone with database access can do; the append-only triggers on ballots, the log and the
outcome are dropped first, as a database superuser can), exports through the API, and the
verifier must fail at the right place.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import db
from burgerbegroting.audit.verify import VerificationError, verify
from burgerbegroting.settings import Settings
from tests.audit.factories import export_json, voted_round
from tests.proposals.factories import run


def _rows(settings: Settings, sql: str, **params: Any) -> list[Any]:
    async def work(session: AsyncSession) -> list[Any]:
        return list((await session.execute(text(sql), params)).all())

    return run(settings, work)


def _write(settings: Settings, sql: str, **params: Any) -> None:
    """Run one change with the table's triggers out of the way (dropped on SQLite, disabled on
    PostgreSQL): the server's own guards are not what this test is about."""
    table = re.search(r"(?:UPDATE|FROM)\s+(\w+)", sql)
    assert table is not None

    async def work(session: AsyncSession) -> None:
        name = table.group(1)
        if db.is_sqlite(settings.database_url):
            triggers = await session.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                {"t": name},
            )
            for (trigger,) in triggers.all():
                await session.execute(text(f'DROP TRIGGER "{trigger}"'))
        else:
            await session.execute(text(f"ALTER TABLE {name} DISABLE TRIGGER USER"))
        await session.execute(text(sql), params)

    run(settings, work)


def _current(settings: Settings, round_id: int) -> list[Any]:
    """(ballot id, uid, content, voter id) of the current ballots, by uid."""
    return _rows(
        settings,
        "SELECT b.id, b.ballot_uid, b.content, v.id FROM ballots b "
        "JOIN voters v ON v.current_ballot_id = b.id WHERE b.round_id = :r ORDER BY b.ballot_uid",
        r=round_id,
    )


def canonical(value: Any) -> str:
    """As the server stores JSON: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spaced(value: Any) -> str:
    """As a hand edit in ``psql`` might write it: the same JSON with spaces and keys unsorted.
    The server signs the stored text as it is; the verifier re-encodes canonically, so the
    part's digest differs too, and the verifier must still name the place inside it."""
    return json.dumps(value, indent=1)


def change_a_current_ballot(settings: Settings, round_id: int, dumps: Any = canonical) -> str:
    ballot_id, uid, content, _voter = next(
        row for row in _current(settings, round_id) if "projects" in row[2]
    )
    changed = {"projects": [4]} if json.loads(content)["projects"] != [4] else {"projects": [3]}
    _write(
        settings,
        "UPDATE ballots SET content = :c WHERE id = :b",
        c=dumps(changed),
        b=ballot_id,
    )
    return f"stembiljet {uid}"


def count_a_superseded_ballot_again(settings: Settings, round_id: int) -> str:
    """Voter 0 recast: point the voter back at the first ballot (the one the recast replaced)."""
    ((first_id, first_uid, voter_id),) = _rows(
        settings,
        "SELECT b.id, b.ballot_uid, b.voter_id FROM ballots b WHERE b.round_id = :r AND b.id IN "
        "(SELECT supersedes_id FROM ballots WHERE round_id = :r AND supersedes_id IS NOT NULL)",
        r=round_id,
    )
    _write(
        settings, "UPDATE voters SET current_ballot_id = :b WHERE id = :v", b=first_id, v=voter_id
    )
    return f"stembiljet {first_uid}"


def drop_a_current_ballot(settings: Settings, round_id: int) -> str:
    _ballot, uid, _content, voter_id = _current(settings, round_id)[0]
    _write(settings, "UPDATE voters SET current_ballot_id = NULL WHERE id = :v", v=voter_id)
    return f"stembiljet {uid}"


def change_a_ballot_event(settings: Settings, round_id: int, dumps: Any = canonical) -> str:
    ((event_id, height, payload),) = _rows(
        settings,
        "SELECT id, height, payload FROM log_events WHERE round_id = :r AND kind = 'ballot' "
        "ORDER BY height LIMIT 1",
        r=round_id,
    )
    changed = json.loads(payload)
    changed["ballot"] = {"projects": [4]}
    _write(
        settings,
        "UPDATE log_events SET payload = :p WHERE id = :e",
        p=dumps(changed),
        e=event_id,
    )
    return f"gebeurtenis {height}"


def delete_a_log_event(settings: Settings, round_id: int) -> str:
    ((height,),) = _rows(
        settings,
        "SELECT height FROM log_events WHERE round_id = :r AND kind = 'void'",
        r=round_id,
    )
    _write(
        settings, "DELETE FROM log_events WHERE round_id = :r AND height = :h", r=round_id, h=height
    )
    return f"gebeurtenis {height}"


def change_the_stored_outcome(settings: Settings, round_id: int, dumps: Any = canonical) -> str:
    ((document,),) = _rows(
        settings, "SELECT document FROM round_results WHERE round_id = :r", r=round_id
    )
    changed = json.loads(document)
    changed["elections"][0]["outcome"]["selected"] = changed["elections"][0]["outcome"]["selected"][
        1:
    ]
    _write(
        settings,
        "UPDATE round_results SET document = :d WHERE round_id = :r",
        d=dumps(changed),
        r=round_id,
    )
    return "outcome/elections/0/outcome/selected"


CASES = (
    change_a_current_ballot,
    count_a_superseded_ballot_again,
    drop_a_current_ballot,
    change_a_ballot_event,
    delete_a_log_event,
    change_the_stored_outcome,
)


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_a_change_to_the_database_after_closing_is_found_in_the_next_export(
    client: TestClient[Litestar], settings: Settings, case: Any
) -> None:
    voted = voted_round(client, settings)
    rid = voted.vr.round_id
    _, before = export_json(client, rid, voted.auditor)
    verify(before)
    place = case(settings, rid)
    _, after = export_json(client, rid, voted.auditor)
    assert after != before
    with pytest.raises(VerificationError) as problem:
        verify(after)
    assert problem.value.place.startswith(place), (place, str(problem.value))


TEXT_CASES = (change_a_current_ballot, change_a_ballot_event, change_the_stored_outcome)


@pytest.mark.parametrize("case", TEXT_CASES, ids=[c.__name__ for c in TEXT_CASES])
def test_a_change_stored_as_non_canonical_json_is_named_at_its_place(
    client: TestClient[Litestar], settings: Settings, case: Any
) -> None:
    """The same changes written as JSON with spaces: the part's digest differs as well, and the
    verifier names the ballot, event or outcome field, with the digest beside it."""
    voted = voted_round(client, settings)
    rid = voted.vr.round_id
    place = case(settings, rid, spaced)
    _, after = export_json(client, rid, voted.auditor)
    with pytest.raises(VerificationError) as problem:
        verify(after)
    assert problem.value.place.startswith(place), (place, str(problem.value))
    assert "SHA-256 van deel" in problem.value.message, str(problem.value)


def test_a_current_ballot_respaced_without_a_change_is_named_by_its_part(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Only the form changed (spaces, no other content): nothing inside disagrees, so the part
    is what the verifier names."""
    voted = voted_round(client, settings)
    rid = voted.vr.round_id
    ballot_id, _uid, content, _voter = _current(settings, rid)[0]
    _write(
        settings,
        "UPDATE ballots SET content = :c WHERE id = :b",
        c=spaced(json.loads(content)),
        b=ballot_id,
    )
    _, after = export_json(client, rid, voted.auditor)
    with pytest.raises(VerificationError) as problem:
        verify(after)
    assert problem.value.place == "ballots", str(problem.value)
    assert "canonieke" in problem.value.message
