"""Keyed trigram tokens: substring search over encrypted emails.

A lowercased value is cut into its 3-grams; each is HMAC'd under a subkey of
FINORA_INDEX_KEY, with the business id and a domain ("email" or "name") in the
message, and truncated to ``BITS`` bits.  A row stores the set of its tokens;
a query's tokens must all be in it.  Truncation makes distinct trigrams share
tokens, so a token does not name a trigram for certain, and every candidate is
confirmed by decrypting before it is returned.

Why 18 bits: real emails use some tens of thousands of distinct trigrams, so in
262,144 buckets a few percent of them share a token with another trigram (a
reader cannot tell which), while a one-token query (three characters) on
100,000 customers of about 45 tokens each gets some 15 false candidates, and a
query of two or more tokens practically none: cheap to confirm.
"""

from __future__ import annotations

import hmac

from app.crypto.keys import KeySet, derive

BITS = 18
GRAM = 3
EMAIL = b"email"
NAME = b"name"


def grams(text: str) -> set[str]:
    """The distinct 3-grams of a lowercased text (none when shorter than 3)."""
    return {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}


class SearchTokens:
    def __init__(self, keys: KeySet) -> None:
        self._key = derive(keys.index, "finora/v1/search-tokens")

    def _tokens(self, business_id: str, domain: bytes, text: str) -> set[int]:
        prefix = business_id.encode() + b"\x00" + domain + b"\x00"
        key, shift = self._key, 32 - BITS
        return {
            int.from_bytes(hmac.digest(key, prefix + gram.encode(), "sha256")[:4], "big") >> shift
            for gram in grams(text)
        }

    def for_row(self, business_id: str, name_lower: str, email: str) -> list[int]:
        """Every token a customer row stores: its name's and its email's."""
        tokens = self._tokens(business_id, NAME, name_lower) | self._tokens(
            business_id, EMAIL, email.lower()
        )
        return sorted(tokens)

    def for_query(self, business_id: str, needle: str) -> tuple[list[int], list[int]]:
        """(name tokens, email tokens) a row must all hold to be a candidate."""
        return (
            sorted(self._tokens(business_id, NAME, needle)),
            sorted(self._tokens(business_id, EMAIL, needle)),
        )
