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
from app.db import connect
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
    """DATABASE_URL, or (development only) the embedded server, started on demand.

    With FINORA_DATABASE_POOLER=pgbouncer the URL is declared pooled here, the one
    place settings become a URL, so that every connection to it (the ORM's pool,
    plain asyncpg connections) is opened for a transaction pooler (app.db.connect).
    """
    if settings.database_url:
        url = settings.database_url.reveal()
    elif settings.is_production:
        raise ConfigError("DATABASE_URL must be set in production")
    else:
        from app.db import embedded

        url = embedded.start(settings.data_dir)
        os.environ["DATABASE_URL"] = url  # worker processes inherit it
    if settings.database_pooler != "none":
        connect.declare_pooled(url)
    return url


async def session_url(settings: Settings, command: str) -> str:
    """Where what needs a session connects (LISTEN, session advisory locks, the
    migration lock): FINORA_DATABASE_DIRECT_URL, else DATABASE_URL.

    Behind a transaction pooler there is no session to rely on: a LISTEN would
    hear nothing and two workers could hold one advisory lock (they share the
    server connection it was taken on), so `command` refuses to start there
    rather than run wrong.  A direct URL is checked to lead to DATABASE_URL's
    database: a worker reading another one's deliveries would be worse than none.
    """
    pooled = settings.database_pooler != "none"
    if settings.database_direct_url is None:
        if pooled:
            raise ConfigError(
                f"{command} needs a database session (LISTEN, advisory locks), which "
                f"{settings.database_pooler} in transaction mode does not keep: set "
                "FINORA_DATABASE_DIRECT_URL to the PostgreSQL server itself"
            )
        return database_url(settings)
    direct = settings.database_direct_url.reveal()
    url = database_url(settings)
    if pooled and direct == url:
        raise ConfigError(
            "FINORA_DATABASE_DIRECT_URL is DATABASE_URL, the pooler: it must lead to "
            "the PostgreSQL server itself"
        )
    if direct != url and await _identity(direct) != await _identity(url):
        raise ConfigError("FINORA_DATABASE_DIRECT_URL and DATABASE_URL lead to different databases")
    return direct


async def _identity(url: str) -> tuple[object, ...]:
    """A database's name and its server's start time: equal through a pooler and
    directly, apart for any other database or server (a replica included)."""
    conn = await _connect(url)
    try:
        row = await conn.fetchrow("SELECT current_database(), pg_postmaster_start_time()")
    finally:
        await conn.close()
    return tuple(row or ())


async def _connect(url: str) -> asyncpg.Connection:
    """A connection, or the one-line reason there is none."""
    try:
        return await raw_connect(url)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if connect.refused_by_pooler(exc):
            raise ConfigError(
                "the database URL leads to a connection pooler (it refused a startup "
                "parameter): set FINORA_DATABASE_POOLER=pgbouncer, or point it at PostgreSQL"
            ) from None
        raise ConfigError(f"the database does not answer ({type(exc).__name__})") from None


async def check_database(url: str, *, migrated: bool = False) -> None:
    """The database answers, and with `migrated`, holds our tables: every command but
    `migrate` needs them, and a missing table would otherwise surface as a traceback."""
    conn = await _connect(url)
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
