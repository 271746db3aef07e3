"""A business's data keys over a plain asyncpg connection or pool.

The floor (bench/floor.py) and the drivers that read or write rows without the
ORM (bench/writes.py, bench/bounded.py) need a business's keys as the service
holds them: app.models.keyring loads them through Tortoise's pool, which these
do not open.  So the rows are read here and the keys made by the service's own
code (``app.crypto.datakeys.unwrap``, ``Generation.of_key``: the process's cipher
learns the data key, so the business's values open), into the service's own
``BusinessKeys``.  No lifetime and no guard: a benchmark does not rotate keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app import crypto
from app.crypto.datakeys import Generation, unwrap
from app.models.keyring import BusinessKeys, KeysGone

if TYPE_CHECKING:
    import asyncpg

_LOAD = (
    "SELECT b.write_key, b.legacy_values, k.id, k.master_key_id, k.wrapped "
    "FROM business b LEFT JOIN business_key k ON k.business_id = b.id "
    "WHERE b.id = $1 AND b.offboarded_at IS NULL"
)


async def business_keys(db: asyncpg.Connection | asyncpg.Pool, business_id: str) -> BusinessKeys:
    """The business's keys, its data keys unwrapped (and learnt by the cipher);
    KeysGone for an unknown or offboarded business."""
    current = crypto.current()
    rows = await db.fetch(_LOAD, business_id)
    if not rows:
        raise KeysGone(business_id)
    generations: dict[str | None, Generation] = {}
    for row in rows:
        if (key_id := row["id"]) is not None:
            data_key = unwrap(
                current.keys, business_id, key_id, row["master_key_id"], bytes(row["wrapped"])
            )
            generations[key_id] = Generation.of_key(
                current.keys, current.cipher, current.grams, key_id, data_key
            )
    write_key = rows[0]["write_key"]
    if write_key is None or rows[0]["legacy_values"]:
        generations[None] = current.legacy
    write = generations[write_key]
    others = (g for key_id, g in generations.items() if key_id != write_key)
    return BusinessKeys(business_id, write, (write, *others))


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
