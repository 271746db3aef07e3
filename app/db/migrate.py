"""Apply the Aerich migrations, once, whatever the number of processes.

A PostgreSQL advisory lock serialises concurrent runs (two workers, two
deploys): the second waits, then finds nothing left to apply.  The lock is the
session's (it spans several transactions: each migration is its own, then the
index backfill), so it needs a direct connection: behind a transaction pooler
it would be taken on one server connection and released on another, and a
second run handed the first one's server connection would take it too.  The
CLI passes FINORA_DATABASE_DIRECT_URL (app.startup.bootstrap.session_url).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aerich import Command

from app.db import connect
from app.db.orm import MIGRATIONS_DIR, close_orm, raw_connect, tortoise_config
from app.settings import ConfigError

# An arbitrary 64-bit constant: "finora migrations".
MIGRATION_LOCK = 0x46494E4F_52414D31


@asynccontextmanager
async def migration_lock(database_url: str) -> AsyncIterator[None]:
    """Hold the database's migration lock (waits while another process has it)."""
    if connect.is_pooled(database_url):
        raise ConfigError(
            "migrations need a direct connection for their lock: set FINORA_DATABASE_DIRECT_URL"
        )
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
