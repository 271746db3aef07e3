"""What a process needs before it serves: keys, a database URL, and checks.

Everything here fails with :class:`ConfigError` and a one-line message, so the
CLI can print it and exit before Uvicorn starts (Starlette would print a
traceback for a failing lifespan).
"""

from __future__ import annotations

import os
import sys

import asyncpg

from app import crypto
from app.crypto.keys import KeySet, generate_env_lines
from app.db.orm import close_orm, open_orm, raw_connect
from app.settings import ConfigError, Settings
from app.startup.keycheck import verify_and_record

DEV_KEYS_FILE = "dev-keys.env"


def load_keys(settings: Settings) -> KeySet:
    """The configured keys; in development, keys generated once into .finora/."""
    if settings.encryption_keys and settings.index_key:
        return KeySet.parse(settings.encryption_keys.reveal(), settings.index_key.reveal())
    if settings.is_production:
        raise ConfigError("FINORA_ENCRYPTION_KEYS and FINORA_INDEX_KEY must be set in production")
    if settings.encryption_keys or settings.index_key:
        raise ConfigError("set both FINORA_ENCRYPTION_KEYS and FINORA_INDEX_KEY, or neither")
    path = settings.data_dir / DEV_KEYS_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(generate_env_lines()) + "\n")
        print(f"finora: generated development keys in {path} (not for production)", file=sys.stderr)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return KeySet.parse(
        values.get("FINORA_ENCRYPTION_KEYS", ""), values.get("FINORA_INDEX_KEY", "")
    )


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or (development only) the embedded server, started on demand."""
    if settings.database_url:
        return settings.database_url.reveal()
    if settings.is_production:
        raise ConfigError("DATABASE_URL must be set in production")
    from app.db import embedded

    url = embedded.start(settings.data_dir)
    os.environ["DATABASE_URL"] = url  # worker processes inherit it
    return url


async def check_database(url: str, *, migrated: bool = False) -> None:
    """The database answers, and with `migrated`, holds our tables: every command but
    `migrate` needs them, and a missing table would otherwise surface as a traceback."""
    try:
        conn = await raw_connect(url)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise ConfigError(f"the database does not answer ({type(exc).__name__})") from None
    try:
        if migrated and await conn.fetchval("SELECT to_regclass('key_check')") is None:
            raise ConfigError("the database is not migrated: run `finora migrate`")
    finally:
        await conn.close()


async def install_checked_keys(keys: KeySet, *, index_may_change: bool = False) -> None:
    """Install the keys once the open database agrees with them (app.startup.keycheck);
    the database was found migrated first (``check_database(url, migrated=True)``)."""
    crypto.install(keys)
    await verify_and_record(keys, index_may_change=index_may_change)


async def start_checks(settings: Settings) -> tuple[str, KeySet]:
    """Database reachable, migrated, and keys matching it; returns (url, keys)."""
    keys = load_keys(settings)
    url = database_url(settings)
    await check_database(url, migrated=True)
    await open_orm(url, pool_max=2)
    try:
        await install_checked_keys(keys)
    finally:
        await close_orm()
    return url, keys
