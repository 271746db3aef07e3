"""Ids: base62 two digits at a time gives the digits one at a time would."""

from __future__ import annotations

import secrets

from app.ids import _ALPHABET, base62, new_id, random_base62, well_formed


def one_at_a_time(n: int, digits: int) -> str:
    chars = []
    for _ in range(digits):
        n, r = divmod(n, 62)
        chars.append(_ALPHABET[r])
    return "".join(chars)


def test_base62_equals_one_digit_at_a_time():
    for digits in (1, 2, 21, 22, 33):
        for n in (0, 1, 61, 62, 3843, 3844, 62**digits - 1, *map(secrets.randbits, [128] * 50)):
            assert base62(n, digits) == one_at_a_time(n, digits)


def test_ids_have_their_length_and_alphabet():
    assert len(random_base62()) == 22 and len(random_base62(24)) == 33
    made = new_id("cust")
    assert well_formed(made, "cust") and len(made) == 27
