"""Keyed gram tokens: substring search over encrypted emails.

Two kinds, in two columns, both HMAC'd under subkeys of FINORA_INDEX_KEY with
the business id and a domain ("email" or "name") in the message:

* Trigram tokens (``search_tokens``), truncated to ``BITS`` bits.  Truncation
  makes distinct trigrams share tokens, so a token does not name a trigram for
  certain; the price is false candidates, confirmed away by decrypting.
* 1- and 2-gram tokens (``short_tokens``), 32 bits.  Emails use a few dozen
  characters and a couple of thousand pairs: in 2^18 buckets they would almost
  never share one, so truncating them would hide nothing and only let a rare
  query character collide with a common one (a whole business of false
  candidates).  At 32 bits a query's short token names its gram, so 1- and
  2-character candidates are matches, and the bigrams of a longer query make
  its candidates exact in practice too.

Why 18 bits for trigrams: real emails use some tens of thousands of distinct
trigrams, so in 262,144 buckets a few percent of them share a token with
another trigram (a reader cannot tell which).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from operator import add

from app.crypto.gramcache import GramCache
from app.crypto.keys import derive
from app.crypto.prefixed import PrefixedHmac

BITS = 18
GRAM = 3
#: The most pairs, and trigrams, a query is looked up by (see SearchTokens.for_query).
QUERY_GRAMS = 12
EMAIL = b"email"
NAME = b"name"


def grams(text: str, size: int = GRAM) -> set[str]:
    """The distinct `size`-grams of a lowercased text (none when shorter)."""
    if size == 1:
        return set(text)
    if size == 2:  # the same grams as the slices below, joined in C (each row needs four sets)
        return set(map(add, text, text[1:]))
    if size == 3:
        return set(map(add, map(add, text, text[1:]), text[2:]))
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def spread(text: str, size: int) -> set[str]:
    """At most QUERY_GRAMS distinct `size`-grams of a text, evenly spread from start to end."""
    ordered = list(dict.fromkeys(text[i : i + size] for i in range(len(text) - size + 1)))
    if len(ordered) <= QUERY_GRAMS:
        return set(ordered)
    step = (len(ordered) - 1) / (QUERY_GRAMS - 1)
    return {ordered[round(i * step)] for i in range(QUERY_GRAMS)}


def short_grams(text: str) -> set[str]:
    """Every distinct character and pair of adjacent characters."""
    return grams(text, 1) | grams(text, 2)


@dataclass(frozen=True)
class QueryTokens:
    """What a row must hold, in one domain, to be a candidate for a query."""

    trigrams: list[int]
    short: list[int]


def _prefix(business_id: str, domain: bytes) -> bytes:
    return business_id.encode() + b"\x00" + domain + b"\x00"


class SearchTokens:
    """The tokens of rows and queries; each gram's HMAC is remembered (app.crypto.gramcache)."""

    def __init__(
        self, index_key: bytes, cache: GramCache | None = None, scope: Hashable = None
    ) -> None:
        """`index_key`: FINORA_INDEX_KEY, or a business's index key (app.crypto.datakeys);
        `scope` names it in the shared gram cache, so two keys never share a table."""
        self._mac = PrefixedHmac(derive(index_key, "finora/v1/search-tokens"))
        self._short_mac = PrefixedHmac(derive(index_key, "finora/v1/short-tokens"))
        self._cache = GramCache() if cache is None else cache
        self._scope = scope

    def _tokens(self, business_id: str, domain: bytes, found: set[str]) -> set[int]:
        def compute(missing: set[str]) -> dict[str, int]:
            mac = self._mac.extended(_prefix(business_id, domain))
            shift = 32 - BITS
            return {g: int.from_bytes(mac.digest(g.encode())[:4], "big") >> shift for g in missing}

        return self._cache.tokens(("trigram", self._scope, business_id, domain), found, compute)

    def _short(self, business_id: str, domain: bytes, found: set[str]) -> set[int]:
        def compute(missing: set[str]) -> dict[str, int]:
            mac = self._short_mac.extended(_prefix(business_id, domain))
            return {
                g: int.from_bytes(mac.digest(g.encode())[:4], "big", signed=True) for g in missing
            }

        return self._cache.tokens(("short", self._scope, business_id, domain), found, compute)

    def for_row(self, business_id: str, name_lower: str, email: str) -> list[int]:
        """Every trigram token a customer row stores: its name's and its email's."""
        tokens = self._tokens(business_id, NAME, grams(name_lower)) | self._tokens(
            business_id, EMAIL, grams(email.lower())
        )
        return sorted(tokens)

    def short_for_row(self, business_id: str, name_lower: str, email: str) -> list[int]:
        """Every 1- and 2-gram token a customer row stores: its name's and its email's."""
        tokens = self._short(business_id, NAME, short_grams(name_lower)) | self._short(
            business_id, EMAIL, short_grams(email.lower())
        )
        return sorted(tokens)

    def for_rows(
        self, business_id: str, name_lower: str, email: str
    ) -> tuple[list[int], list[int]]:
        """(trigram tokens, 1-2-gram tokens) of a customer row: what every write stores.

        Nearly always every gram of a row is remembered already: then each gram as
        it occurs is looked up in its table, in C, and the tokens deduplicated once
        (the same tokens as those of the distinct grams, for half the work).  A gram
        not remembered yet sends the row the long way, which computes and keeps it.
        """
        table = self._cache.table
        trigrams = table(("trigram", self._scope, business_id, NAME))
        email_trigrams = table(("trigram", self._scope, business_id, EMAIL))
        short = table(("short", self._scope, business_id, NAME))
        email_short = table(("short", self._scope, business_id, EMAIL))
        if trigrams and email_trigrams and short and email_short:
            lowered = email.lower()
            name_pairs = list(map(add, name_lower, name_lower[1:]))
            email_pairs = list(map(add, lowered, lowered[1:]))
            try:
                return sorted(
                    {
                        *map(trigrams.__getitem__, map(add, name_pairs, name_lower[2:])),
                        *map(email_trigrams.__getitem__, map(add, email_pairs, lowered[2:])),
                    }
                ), sorted(
                    {
                        *map(short.__getitem__, name_lower),
                        *map(short.__getitem__, name_pairs),
                        *map(email_short.__getitem__, lowered),
                        *map(email_short.__getitem__, email_pairs),
                    }
                )
            except KeyError:
                pass
        return (
            self.for_row(business_id, name_lower, email),
            self.short_for_row(business_id, name_lower, email),
        )

    def for_query(self, business_id: str, needle: str) -> tuple[QueryTokens, QueryTokens]:
        """(name, email) tokens a row must all hold to be a candidate.

        One character: its own token.  Two or more: the tokens of its pairs,
        and from three on those of its trigrams too; at most QUERY_GRAMS of
        each, spread over the needle (a long query is selective with a dozen,
        and each token is another index lookup and another test per row).
        """
        pairs = spread(needle, 1 if len(needle) == 1 else 2)
        triples = spread(needle, GRAM)
        return (
            QueryTokens(
                sorted(self._tokens(business_id, NAME, triples)),
                sorted(self._short(business_id, NAME, pairs)),
            ),
            QueryTokens(
                sorted(self._tokens(business_id, EMAIL, triples)),
                sorted(self._short(business_id, EMAIL, pairs)),
            ),
        )
