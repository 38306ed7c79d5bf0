"""Voting codes (stemcodes): how they look, how they are checked, how they are stored.

A code is 15 random characters from Crockford's base-32 alphabet (75 bits from ``secrets``) and
one check character, written ``XXXX-XXXX-XXXX-XXXX``. The alphabet leaves out I, L, O and U, so a
code read aloud or from paper is unambiguous; what a resident types is forgiven: any case, spaces
and hyphens anywhere, O for 0 and I or L for 1. The check character (Luhn mod 32) catches every
single mistyped character and nearly every swap of two neighbours (Luhn misses a few pairs, as
Luhn mod 10 misses 09/90) before the code reaches the database, so a typo gets "check your code"
rather than counting as a failed guess.

The database stores only ``HMAC-SHA256(key, normalised code)`` with a key derived from the
instance secret (``accounts.tokens.derive_key``), never in the database: a copy of the tables is
no list of usable codes, and with 200,000 letters and 10**8 guesses the chance of hitting any
live code is about 200,000 × 10**8 / 2**75 ≈ 5·10**-10.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from burgerbegroting.accounts.tokens import derive_key
from burgerbegroting.settings import Settings

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32
DATA_CHARS = 15
CODE_CHARS = DATA_CHARS + 1
CODE_BITS = DATA_CHARS * 5
MAX_INPUT_LENGTH = 64
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_CONFUSED = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def _check_char(data: str) -> str:
    """Luhn mod N (N = 32) check character over ``data``."""
    factor = 2
    total = 0
    n = len(ALPHABET)
    for ch in reversed(data):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


# RFC 4648 base 32 (what ``base64.b32encode`` writes) to Crockford's alphabet, and to the
# characters' values; and the Luhn addend of a value at a doubled position.
_RFC_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_RFC_ALPHABET, ALPHABET.encode("ascii"))
_TO_VALUE = bytes.maketrans(_RFC_ALPHABET, bytes(range(32)))
_DOUBLED = tuple((2 * v) // 32 + (2 * v) % 32 for v in range(32))


def new_codes(count: int) -> list[str]:
    """``count`` fresh codes in their printed form ``XXXX-XXXX-XXXX-XXXX``.

    75 random bits per code from one ``secrets.token_bytes`` call for them all: base 32 turns each
    code's 10 bytes into 16 characters of 5 bits (each uniform over the alphabet), of which the
    first 15 are the code. The encoding, the alphabet and the check character's sums run in C over
    the whole batch: issuing 100,000 codes spent 2 of its 3 CPU seconds here when the characters
    were picked in a Python loop (and over ten seconds when ``secrets.choice`` read the system's
    random source once per character)."""
    encoded = base64.b32encode(secrets.token_bytes(10 * count))
    values = encoded.translate(_TO_VALUE)
    text = encoded.translate(_TO_CROCKFORD).decode("ascii")
    doubled = _DOUBLED.__getitem__
    codes: list[str] = []
    for start in range(0, 16 * count, 16):
        # Luhn mod 32 as ``_check_char``: counted from the right, the last character (index 14)
        # is doubled, then every second one: the even indexes.
        mine = values[start : start + DATA_CHARS]
        total = sum(mine[1::2]) + sum(map(doubled, mine[0::2]))
        code = text[start : start + DATA_CHARS]
        codes.append(f"{code[:4]}-{code[4:8]}-{code[8:12]}-{code[12:]}{ALPHABET[-total % 32]}")
    return codes


def new_code() -> str:
    """One fresh code (see :func:`new_codes`)."""
    return new_codes(1)[0]


def format_code(normalised: str) -> str:
    return "-".join(normalised[i : i + 4] for i in range(0, len(normalised), 4))


def normalise(text: str) -> str | None:
    """The 16 characters of a code as typed, or None when it cannot be a valid code (wrong
    length, a character outside the alphabet, or a wrong check character)."""
    if len(text) > MAX_INPUT_LENGTH:
        return None
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t\r\n.").translate(_CONFUSED)
    if len(cleaned) != CODE_CHARS or any(ch not in _INDEX for ch in cleaned):
        return None
    if _check_char(cleaned[:DATA_CHARS]) != cleaned[DATA_CHARS]:
        return None
    return cleaned


def code_key(settings: Settings) -> bytes:
    return derive_key(settings, "voting-code").encode()


def hash_code(key: bytes, normalised: str) -> str:
    """The stored form of a normalised code (``hmac.digest``: the one-shot HMAC, in C)."""
    return hmac.digest(key, normalised.encode("ascii"), "sha256").hex()


def voter_key_for_code(settings: Settings, code_hash: str) -> str:
    """The pseudonym of a code's voter (``voters.voter_key``), derived from the code's keyed hash.

    Going from a plain code (on a letter) to its ballot needs the instance secret either way."""
    key = derive_key(settings, "voter/code").encode()
    return hmac.new(key, code_hash.encode("ascii"), hashlib.sha256).hexdigest()


def voter_key_for_account(settings: Settings, round_id: int, user_id: int) -> str:
    key = derive_key(settings, "voter/account").encode()
    return hmac.new(key, f"{round_id}:{user_id}".encode("ascii"), hashlib.sha256).hexdigest()
