"""The connection pool's release hook: no reset query, but no transaction leaks."""

from __future__ import annotations

import asyncpg

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
