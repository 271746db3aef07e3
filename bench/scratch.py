"""A scratch database and a production environment for one benchmark run.

Every benchmark measures a production start (`FINORA_ENV=production`) on a
database of its own, created on the server of DATABASE_URL (default: the local
PostgreSQL), migrated, and dropped at the end, whatever happens.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

#: A per-key rate limit no run can reach (requests per second, and burst).
UNREACHABLE_RATE = 1_000_000_000


@dataclass
class Scratch:
    env: dict[str, str]
    #: An admin connection to the server (not the scratch database), for pg_stat_activity.
    admin: asyncpg.Connection
    database: str
    log_dir: Path


@asynccontextmanager
async def scratch_run(*, prefix: str = "finora_bench") -> AsyncIterator[Scratch]:
    # Imported here so that the load generator process starts without the app.
    import asyncpg

    from app import crypto
    from app.crypto.keys import KeySet, generate_env_lines
    from app.db.migrate import migrate
    from app.db.orm import with_database
    from app.settings import parse_database_url

    async def connect(url: str) -> asyncpg.Connection:
        return await asyncpg.connect(**parse_database_url(url))  # type: ignore[arg-type]

    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = with_database(server_url, name)
    keys = dict(line.split("=", 1) for line in generate_env_lines())
    env = {
        **os.environ,
        **keys,
        "DATABASE_URL": url,
        "FINORA_ENV": "production",
        # One key sends every request: a per-key rate limit would measure itself.
        # It stays on (its bookkeeping is part of a request's cost) but never refuses.
        "FINORA_RATE_LIMIT_PER_SECOND": str(UNREACHABLE_RATE),
        "FINORA_RATE_LIMIT_BURST": str(UNREACHABLE_RATE),
    }
    env.pop("FINORA_GRAPHIQL", None)
    scratch = TemporaryDirectory(prefix="finora-bench-")
    admin = await connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        crypto.install(KeySet.parse(keys["FINORA_ENCRYPTION_KEYS"], keys["FINORA_INDEX_KEY"]))
        await migrate(url)
        yield Scratch(env=env, admin=admin, database=name, log_dir=Path(scratch.name))
    finally:
        scratch.cleanup()
        await admin.close()
        admin = await connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
