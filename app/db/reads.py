"""Plain SQL reads (and one-statement writes), straight on asyncpg's pool.

The read path (lists, pages, search, one customer) sends fixed statements and
wraps the rows itself (app.models.records), so it needs nothing of Tortoise but
its connection.  Tortoise's way to one (its current-client lookup, a pool
wrapper object, two awaits around asyncpg's own acquire and release) costs
about as much as the query's own client-side work for a small read, so outside
a transaction the rows come from the pool Tortoise opened, remembered until it
closes; inside one (app.db.transaction), from the transaction's connection, so
a read sees the transaction's own writes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.connection import get_connection

from app import meter
from app.db import transaction
from app.db.orm import CONNECTION

#: Tortoise's pool, once a read outside a transaction has found it.
_pool: asyncpg.Pool | None = None


async def _rows(sql: str, params: tuple[Any, ...]) -> list[Any]:
    global _pool
    inside = transaction.inside()
    if not inside and _pool is not None and not _pool.is_closing():
        return await _pool.fetch(sql, *params)  # type: ignore[no-any-return]
    client = get_connection(CONNECTION)
    if not inside and not isinstance(client, TransactionalDBClient):
        _pool = client._pool  # None until Tortoise's first query opens it
        if _pool is not None:
            return await _pool.fetch(sql, *params)  # type: ignore[no-any-return]
    async with client.acquire_connection() as conn:
        return await conn.fetch(sql, *params)  # type: ignore[no-any-return]


async def fetch(sql: str, *params: Any) -> list[Any]:
    """The rows of one read statement, counted towards the request's cost (app.meter).

    ``is_active`` is written literally in these statements, so the partial indexes
    match even with a cached generic plan.  A request's reads take one pooled
    connection at a time (its meter's lock), so aliased fields cannot hold the pool.
    """
    async with meter.query_lock() or contextlib.nullcontext():
        rows = await _rows(sql, params)
    meter.rows_read(len(rows))
    return rows


async def written(sql: str, *params: Any) -> list[Any]:
    """The rows a write statement returns (``INSERT ... RETURNING``), on the same
    connection as the reads: one statement outside a transaction commits on its own.
    Not charged as rows read: a write's cost is the request's own."""
    async with meter.query_lock() or contextlib.nullcontext():
        return await _rows(sql, params)
