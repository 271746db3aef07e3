"""Database connection: the Tortoise configuration and its life cycle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from app.db import connect
from app.settings import parse_database_url

MODELS = ["app.models", "aerich.models"]
#: The name of the one database connection in the Tortoise configuration.
CONNECTION = "default"
#: The repository's migrations; an installed image points FINORA_MIGRATIONS_DIR at its copy.
MIGRATIONS_DIR = Path(
    os.environ.get("FINORA_MIGRATIONS_DIR")
    or Path(__file__).resolve().parents[2] / "aerich_migrations"
)


async def release_without_reset(conn: asyncpg.Connection) -> None:
    """Pool release hook: skip asyncpg's reset query, a round trip on every request.

    Pooled connections carry no session state here (no LISTEN, cursors, SET or
    advisory locks: the migration lock uses its own connection), so the reset
    has nothing to undo; a transaction left open by an error is still rolled back.
    Behind PgBouncer the reset would be wrong besides: it would run on whatever
    server connection the pooler hands out, not the one the session was on.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def tortoise_config(database_url: str, *, pool_max: int = 10) -> dict[str, Any]:
    """Tortoise's configuration; the connection arguments follow the URL's kind
    (direct, or through a transaction pooler: app.db.connect)."""
    credentials: dict[str, Any] = {
        **connect.arguments(database_url),
        "minsize": 1,
        "maxsize": pool_max,
        # Fail fast instead of hanging when the server is gone.
        "timeout": 5,
        "command_timeout": 30,
        "reset": release_without_reset,
    }
    return {
        "connections": {
            CONNECTION: {"engine": "tortoise.backends.asyncpg", "credentials": credentials}
        },
        "apps": {"models": {"models": MODELS, "default_connection": CONNECTION}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_orm(database_url: str, *, pool_max: int = 10) -> TortoiseContext:
    """Start Tortoise for this process.

    The ASGI lifespan runs in another task than the requests, so the context is
    also set as the process-wide fallback (what Tortoise's own Starlette
    integration does); :func:`close_orm` clears it again.
    """
    return await Tortoise.init(
        config=tortoise_config(database_url, pool_max=pool_max), _enable_global_fallback=True
    )


async def close_orm() -> None:
    await Tortoise.close_connections()


async def raw_connect(database_url: str, **kwargs: Any) -> asyncpg.Connection:
    """A plain asyncpg connection, for work outside the ORM (locks, checks)."""
    return await asyncpg.connect(**{**connect.arguments(database_url), **kwargs}, timeout=5)


def with_database(url: str, name: str) -> str:
    """The same server URL, pointing at another database (tests, benchmarks)."""
    params = parse_database_url(url)
    if str(params["host"]).startswith("/"):
        return f"postgresql://{params['user']}:@/{name}?host={params['host']}&port={params['port']}"
    auth = str(params["user"]) + (f":{params['password']}" if params["password"] else "")
    return f"postgresql://{auth}@{params['host']}:{params['port']}/{name}"
