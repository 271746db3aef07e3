"""A least-recently-used map bounded in entries and in weight: the one store of the
process's caches of client documents (parsed documents, compiled plans, persisted
queries), so none of them grows with what clients send."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class BoundedStore(Generic[V]):
    """A least-recently-used map, bounded in entries and in the total weight its
    entries were put with (characters, or the bytes a document is estimated to hold)."""

    def __init__(self, max_entries: int, max_weight: int) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, default: Any = None) -> V | Any:
        item = self._items.get(key)
        if item is None:
            return default
        self._items.move_to_end(key)
        return item[0]

    def weight_of(self, key: Hashable) -> int | None:
        """The weight ``key`` was kept with, or None when it is not kept."""
        item = self._items.get(key)
        return None if item is None else item[1]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def put(self, key: Hashable, value: V, weight: int) -> None:
        """Keep ``value``; one heavier than a sixteenth of the store is not kept at all,
        so a few large entries never push out every small one."""
        if weight > self.max_weight // 16:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.weight -= old[1]
        self._items[key] = (value, weight)
        self.weight += weight
        while len(self._items) > self.max_entries or self.weight > self.max_weight:
            _, (_, evicted) = self._items.popitem(last=False)
            self.weight -= evicted
