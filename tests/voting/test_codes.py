"""Voting codes: format, forgiving input, check character, storage as keyed hashes only."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from burgerbegroting import models as _all_models  # noqa: F401 - every table on Base.metadata
from burgerbegroting.db import Base
from burgerbegroting.errors import NotAuthenticated
from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes, roll, voters
from tests.proposals.factories import run
from tests.voting.factories import admin_headers, issue_codes, open_round, redeem, scalar

FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_a_code_has_64_bits_or_more_in_an_unambiguous_alphabet() -> None:
    assert codes.CODE_BITS >= 64
    assert not set("ILOU") & set(codes.ALPHABET)
    for _ in range(200):
        assert FORMAT.match(codes.new_code())


def test_a_batch_of_codes_is_valid_distinct_and_uses_every_character_everywhere() -> None:
    batch = codes.new_codes(3000)
    assert len(set(batch)) == 3000
    seen: list[set[str]] = [set() for _ in range(codes.DATA_CHARS)]
    for code in batch:
        assert FORMAT.match(code)
        plain = codes.normalise(code)
        # The check character made in C equals the reference Luhn mod 32 over the characters.
        assert plain is not None
        assert plain[-1] == codes._check_char(plain[: codes.DATA_CHARS])
        for position, ch in enumerate(plain[: codes.DATA_CHARS]):
            seen[position].add(ch)
    # Each of the 15 random characters takes every value of the alphabet (a bias or a stuck bit
    # from a wrong base-32 slice would leave some out; 3,000 codes miss one with p ≈ 1e-39).
    assert all(chars == set(codes.ALPHABET) for chars in seen)


@given(st.data())
def test_typing_is_forgiven_case_spaces_hyphens_and_look_alikes(data: st.DataObject) -> None:
    code = codes.new_code()
    plain = code.replace("-", "")
    typed = plain.lower() if data.draw(st.booleans()) else plain
    typed = typed.replace("0", "O").replace("1", data.draw(st.sampled_from(["I", "l", "1"])))
    step = data.draw(st.integers(1, 5))
    spaced = " ".join(typed[i : i + step] for i in range(0, len(typed), step))
    assert codes.normalise(spaced) == plain
    assert codes.normalise(code) == plain


@given(st.integers(0, 15), st.data())
def test_the_check_character_catches_every_single_typo(position: int, data: st.DataObject) -> None:
    plain = codes.new_code().replace("-", "")
    wrong = data.draw(st.sampled_from([c for c in codes.ALPHABET if c != plain[position]]))
    typo = plain[:position] + wrong + plain[position + 1 :]
    assert codes.normalise(typo) is None


def test_the_check_character_catches_nearly_all_swapped_neighbours() -> None:
    # Luhn mod 32 misses a swap only for a few pairs of characters (as Luhn mod 10 misses 09/90).
    caught = missed = 0
    for _ in range(300):
        plain = codes.new_code().replace("-", "")
        for i in range(15):
            if plain[i] != plain[i + 1]:
                swapped = plain[:i] + plain[i + 1] + plain[i] + plain[i + 2 :]
                if codes.normalise(swapped) is None:
                    caught += 1
                else:
                    missed += 1
    assert caught / (caught + missed) > 0.95


def test_plain_codes_are_never_stored(settings: Settings) -> None:
    vr = open_round(settings)
    issued = issue_codes(settings, vr, 25)
    dump = "\n".join(
        str(scalar(settings, "SELECT group_concat(code_hash, ',') FROM voting_codes"))
        if settings.database_url.startswith("sqlite")
        else str(scalar(settings, "SELECT string_agg(code_hash, ',') FROM voting_codes"))
        for _ in [0]
    )
    assert scalar(settings, "SELECT count(*) FROM voting_codes") == 25
    for code in issued:
        assert code not in dump
        assert code.replace("-", "") not in dump
    assert len(set(issued)) == 25


def test_a_stored_code_hash_is_keyed_with_the_instance_secret(settings: Settings) -> None:
    """The stored hash needs the instance secret: the same tables under another secret accept
    none of the codes (a copy of the database is no list of usable codes), while the right
    secret does. Fails when the HMAC's key does not come from the secret."""
    vr = open_round(settings)
    first, second = issue_codes(settings, vr, 2)
    other = dataclasses.replace(settings, secret_key=settings.secret_key[::-1] + "-andere")

    async def redeem_with(session: AsyncSession, with_settings: Settings, code: str) -> int:
        token = await voters.redeem_code(session, with_settings, code=code, client_ip=code)
        return token.voter_id

    with pytest.raises(NotAuthenticated):
        run(other, lambda session: redeem_with(session, other, first))
    assert run(settings, lambda session: redeem_with(session, settings, second)) > 0
    # Two secrets never give one code the same stored form.
    code = codes.normalise(first)
    assert code is not None
    assert codes.hash_code(codes.code_key(settings), code) != codes.hash_code(
        codes.code_key(other), code
    )


def test_a_batch_larger_than_one_insert_chunk_is_stored_whole(
    client: TestClient[Litestar], settings: Settings
) -> None:
    # Codes are written in chunks of ``roll._INSERT_CHUNK`` (COPY on PostgreSQL, a multi-row
    # INSERT elsewhere): every chunk lands, with its batch, round and district, and a code from
    # the first and from the last chunk opens a session.
    vr = open_round(settings)
    count = roll._INSERT_CHUNK + 3
    issued = issue_codes(settings, vr, count, district_id=vr.districts[1])
    assert len(set(issued)) == count
    assert scalar(settings, "SELECT count(DISTINCT code_hash) FROM voting_codes") == count
    assert (
        scalar(
            settings,
            "SELECT count(*) FROM voting_codes v JOIN code_batches b ON b.id = v.batch_id "
            "WHERE v.round_id = :r AND v.district_id = :d AND b.count = :n",
            r=vr.round_id,
            d=vr.districts[1],
            n=count,
        )
        == count
    )
    for code in (issued[0], issued[-1]):
        response = client.post("/api/v1/auth/code", json={"code": code})
        assert response.status_code == 200, response.text
        assert response.json()["district_id"] == vr.districts[1]


def test_no_table_holds_a_plain_code_after_a_whole_round_of_use(
    client: TestClient[Litestar], settings: Settings
) -> None:
    """Every column of every table, after codes were issued (API), redeemed, voted with online and
    on paper, revoked and voided: no plain code in any spelling, anywhere."""
    vr = open_round(settings)
    admin = admin_headers(settings, vr)
    issued = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes", json={"count": 4, "district_id": None}, headers=admin
    )
    assert issued.status_code == 201, issued.text
    plain = issued.json()["codes"]
    voter = redeem(client, plain[0].lower().replace("-", " "))
    url = f"/api/v1/rounds/{vr.round_id}/ballot"
    assert client.put(url, json={"projects": [vr.projects[1]]}, headers=voter).status_code == 200
    paper = client.post(
        f"/api/v1/rounds/{vr.round_id}/paper-ballots",
        json={"code": plain[1], "ballot": {"projects": [vr.projects[2]]}},
        headers=admin,
    )
    assert paper.status_code == 201, paper.text
    revoked = client.post(
        f"/api/v1/rounds/{vr.round_id}/codes/revoke",
        json={"code": plain[0], "reason": "brief kwijt", "void_ballot": True},
        headers=admin,
    )
    assert revoked.json() == {"revoked": True, "ballot_voided": True}
    typo = plain[2][:-1] + ("X" if plain[2][-1] != "X" else "Y")  # a wrong check character
    wrong = client.post("/api/v1/auth/code", json={"code": typo})
    assert wrong.status_code == 401

    async def dump(session: AsyncSession) -> str:
        cells: list[str] = []
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                cells.extend(str(value) for value in row)
        return "\n".join(cells).upper()

    everything = run(settings, dump)
    assert len(everything) > 1000  # the dump did read the tables
    for code in plain:
        for spelling in (code, code.replace("-", ""), code[:9], code.replace("-", "")[4:12]):
            assert spelling not in everything, spelling
