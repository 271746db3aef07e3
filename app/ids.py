"""Opaque random ids: a prefix and 128 bits in base62, never sequential."""

from __future__ import annotations

import math
import re
import secrets

from app.crypto.entropy import random_bytes

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Two base62 digits at a time, least significant first (as one at a time would give).
_PAIRS = [_ALPHABET[r % 62] + _ALPHABET[r // 62] for r in range(62 * 62)]


def base62(n: int, digits: int) -> str:
    """`n` in `digits` base62 digits, least significant first; two per division (every
    write makes ids, a bulk call a thousand)."""
    chars = []
    for _ in range(digits // 2):
        n, r = divmod(n, 62 * 62)
        chars.append(_PAIRS[r])
    if digits % 2:
        chars.append(_ALPHABET[n % 62])
    return "".join(chars)


def random_base62(nbytes: int = 16) -> str:
    """Fixed-length base62 of `nbytes` random bytes (22 characters for 16), straight
    from ``secrets``: for secrets (API keys), whose bytes should sit in no buffer."""
    return base62(int.from_bytes(secrets.token_bytes(nbytes), "big"), _digits(nbytes))


def _digits(nbytes: int) -> int:
    """Base62 digits that hold any `nbytes` bytes."""
    return math.ceil(nbytes * 8 / math.log2(62))


_ID_DIGITS = _digits(16)


def new_id(prefix: str) -> str:
    """A new row id: 128 random bits (app.crypto.entropy: no system call per id)."""
    return f"{prefix}_{base62(int.from_bytes(random_bytes(16), 'big'), _ID_DIGITS)}"


MAX_LENGTH = 40
#: The part after the prefix: base62 only (one C-level match; every read by id checks it).
_BODY = re.compile("[0-9A-Za-z]*")


def well_formed(value: str, prefix: str) -> bool:
    """Could this be one of our ids?  Anything else cannot exist, so skip the query."""
    start = len(prefix) + 1
    return (
        len(value) <= MAX_LENGTH
        and value.startswith(prefix)
        and value[start - 1 : start] == "_"
        and _BODY.fullmatch(value, start) is not None
    )
