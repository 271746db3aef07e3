"""Gram tokens remembered per process: each gram of a business is HMAC'd once.

A customer row stores about 95 keyed tokens (app.crypto.tokens), and nearly
every gram of a new row was seen before in its business: emails and names use
a few dozen characters, a few thousand pairs and some tens of thousands of
trigrams.  Computing the HMACs was most of the CPU of a bulk row; looking them
up is a dictionary read.  The tokens are the same either way (tests compare).

Bounded: at most ``ENTRIES`` grams over all tables (about 120 bytes each), kept
per (kind, business, domain) table; when a table would not fit, the least
recently used tables are dropped.  A table alone at the bound stops growing:
its new grams are still computed, just not kept.  So the cache only ever makes
tokens cheaper, whatever a caller sends.

It holds grams of names and emails (three characters at most) in the process's
memory.  Whoever can read that memory also holds FINORA_INDEX_KEY and can
compute any token, so it exposes nothing new to them; it is never written out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

#: Grams kept over all tables: about 12 MB.  One business of 100,000 realistic
#: customers needs a third of it.
ENTRIES = 100_000


class GramCache:
    """gram -> token tables, one per slot, under a common bound of entries."""

    def __init__(self, entries: int = ENTRIES) -> None:
        self._entries = entries
        self._size = 0
        self._tables: OrderedDict[Hashable, dict[str, int]] = OrderedDict()

    def __len__(self) -> int:
        return self._size

    def table(self, slot: Hashable) -> dict[str, int] | None:
        """The grams remembered in `slot` (now its most recently used table), or None.

        To read only: a caller that misses a gram goes through ``tokens``."""
        table = self._tables.get(slot)
        if table is not None:
            self._tables.move_to_end(slot)
        return table

    def tokens(
        self, slot: Hashable, found: set[str], compute: Callable[[set[str]], dict[str, int]]
    ) -> set[int]:
        """The tokens of the grams `found` in `slot`; `compute` makes the missing ones."""
        table = self._tables.get(slot)
        if table is None:
            table = self._tables[slot] = {}
        else:
            self._tables.move_to_end(slot)
        missing = found.difference(table)
        if not missing:
            return set(map(table.__getitem__, found))
        fresh = compute(missing)
        if self._room(slot, len(fresh)):
            table.update(fresh)
            self._size += len(fresh)
            return set(map(table.__getitem__, found))
        if not table:
            del self._tables[slot]  # every table holds a gram: their number stays bounded
        return {*map(table.__getitem__, found - missing), *fresh.values()}

    def _room(self, slot: Hashable, wanted: int) -> bool:
        """Make room for `wanted` more entries in `slot`, dropping other tables, oldest first."""
        while self._size + wanted > self._entries:
            oldest = next(iter(self._tables))
            if oldest == slot:
                return False  # only this table is left: it stops growing
            self._size -= len(self._tables.pop(oldest))
        return True
