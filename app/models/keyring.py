"""The keys of each business, as this process holds them, and where they are stored.

A business's data keys are read from ``business_key`` and unwrapped once, then
kept for FINORA_DATA_KEY_CACHE_S (``lifetime``), at most ``MAX_BUSINESSES`` of
them (the oldest loaded go first).  A request calls ``of`` once, which costs a
dictionary lookup while its business's keys are fresh; values then open by
the key id in their header (app.crypto.cipher), so a page of 100 customers
costs no more than one under the master key.

The writing key is named on the business row (``write_key``), and every write
checks it in the statement that writes (``guard``), or holds the row for its
transaction (``for_write``).  So when ``finora keys rotate --business`` or
``migrate`` switch a business to a new key, no process can write under the old
one afterwards, whatever its cache says: the write matches nothing, the writer
reloads (``stale``) and writes again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from app import crypto
from app.crypto.cipher import DecryptionError
from app.crypto.datakeys import Generation, new_data_key, unwrap, wrap
from app.db.reads import written
from app.ids import new_id
from app.settings import Settings

MAX_BUSINESSES = 10_000
#: How long a key a business rotated away from still opens values read before (a
#: request's rows fetched under it, opened when the answer is written).
RETIRED_S = 10.0
#: What ``business.write_key`` holds once the business is offboarded: no key writes.
OFFBOARDED = "-"


class KeysGone(LookupError):
    """The business is unknown or offboarded: nothing of it can be read or written."""


class KeyChanged(Exception):
    """The business switched its writing key after these keys sealed a write: seal again."""


@dataclass(frozen=True)
class BusinessKeys:
    """A business's generations: the one writing, and every one its rows may be under."""

    business_id: str
    write: Generation
    #: the writing one first; a second one only while its rows move (rotation, migration)
    live: tuple[Generation, ...]

    @property
    def moving(self) -> bool:
        return len(self.live) > 1

    def digests(self, email: str) -> list[str]:
        """The email's blind index under each live generation (lookups find either)."""
        return [g.email_index.digest(self.business_id, email) for g in self.live]

    def generation(self, key_id: str | None) -> Generation:
        for g in self.live:
            if g.id == key_id:
                return g
        raise DecryptionError("the row's data key is not one of its business's")


#: business id -> (fresh until, its keys)
_cache: OrderedDict[str, tuple[float, BusinessKeys]] = OrderedDict()
_loading: dict[str, asyncio.Future[BusinessKeys]] = {}
_built_for: crypto.Crypto | None = None
_lifetime: float | None = None
#: Data keys unwrapped by this process (tests count them).
unwraps = 0


def lifetime() -> float:
    global _lifetime
    if _lifetime is None:
        _lifetime = Settings.from_env().data_key_cache_s
    return _lifetime


async def of(business_id: str) -> BusinessKeys:
    """The business's keys; KeysGone for an unknown or offboarded business."""
    entry = _cache.get(business_id)
    if entry is not None and entry[0] > time.monotonic() and _built_for is crypto.current():
        return entry[1]
    pending = _loading.get(business_id)
    if pending is not None:  # another request of this business is loading them
        return await asyncio.shield(pending)
    future = _loading[business_id] = asyncio.get_running_loop().create_future()
    try:
        keys = await _load(business_id)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: no "never retrieved" warning if nobody waits
        raise
    else:
        future.set_result(keys)
        return keys
    finally:
        del _loading[business_id]


def loaded(business_id: str) -> BusinessKeys:
    """The keys ``of`` loaded last (for code that cannot wait: a model's field)."""
    entry = _cache.get(business_id)
    if entry is None or _built_for is not crypto.current():
        raise RuntimeError(f"keys of {business_id} are not loaded: await keyring.of first")
    return entry[1]


def forget(business_id: str) -> None:
    """Read the business's keys again at its next ``of``.  Keys still in use meanwhile
    stay usable: a request of this business may be opening values with them; a key
    the business no longer has is dropped once that read finds it gone."""
    entry = _cache.get(business_id)
    if entry is not None:
        _cache[business_id] = (0.0, entry[1])


def clear() -> None:
    """Every key out of this process, as at its start."""
    for business_id in list(_cache):
        _drop(business_id)


def _drop(business_id: str) -> None:
    """The business's keys out of this process: it is gone, or the bound is reached."""
    entry = _cache.pop(business_id, None)
    if entry is not None:
        for g in entry[1].live:
            if g.id is not None:
                crypto.current().cipher.forget(g.id)


#: A business's row and its key rows: what ``build`` makes its keys from.
LOAD = (
    "SELECT b.write_key, b.legacy_values, b.offboarded_at, k.id, k.master_key_id, k.wrapped "
    "FROM business b LEFT JOIN business_key k ON k.business_id = b.id WHERE b.id = $1"
)


def build(
    business_id: str, rows: Sequence[Any], known: dict[str | None, Generation] | None = None
) -> BusinessKeys:
    """A business's keys from its ``LOAD`` rows (offboarded ones excluded by the caller):
    each data key unwrapped (and learnt by the cipher) unless `known` has it already."""
    global unwraps
    current = crypto.current()
    known = known or {}
    generations: dict[str | None, Generation] = {}
    for row in rows:
        key_id = row["id"]
        if key_id is None:
            continue
        g = known.get(key_id)
        if g is None:
            data_key = unwrap(
                current.keys, business_id, key_id, row["master_key_id"], bytes(row["wrapped"])
            )
            unwraps += 1
            g = Generation.of_key(current.keys, current.cipher, current.grams, key_id, data_key)
        generations[key_id] = g
    write_key = rows[0]["write_key"]
    if write_key is None or rows[0]["legacy_values"]:
        generations[None] = current.legacy
    write = generations.get(write_key)
    if write is None:
        raise DecryptionError("the business's writing key is missing")
    live = (write, *(g for key_id, g in generations.items() if key_id != write_key))
    return BusinessKeys(business_id, write, live)


async def _load(business_id: str) -> BusinessKeys:
    global _built_for
    current = crypto.current()
    if _built_for is not current:  # keys installed again (tests): nothing old is valid
        _cache.clear()
        _built_for = current
    rows = await written(LOAD, business_id)
    if not rows or rows[0]["offboarded_at"] is not None:
        _drop(business_id)
        raise KeysGone(business_id)
    before = _cache.pop(business_id, None)
    known = {g.id: g for g in before[1].live} if before else {}
    keys = build(business_id, rows, known)
    for key_id in known.keys() - {g.id for g in keys.live}:
        if key_id is not None:  # rotated away: a read that fetched its rows may still open them
            asyncio.get_running_loop().call_later(RETIRED_S, current.cipher.forget, key_id)
    while len(_cache) >= MAX_BUSINESSES:
        _drop(next(iter(_cache)))
    _cache[business_id] = (time.monotonic() + lifetime(), keys)
    # A business nobody asks for again must not keep its data key in memory for good.
    asyncio.get_running_loop().call_later(lifetime() + RETIRED_S, _sweep, business_id, keys)
    return keys


def _sweep(business_id: str, keys: BusinessKeys) -> None:
    """Out of memory, if these keys were not read again since and their time is up."""
    entry = _cache.get(business_id)
    if entry is not None and entry[1] is keys and entry[0] <= time.monotonic():
        _drop(business_id)


# Writes ----------------------------------------------------------------------


def guard(business: str, key: str) -> str:
    """SQL true while the business still writes under the key: `business` and `key` are
    SQL expressions (parameters, columns).  The row lock makes a switch of key wait
    for the writes under way, and a write that waited see the switch and match nothing.
    """
    return (
        f"EXISTS (SELECT 1 FROM business WHERE id = {business} "
        f"AND write_key IS NOT DISTINCT FROM {key} FOR KEY SHARE)"
    )


async def stale(keys: BusinessKeys) -> bool:
    """After a guarded write matched nothing: whether the business has changed its
    writing key since (then its keys are loaded again, and the write is to be retried)."""
    rows = await written("SELECT write_key FROM business WHERE id = $1", keys.business_id)
    if rows and rows[0]["write_key"] == keys.write.id:
        return False
    forget(keys.business_id)
    return True


async def _held_key(conn: Any, business_id: str, *, exclusive: bool = False) -> str | None:
    lock = "FOR UPDATE" if exclusive else "FOR KEY SHARE"
    rows = await conn.execute_query_dict(
        f"SELECT write_key, offboarded_at FROM business WHERE id = $1 {lock}", [business_id]
    )
    if not rows or rows[0]["offboarded_at"] is not None:
        _drop(business_id)
        raise KeysGone(business_id)
    return rows[0]["write_key"]  # type: ignore[no-any-return]


async def for_write(conn: Any, business_id: str, *, exclusive: bool = False) -> BusinessKeys:
    """The keys to write with for the rest of the transaction on `conn`: the business
    row is held (KEY SHARE) until it ends, so its writing key cannot change meanwhile.
    `exclusive` holds it FOR UPDATE instead: one such write of the business at a time
    (a count and an insert as one step)."""
    write_key = await _held_key(conn, business_id, exclusive=exclusive)
    keys = await of(business_id)
    if keys.write.id != write_key:
        forget(business_id)
        keys = await of(business_id)
    return keys


async def hold(conn: Any, keys: BusinessKeys) -> None:
    """``for_write`` for rows sealed before the transaction: KeyChanged if `keys` no
    longer write for the business (the caller seals again under the new ones)."""
    if await _held_key(conn, keys.business_id) != keys.write.id:
        forget(keys.business_id)
        raise KeyChanged(keys.business_id)


#: How often a call seals its rows again when its business switches keys meanwhile.
KEY_TRIES = 3
T = TypeVar("T")


async def sealing(business_id: str, work: Callable[[BusinessKeys], Awaitable[T]]) -> T:
    """`work` under the business's writing keys; made again under the new ones when the
    business switched keys after `work` sealed its rows (``hold`` raised KeyChanged)."""
    for _ in range(KEY_TRIES):
        try:
            return await work(await of(business_id))
        except KeyChanged:
            continue
    raise RuntimeError("the business's writing key keeps changing")


async def new_key(conn: Any, business_id: str) -> str:
    """A new data key for the business, stored wrapped; its id."""
    key_id = new_id("dk")
    master_id, wrapped = wrap(crypto.current().keys, business_id, key_id, new_data_key())
    await conn.execute_query(
        "INSERT INTO business_key (id, business_id, master_key_id, wrapped, created_at) "
        "VALUES ($1, $2, $3, $4, now())",
        [key_id, business_id, master_id, wrapped],
    )
    return key_id
