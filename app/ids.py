"""Opaque random ids: a prefix and 128 bits in base62, never sequential."""

from __future__ import annotations

import math
import re
import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_base62(nbytes: int = 16) -> str:
    """Fixed-length base62 of `nbytes` random bytes (22 characters for 16)."""
    n = int.from_bytes(secrets.token_bytes(nbytes), "big")
    chars = []
    for _ in range(math.ceil(nbytes * 8 / math.log2(62))):
        n, r = divmod(n, 62)
        chars.append(_ALPHABET[r])
    return "".join(chars)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62()}"


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
