"""Opaque random ids: a prefix and 128 bits in base62, never sequential."""

from __future__ import annotations

import math
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


def well_formed(value: str, prefix: str) -> bool:
    """Could this be one of our ids?  Anything else cannot exist, so skip the query."""
    return (
        len(value) <= MAX_LENGTH
        and value.startswith(prefix + "_")
        and all(ch in _ALPHABET for ch in value[len(prefix) + 1 :])
    )
