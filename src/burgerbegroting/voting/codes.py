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


def new_code() -> str:
    """A fresh code in its printed form ``XXXX-XXXX-XXXX-XXXX``.

    75 random bits from one ``secrets.token_bytes`` call, cut into fifteen 5-bit characters (each
    uniform over the alphabet). Calling ``secrets.choice`` per character reads the system's random
    source fifteen times per code, which made 100,000 codes take over ten seconds."""
    value = int.from_bytes(secrets.token_bytes(10), "big") >> 5
    data = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(DATA_CHARS))
    return format_code(data + _check_char(data))


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
    """The stored form of a normalised code."""
    return hmac.new(key, normalised.encode("ascii"), hashlib.sha256).hexdigest()


def voter_key_for_code(settings: Settings, code_hash: str) -> str:
    """The pseudonym of a code's voter (``voters.voter_key``), derived from the code's keyed hash.

    Going from a plain code (on a letter) to its ballot needs the instance secret either way."""
    key = derive_key(settings, "voter/code").encode()
    return hmac.new(key, code_hash.encode("ascii"), hashlib.sha256).hexdigest()


def voter_key_for_account(settings: Settings, round_id: int, user_id: int) -> str:
    key = derive_key(settings, "voter/account").encode()
    return hmac.new(key, f"{round_id}:{user_id}".encode("ascii"), hashlib.sha256).hexdigest()
