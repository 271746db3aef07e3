"""The connection pool's release hook: no reset query, but no transaction leaks."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.db.orm import release_without_reset
from app.settings import parse_database_url


async def test_release_rolls_back_an_open_transaction(database_url):
    pool = await asyncpg.create_pool(
        **parse_database_url(database_url), min_size=1, max_size=1, reset=release_without_reset
    )
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE leak (x int)")
            assert conn.is_in_transaction()
        async with pool.acquire() as conn:  # the same single connection
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.leak')") is None
    finally:
        await pool.close()


async def test_reads_see_their_transaction_and_only_committed_rows_outside_it(app):
    """app.db.reads.fetch takes the pool outside a transaction, the transaction's
    connection inside one (app.db.transaction): a read in a transaction sees its
    own writes, and so does a task it starts."""
    from app.db.reads import fetch
    from app.db.transaction import transaction
    from app.models import Business

    sql = "SELECT count(*) FROM business WHERE name = $1"
    go = asyncio.Event()

    async def elsewhere() -> int:
        await go.wait()
        return (await fetch(sql, "Mid-flight"))[0][0]

    assert (await fetch(sql, "Mid-flight"))[0][0] == 0  # the pool is found and remembered
    outside = asyncio.create_task(elsewhere())  # its own context: no transaction
    with pytest.raises(RuntimeError):
        async with transaction() as conn:
            await Business.create(id="biz_midflight", name="Mid-flight", using_db=conn)
            assert (await fetch(sql, "Mid-flight"))[0][0] == 1  # its own write
            assert (await asyncio.create_task(fetch(sql, "Mid-flight")))[0][0] == 1
            go.set()
            assert await outside == 0  # not committed: the pool does not see it
            raise RuntimeError("roll back")
    assert (await fetch(sql, "Mid-flight"))[0][0] == 0
