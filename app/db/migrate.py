"""Apply the Aerich migrations, once, whatever the number of processes.

A PostgreSQL advisory lock serialises concurrent runs (two workers, two
deploys): the second waits, then finds nothing left to apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aerich import Command

from app.db.orm import MIGRATIONS_DIR, close_orm, raw_connect, tortoise_config

# An arbitrary 64-bit constant: "finora migrations".
MIGRATION_LOCK = 0x46494E4F_52414D31


@asynccontextmanager
async def migration_lock(database_url: str) -> AsyncIterator[None]:
    """Hold the database's migration lock (waits while another process has it)."""
    lock = await raw_connect(database_url)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        yield
    finally:
        try:
            await lock.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        finally:
            await lock.close()


async def apply_migrations(database_url: str) -> list[str]:
    """Apply pending migrations (call it under `migration_lock`)."""
    command = Command(
        tortoise_config(database_url, pool_max=2), app="models", location=str(MIGRATIONS_DIR)
    )
    try:
        await command.init()
        return await command.upgrade(run_in_transaction=True)
    finally:
        await close_orm()


async def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; return the names of those applied."""
    async with migration_lock(database_url):
        return await apply_migrations(database_url)
