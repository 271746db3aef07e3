"""A business's data keys over a plain asyncpg connection or pool.

The floor (bench/floor.py) and the drivers that read or write rows without the
ORM (bench/writes.py, bench/bounded.py) need a business's keys as the service
holds them: app.models.keyring loads them through Tortoise's pool, which these
do not open.  So the rows are read here and the keys made by the service's own
code (``keyring.build``: the process's cipher learns the data key, so the
business's values open).  No lifetime and no guard: a benchmark does not rotate keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.models import keyring
from app.models.keyring import BusinessKeys, KeysGone

if TYPE_CHECKING:
    import asyncpg


async def business_keys(db: asyncpg.Connection | asyncpg.Pool, business_id: str) -> BusinessKeys:
    """The business's keys, its data keys unwrapped (and learnt by the cipher), made by
    the service's own ``keyring.build``; KeysGone for an unknown or offboarded business."""
    rows = await db.fetch(keyring.LOAD, business_id)
    if not rows or rows[0]["offboarded_at"] is not None:
        raise KeysGone(business_id)
    return keyring.build(business_id, rows)


class KeyCache:
    """Each business's keys, loaded once per process (the floor's ``keyring.of``: a
    dictionary lookup per request once loaded, as the service's is while fresh)."""

    def __init__(self) -> None:
        self._keys: dict[str, BusinessKeys] = {}

    async def of(self, db: asyncpg.Connection | asyncpg.Pool, business_id: str) -> BusinessKeys:
        keys = self._keys.get(business_id)
        if keys is None:
            keys = self._keys[business_id] = await business_keys(db, business_id)
        return keys
