"""Voting codes: format, forgiving input, check character, storage as keyed hashes only."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from burgerbegroting.settings import Settings
from burgerbegroting.voting import codes
from tests.voting.factories import issue_codes, open_round, scalar

FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_a_code_has_64_bits_or_more_in_an_unambiguous_alphabet() -> None:
    assert codes.CODE_BITS >= 64
    assert not set("ILOU") & set(codes.ALPHABET)
    for _ in range(200):
        assert FORMAT.match(codes.new_code())


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
