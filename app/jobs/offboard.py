"""`finora business offboard ID --confirm ID [--purge]`: crypto-shredding of one business.

Every value, blind index, search token and secret of a business is sealed or
keyed under its data key (app.crypto.datakeys), stored only wrapped in
``business_key``.  Deleting those rows destroys the key: every copy of the
business's rows (a replica, a dump, a file someone kept) is then ciphertext that
no key the service holds opens, and tokens nobody can compute again.

One transaction, holding the business row FOR UPDATE (so it waits for the
business's writes under way, which hold it FOR KEY SHARE: app.models.keyring.guard,
and every write after it matches nothing):

- its ``business_key`` rows are deleted;
- the business is marked offboarded (``offboarded_at``; ``write_key`` = "-", which
  no key is), so ``keyring.of`` answers KeysGone from now on: the API answers its
  keys 401 and other businesses' reads of its ids as missing ones;
- its API keys are revoked, its webhook endpoints and shop connections soft-deleted
  (the worker only serves live endpoints, so its pending deliveries are never sent;
  a shop delivery to a deleted connection is answered 404, like an unknown one).

Other processes trust a key they checked for ``AUTH_CACHE_S``; the job waits that
long (and a second) before it reports, so once it has, no process serves the
business any more.

A business whose values may still be in the legacy scheme (sealed under a master
key directly) is refused: destroying its data key would not reach them.

``--purge`` then deletes its rows, table by table, ``BATCH`` rows a statement, each
statement its own short transaction: no lock is held across batches, so other
businesses' writers never queue behind it.  A killed purge is run again (an
already offboarded business may be purged); the business row stays as the
tombstone that says when it left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db.transaction import transaction
from app.jobs.batches import progress
from app.models import Business, keyring
from app.services import businesses

log = logging.getLogger("finora.jobs")

BATCH = 1000
#: How long other processes may still trust an API key they checked (and a margin).
SETTLE_S = businesses.AUTH_CACHE_S + 1.0

#: What --purge deletes, in this order (children before parents: customer_external_id
#: refers to shop_connection with ON DELETE RESTRICT, and the shop delivery and problem
#: rows name their connection without a foreign key).  Each entry: table, primary key,
#: and how its rows are the business's: their column naming the business, or one of
#: its shop connections or webhook endpoints (deleted ones included).
PURGED: tuple[tuple[str, str, str, str], ...] = (
    ("customer_external_id", "id", "connection_id", "connections"),
    ("webhook_delivery", "id", "endpoint_id", "endpoints"),
    ("customer_event", "seq", "business_id", "business"),
    ("customer", "id", "business_id", "business"),
    ("shop_delivery", "id", "connection_id", "connections"),
    ("shop_problem", "id", "connection_id", "connections"),
    ("webhook_endpoint", "id", "business_id", "business"),
    ("shop_connection", "id", "business_id", "business"),
    ("api_key", "id", "business_id", "business"),
)
#: Tables that name a business and are left to something else (checked by
#: tests/test_offboard.py against the catalog, so a new table cannot be forgotten).
KEPT = {
    "business": "the tombstone: when the business was offboarded",
    "business_key": "emptied by the offboarding itself",
    "customer_count": "kept by the triggers on customer: its slots sum to 0 once purged",
}

LEGACY = (
    "business {id} may still hold values sealed under the master key directly (legacy "
    "scheme), which destroying its data key would not reach: run `finora keys migrate` "
    "first, then offboard it"
)


class OffboardError(Exception):
    """Why nothing was done (one line for the operator)."""


@dataclass
class Summary:
    """What one run did; counts only (ids and numbers, never a value)."""

    business_id: str
    offboarded_at: datetime
    #: offboarded by an earlier run (this one changed nothing but the purge)
    already: bool = False
    data_keys: int = 0
    api_keys: int = 0
    webhook_endpoints: int = 0
    shop_connections: int = 0
    #: pending webhook deliveries that will never be sent
    pending_deliveries: int = 0
    #: table -> rows deleted by this run's purge (empty without --purge)
    purged: dict[str, int] = field(default_factory=dict)


#: Called after each purge batch has committed, with the table and its rows deleted
#: (tests watch a purge's progress, or stop it as a kill would).
AfterBatch = Callable[[str, int], Awaitable[None]]


async def offboard(
    business_id: str,
    *,
    purge: bool,
    show_progress: bool,
    batch_size: int = BATCH,
    settle_s: float = SETTLE_S,
    after_batch: AfterBatch | None = None,
    say: Callable[[str], Any] = print,
) -> Summary:
    """Destroy the business's data key and stop everything of it (see the module
    docstring); with `purge`, then delete its rows in batches.  OffboardError for an
    unknown business or one that may hold legacy values: then nothing changed."""
    summary = await _shred(business_id)
    await _drop_keys(business_id)
    businesses._known.clear()  # every API key this process had checked
    if not summary.already:
        log.info(
            "business offboarded",
            extra={
                "fields": {
                    "business": business_id,
                    "data_keys": summary.data_keys,
                    "api_keys": summary.api_keys,
                    "webhook_endpoints": summary.webhook_endpoints,
                    "shop_connections": summary.shop_connections,
                    "pending_deliveries": summary.pending_deliveries,
                }
            },
        )
        if settle_s > 0:
            say(f"waiting {settle_s:.0f} s for every running process to stop trusting its keys")
            await asyncio.sleep(settle_s)
    if purge:
        summary.purged = await _purge(
            business_id,
            batch_size=batch_size,
            show_progress=show_progress,
            after_batch=after_batch,
        )
        log.info("business purged", extra={"fields": {"business": business_id, **summary.purged}})
    return summary


async def _drop_keys(business_id: str) -> None:
    """This process's copy of the business's keys, out at once: marked stale, the next
    lookup reads the business offboarded and drops them (the cipher's too)."""
    keyring.forget(business_id)
    try:
        await keyring.of(business_id)
    except keyring.KeysGone:
        return
    raise RuntimeError(f"business {business_id} still has keys after offboarding")


async def _count(conn: Any, sql: str, params: list[Any]) -> int:
    counted, _ = await conn.execute_query(sql, params)
    return int(counted)


async def _shred(business_id: str) -> Summary:
    """The one transaction: keys gone, business marked, keys revoked, hooks stopped."""
    async with transaction() as conn:
        rows = await conn.execute_query_dict(
            "SELECT write_key, legacy_values, offboarded_at FROM business WHERE id = $1 FOR UPDATE",
            [business_id],
        )
        if not rows:
            raise OffboardError(f"no business with id {business_id}")
        row = rows[0]
        if row["offboarded_at"] is not None:
            return Summary(business_id, row["offboarded_at"], already=True)
        if row["legacy_values"] or row["write_key"] is None:
            raise OffboardError(LEGACY.format(id=business_id))
        data_keys = await _count(
            conn, "DELETE FROM business_key WHERE business_id = $1", [business_id]
        )
        marked = await conn.execute_query_dict(
            "UPDATE business SET offboarded_at = now(), write_key = $2 WHERE id = $1 "
            "RETURNING offboarded_at",
            [business_id, keyring.OFFBOARDED],
        )
        summary = Summary(business_id, marked[0]["offboarded_at"], data_keys=data_keys)
        summary.api_keys = await _count(
            conn,
            "UPDATE api_key SET revoked_at = now() WHERE business_id = $1 AND revoked_at IS NULL",
            [business_id],
        )
        summary.webhook_endpoints = await _count(
            conn,
            "UPDATE webhook_endpoint SET deleted_at = now() "
            "WHERE business_id = $1 AND deleted_at IS NULL",
            [business_id],
        )
        summary.shop_connections = await _count(
            conn,
            "UPDATE shop_connection SET deleted_at = now() "
            "WHERE business_id = $1 AND deleted_at IS NULL",
            [business_id],
        )
        pending = await conn.execute_query_dict(
            "SELECT count(*) AS n FROM webhook_delivery d JOIN webhook_endpoint e "
            "ON e.id = d.endpoint_id WHERE e.business_id = $1 AND d.status = 'pending'",
            [business_id],
        )
        summary.pending_deliveries = int(pending[0]["n"])
    return summary


async def _purge(
    business_id: str, *, batch_size: int, show_progress: bool, after_batch: AfterBatch | None
) -> dict[str, int]:
    """Delete the business's rows, PURGED's tables in order, `batch_size` rows a
    statement: one statement outside a transaction commits on its own, so the locks
    of a batch go with it.  Resumable: what is left is what a run deletes."""
    db = Business._meta.db
    rows = await db.execute_query_dict(
        "SELECT offboarded_at FROM business WHERE id = $1", [business_id]
    )
    if not rows or rows[0]["offboarded_at"] is None:  # only after _shred: a bug if it is not
        raise OffboardError(f"business {business_id} is not offboarded: nothing is purged")
    connections = [
        r["id"]
        for r in await db.execute_query_dict(
            "SELECT id FROM shop_connection WHERE business_id = $1", [business_id]
        )
    ]
    endpoints = [
        r["id"]
        for r in await db.execute_query_dict(
            "SELECT id FROM webhook_endpoint WHERE business_id = $1", [business_id]
        )
    ]
    values: dict[str, Any] = {
        "business": business_id,
        "connections": connections,
        "endpoints": endpoints,
    }

    def rows_of(column: str, owner: str) -> str:
        return f"{column} = $1" if owner == "business" else f"{column} = ANY($1::text[])"

    total = 0
    for table, _, column, owner in PURGED:
        counted = await db.execute_query_dict(
            f"SELECT count(*) AS n FROM {table} WHERE {rows_of(column, owner)}", [values[owner]]
        )
        total += int(counted[0]["n"])
    deleted = {table: 0 for table, *_ in PURGED}
    enabled = show_progress and total > 0
    with progress("purge", total=total, initial=0, enabled=enabled) as bar:
        for table, key, column, owner in PURGED:
            sql = (
                f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} "
                f"WHERE {rows_of(column, owner)} LIMIT {int(batch_size)})"
            )
            while True:
                count, _ = await db.execute_query(sql, [values[owner]])
                if count:
                    deleted[table] += count
                    bar.update(count)
                    if after_batch is not None:
                        await after_batch(table, count)
                if count < batch_size:
                    break
    return deleted
