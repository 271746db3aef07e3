"""Move businesses' values to a new data key: ``keys rotate --business`` and ``keys migrate``.

One job for both: ``migrate`` moves businesses off the legacy scheme (values
under a master key directly, indexes under FINORA_INDEX_KEY alone) to a first
data key; ``rotate --business`` moves one business from its data key to a new
one.  Its steps, each kept in the database, so a killed run goes on from where
it was and a second run finds nothing to do:

1. **Announce**: the business gets its new key (``business_key``), not yet writing.
   Every process loads it within FINORA_DATA_KEY_CACHE_S (app.models.keyring), so
   once anything is sealed under it, it opens everywhere; the job waits that long.
2. **Switch**: ``business.write_key`` names the new key, under the business row
   lock: the switch waits for the writes under way, and every write after it
   under the old key matches nothing (``keyring.guard``) and is made again under
   the new one.  Lookups (blind index, search tokens) look under both keys until
   the end, and a new email is checked against both (``customers.held_elsewhere``),
   so no search misses a row and no email is taken twice meanwhile.
3. **Move** every row not under the new key: customers (values, blind index,
   search tokens) and the business's webhook and shop secrets, re-sealed and
   re-indexed in batches, each row written only if nobody wrote it since it was
   read (``xmin``); rows written meanwhile were written under the new key anyway,
   or are moved by the next pass.
4. **Finish**: under the business row lock, with no row left under the old key,
   the old key is deleted (a rotation) or the business leaves the legacy scheme
   (a migration).  A value that would not open keeps its business at step 3, named.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.crypto.cipher import DecryptionError
from app.crypto.datakeys import Generation
from app.db.transaction import transaction
from app.jobs.batches import progress, unreadable
from app.jobs.rotate import SEALED
from app.models import Business, keyring
from app.models.keyring import BusinessKeys

log = logging.getLogger("finora.jobs")

BATCH = 500
MAX_PASSES = 5
#: Beyond the cache's lifetime, before a new key may seal anything: clocks, slow loads.
MARGIN_S = 1.0

_CUSTOMER = SEALED["customer"]
_SECRETS = {table: columns for table, columns in SEALED.items() if table != "customer"}
_READ = (
    "SELECT xmin::text AS version, id, key_id, name_lower, is_active, email, phone, address, "
    "tin, search_tokens, short_tokens FROM customer WHERE business_id = $1 AND id > $2 "
    "AND key_id IS DISTINCT FROM $3 ORDER BY id LIMIT $4"
)
_WRITE = (
    "UPDATE customer SET email = $3, phone = $4, address = $5, tin = $6, email_hash = $7, "
    "search_tokens = $8, short_tokens = $9, key_id = $10 WHERE id = $1 AND xmin = $2::text::xid"
)


@dataclass
class Rekeyed:
    businesses: int = 0
    moved: int = 0
    #: ids of rows with a value that did not open (their businesses are not finished)
    unreadable: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


async def _query(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return await Business._meta.db.execute_query_dict(sql, params)  # type: ignore[no-any-return]


async def _announce(business_id: str, *, rotate: bool) -> bool:
    """Step 1 for one business, if not done yet: whether a key was made now."""
    async with transaction() as conn:
        rows = await conn.execute_query_dict(
            "SELECT b.write_key, b.legacy_values, "
            "(SELECT count(*) FROM business_key k WHERE k.business_id = b.id) AS keys "
            "FROM business b WHERE b.id = $1 AND b.offboarded_at IS NULL FOR UPDATE",
            [business_id],
        )
        if not rows:
            raise keyring.KeysGone(business_id)
        row = rows[0]
        pending = row["keys"] > 1 or (row["keys"] == 1 and row["write_key"] is None)
        wanted = (rotate and row["write_key"] is not None) or row["keys"] == 0
        if pending or not wanted:
            return False
        await keyring.new_key(conn, business_id)
        return True


async def _target(business_id: str) -> str | None:
    """The key the business's rows go to: its newest (None once it is offboarded)."""
    rows = await _query(
        "SELECT id FROM business_key WHERE business_id = $1 ORDER BY created_at DESC, id LIMIT 1",
        [business_id],
    )
    return str(rows[0]["id"]) if rows else None


async def _switch(business_id: str, target: str) -> bool:
    """Step 2: the lock waits for the business's writes under way (keyring.guard).
    False if the business was offboarded meanwhile (its keys are gone: nothing to do)."""
    async with transaction() as conn:
        await conn.execute_query("SELECT 1 FROM business WHERE id = $1 FOR UPDATE", [business_id])
        switched = await conn.execute_query_dict(
            "UPDATE business SET write_key = $2 WHERE id = $1 AND offboarded_at IS NULL "
            "AND EXISTS (SELECT 1 FROM business_key WHERE id = $2) RETURNING id",
            [business_id, target],
        )
    keyring.forget(business_id)
    return bool(switched)


def _opened(keys: BusinessKeys, table: str, columns: tuple[str, ...], row: Any) -> list[Any]:
    """The row's plaintexts, column by column (None stays None), opened once each."""
    return [
        None if row[c] is None else keys.write.cipher.open(table, c, row["id"], bytes(row[c]))
        for c in columns
    ]


def _sealed(
    target: Generation, table: str, columns: tuple[str, ...], row_id: str, plain: list[Any]
) -> list[bytes | None]:
    return [
        None if value is None else target.seal(table, c, row_id, value)
        for c, value in zip(columns, plain, strict=True)
    ]


async def _move_customers(
    keys: BusinessKeys, target: Generation, done: Rekeyed, step: Callable[[int], Any]
) -> int:
    """Step 3 for customers: one pass by id; the number of rows left behind."""
    business_id, after, left = keys.business_id, "", 0
    while True:
        rows = await _query(_READ, [business_id, after, target.id, BATCH])
        if not rows:
            return left
        after = rows[-1]["id"]
        updates = []
        for row in rows:
            try:
                plain = _opened(keys, "customer", _CUSTOMER, row)
            except DecryptionError:
                unreadable(row["id"])
                done.unreadable.append(row["id"])
                left += 1
                continue
            sealed, email = _sealed(target, "customer", _CUSTOMER, row["id"], plain), plain[0]
            digest = None if email is None else target.email_index.digest(business_id, email)
            tokens, short = row["search_tokens"], row["short_tokens"]
            if email is not None and row["is_active"]:
                tokens, short = target.search_tokens.for_rows(business_id, row["name_lower"], email)
            updates.append((row["id"], row["version"], *sealed, digest, tokens, short, target.id))
        async with transaction() as conn, conn.acquire_connection() as db:
            for update in updates:
                if await db.fetchrow(_WRITE + " RETURNING id", *update) is None:
                    left += 1  # written meanwhile: the next pass looks again
                else:
                    done.moved += 1
        step(len(rows))


async def _move_secrets(keys: BusinessKeys, target: Generation, done: Rekeyed) -> int:
    """Step 3 for the business's webhook and shop secrets; the number left behind."""
    left = 0
    for table, columns in _SECRETS.items():
        rows = await _query(
            f"SELECT xmin::text AS version, id, {', '.join(columns)} FROM {table} "
            "WHERE business_id = $1 AND key_id IS DISTINCT FROM $2",
            [keys.business_id, target.id],
        )
        for row in rows:
            try:
                sealed = _sealed(
                    target, table, columns, row["id"], _opened(keys, table, columns, row)
                )
            except DecryptionError:
                unreadable(row["id"])
                done.unreadable.append(row["id"])
                left += 1
                continue
            sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(columns, start=3))
            written = await _query(
                f"UPDATE {table} SET {sets}, key_id = ${len(columns) + 3} "
                "WHERE id = $1 AND xmin = $2::text::xid RETURNING id",
                [row["id"], row["version"], *sealed, target.id],
            )
            left += 0 if written else 1
            done.moved += 1 if written else 0
    return left


async def _finish(business_id: str, target: str) -> bool:
    """Step 4: whether the business's rows are all under `target` now (and it is done)."""
    async with transaction() as conn:
        await conn.execute_query("SELECT 1 FROM business WHERE id = $1 FOR UPDATE", [business_id])
        left = await conn.execute_query_dict(
            "SELECT (SELECT count(*) FROM customer WHERE business_id = $1 "
            "AND key_id IS DISTINCT FROM $2) + (SELECT count(*) FROM webhook_endpoint "
            "WHERE business_id = $1 AND key_id IS DISTINCT FROM $2) + (SELECT count(*) "
            "FROM shop_connection WHERE business_id = $1 AND key_id IS DISTINCT FROM $2) AS n",
            [business_id, target],
        )
        if int(left[0]["n"]):
            return False
        await conn.execute_query(
            "DELETE FROM business_key WHERE business_id = $1 AND id <> $2", [business_id, target]
        )
        await conn.execute_query(
            "UPDATE business SET legacy_values = false WHERE id = $1", [business_id]
        )
    keyring.forget(business_id)
    return True


async def _to_move(business_ids: list[str]) -> int:
    rows = await _query(
        "SELECT count(*) AS n FROM customer c JOIN business b ON b.id = c.business_id "
        "WHERE c.business_id = ANY($1) AND c.key_id IS DISTINCT FROM "
        "(SELECT k.id FROM business_key k WHERE k.business_id = b.id "
        "ORDER BY k.created_at DESC, k.id LIMIT 1)",
        [business_ids],
    )
    return int(rows[0]["n"])


async def rekey(
    business_ids: list[str],
    *,
    rotate: bool,
    show_progress: bool = True,
    say: Callable[[str], Any] = print,
) -> Rekeyed:
    """Move the businesses' values to a new key each (see the module docstring):
    `rotate` gives a business that has a data key a new one; otherwise only
    businesses still in the legacy scheme get one (``keys migrate``)."""
    done = Rekeyed()
    announced = False
    live = []
    for business_id in business_ids:
        try:
            announced |= await _announce(business_id, rotate=rotate)
        except keyring.KeysGone:
            continue  # offboarded: nothing of it is kept to move
        live.append(business_id)
    if not live:
        return done
    wait = keyring.lifetime() + MARGIN_S
    say(f"waiting {wait:.0f} s for every process to load the new key(s)")
    await asyncio.sleep(wait)  # resumed runs wait too: their announcement may be recent
    targets: dict[str, str] = {}
    for business_id in live:
        target = await _target(business_id)
        rows = await _query("SELECT write_key FROM business WHERE id = $1", [business_id])
        if target is not None and (
            rows[0]["write_key"] == target or await _switch(business_id, target)
        ):
            targets[business_id] = target  # an offboarding meanwhile leaves nothing to move
    total = await _to_move(live)
    with progress("rekey", total=total, initial=0, enabled=show_progress and total > 0) as bar:
        for business_id, target in targets.items():
            try:
                keys = await keyring.of(business_id)
            except keyring.KeysGone:
                continue  # offboarded since: nothing of it is kept to move
            generation = keys.write
            assert generation.id == target
            finished = False
            for _ in range(MAX_PASSES):
                done.unreadable.clear()
                left = await _move_customers(keys, generation, done, bar.update)
                left += await _move_secrets(keys, generation, done)
                if not left and await _finish(business_id, target):
                    finished = True
                    break
                keys = await keyring.of(business_id)
            if finished:
                done.businesses += 1
            else:
                done.unfinished.append(business_id)
    if announced:
        log.info("data keys announced", extra={"fields": {"businesses": len(live)}})
    return done


async def migrating() -> list[str]:
    """Businesses with values still (or possibly) in the legacy scheme, oldest first."""
    rows = await _query(
        "SELECT id FROM business WHERE offboarded_at IS NULL "
        "AND (write_key IS NULL OR legacy_values) ORDER BY created_at, id",
        [],
    )
    return [row["id"] for row in rows]
