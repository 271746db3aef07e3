"""Migrations: they match the models, apply once, and are safe to race."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from app.db.orm import MIGRATIONS_DIR
from app.settings import parse_database_url
from tests.conftest import ROOT

MIGRATION_COUNT = len(list((MIGRATIONS_DIR / "models").glob("[0-9]*_*.py")))

_AERICH_CHECK = """
import asyncio, sys
from aerich import Command
from app.db.orm import tortoise_config

async def main():
    command = Command(tortoise_config(sys.argv[1]), app="models", location=sys.argv[2])
    await command.init(offline=True)
    print(repr(await command.migrate(name="pending", no_input=True, offline=True)))

asyncio.run(main())
"""


def test_models_and_migrations_agree(tmp_path, server_url):
    """Aerich, run offline on a copy of the migrations, finds nothing to generate."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    before = sorted(p.name for p in (copy / "models").glob("*.py"))
    result = subprocess.run(
        [sys.executable, "-c", _AERICH_CHECK, server_url, str(copy)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    after = sorted(p.name for p in (copy / "models").glob("*.py"))
    assert result.stdout.strip() == "''", f"pending model changes: {result.stdout}"
    assert before == after


def _finora(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "finora"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


async def test_migrate_twice_is_a_no_op_and_creates_the_indexes(fresh_db):
    env = {**os.environ, "DATABASE_URL": fresh_db}
    first = await asyncio.to_thread(_finora, "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert f"applied {MIGRATION_COUNT} migration" in first.stdout
    second = await asyncio.to_thread(_finora, "migrate", env=env)
    assert second.returncode == 0 and "applied 0 migration" in second.stdout
    conn = await asyncpg.connect(**parse_database_url(fresh_db))
    try:
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customer'"
            )
        }
        versions = await conn.fetchval("SELECT count(*) FROM aerich")
    finally:
        await conn.close()
    unique = indexes["customer_active_email_uidx"]
    assert (
        "UNIQUE" in unique and "(business_id, email_hash)" in unique and "WHERE is_active" in unique
    )
    assert versions == MIGRATION_COUNT
    assert "gin (search_tokens)" in indexes["customer_search_tokens_gin"].lower()
    conn = await asyncpg.connect(**parse_database_url(fresh_db))
    try:
        options = {
            r["relname"]: sorted(r["reloptions"])
            for r in await conn.fetch(
                "SELECT relname, reloptions FROM pg_class WHERE relname = ANY($1)",
                ["customer_search_tokens_gin", "customer_short_tokens_gin"],
            )
        }
    finally:
        await conn.close()
    # Migration 6: small pending lists (bulk inserts merge tokens in batches).
    small = ["fastupdate=on", "gin_pending_list_limit=128"]
    assert options == {"customer_search_tokens_gin": small, "customer_short_tokens_gin": small}


async def test_concurrent_migrations_from_two_processes(fresh_db):
    env = {**os.environ, "DATABASE_URL": fresh_db}
    runs = await asyncio.gather(*(asyncio.to_thread(_finora, "migrate", env=env) for _ in range(3)))
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    applied = sorted(r.stdout.strip().split(":")[0] for r in runs)
    assert applied == [
        "applied 0 migration(s)",
        "applied 0 migration(s)",
        f"applied {MIGRATION_COUNT} migration(s)",
    ]
    conn = await asyncpg.connect(**parse_database_url(fresh_db))
    try:
        assert await conn.fetchval("SELECT count(*) FROM aerich") == MIGRATION_COUNT
    finally:
        await conn.close()


_UPGRADE_TO = """
import asyncio, sys
from aerich import Command
from app.db.orm import tortoise_config

async def main():
    command = Command(tortoise_config(sys.argv[1]), app="models", location=sys.argv[2])
    await command.init()
    print(await command.upgrade(run_in_transaction=True))

asyncio.run(main())
"""


def _at_migration(database_url: str, tmp_path: Path, numbers: str) -> Any:
    """Upgrades the database with the migrations whose numbers match ``numbers`` (a glob
    class) only, and installs the test keys: a database as an older release left it."""
    from app import crypto
    from app.crypto.keys import KeySet

    older = tmp_path / "migrations"
    (older / "models").mkdir(parents=True)
    for path in sorted((MIGRATIONS_DIR / "models").glob(f"{numbers}_*.py")):
        shutil.copy(path, older / "models")
    upgraded = subprocess.run(
        [sys.executable, "-c", _UPGRADE_TO, database_url, str(older)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    return crypto.install(
        KeySet.parse(os.environ["FINORA_ENCRYPTION_KEYS"], os.environ["FINORA_INDEX_KEY"])
    )


async def test_migration_2_counts_existing_rows_and_migrate_backfills_short_tokens(
    tmp_path, fresh_db
):
    """A database at migration 1, with customers: `finora migrate` makes them searchable."""
    keys = _at_migration(fresh_db, tmp_path, "[01]")
    conn = await asyncpg.connect(**parse_database_url(fresh_db))
    try:
        await conn.execute("INSERT INTO business VALUES ('biz_old', 'Old', now())")
        for n, active in enumerate([True, True, False]):
            row_id, email = f"cust_old{n}", f"zoë{n}@old.ng"
            await conn.execute(
                "INSERT INTO customer (id, business_id, name, name_lower, email, email_hash,"
                " account_balance_kobo, is_active, created_at, updated_at, search_tokens)"
                " VALUES ($1, 'biz_old', $2, $3, $4, $1, 0, $5, now(), now(), $6)",
                row_id,
                f"Old {n}",
                f"old {n}",
                keys.cipher.seal("customer", "email", row_id, email),
                active,
                keys.legacy.search_tokens.for_row("biz_old", f"old {n}", email) if active else [],
            )
        env = {**os.environ, "DATABASE_URL": fresh_db}
        migrated = await asyncio.to_thread(_finora, "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert f"applied {MIGRATION_COUNT - 2} migration" in migrated.stdout
        assert "indexed 3 customer(s)" in migrated.stdout
        assert await conn.fetchval("SELECT sum(active) FROM customer_count") == 2
        short = await conn.fetchval("SELECT short_tokens FROM customer WHERE id = 'cust_old0'")
        _, email_tokens = keys.legacy.search_tokens.for_query("biz_old", "ë")
        assert set(email_tokens.short) <= set(short)
        assert await conn.fetchval("SELECT short_tokens FROM customer WHERE id = 'cust_old2'") == []
    finally:
        await conn.close()


async def test_migration_7_leaves_old_names_unknown_and_migrate_decides_them(tmp_path, fresh_db):
    """At migration 6, customers whose names may be their emails' local parts: SQL cannot
    tell (emails are ciphertext), so the column starts NULL and `finora migrate`'s
    backfill decides each row from its decrypted email."""
    keys = _at_migration(fresh_db, tmp_path, "[0-6]")
    rows = {  # id: (name, email)
        "cust_defaulted": ("ada.obi", "ada.obi@old.ng"),
        "cust_named": ("Bola Ade", "bola@old.ng"),
        "cust_typed": ("Chi", "chi@old.ng"),
    }
    conn = await asyncpg.connect(**parse_database_url(fresh_db))
    try:
        await conn.execute("INSERT INTO business VALUES ('biz_old', 'Old', now())")
        for row_id, (name, email) in rows.items():
            tokens, short = keys.legacy.search_tokens.for_rows("biz_old", name.lower(), email)
            await conn.execute(
                "INSERT INTO customer (id, business_id, name, name_lower, email, email_hash,"
                " account_balance_kobo, is_active, created_at, updated_at, search_tokens,"
                " short_tokens) VALUES ($1, 'biz_old', $2, $3, $4, $5, 0, true, now(), now(),"
                " $6, $7)",
                row_id,
                name,
                name.lower(),
                keys.cipher.seal("customer", "email", row_id, email),
                keys.legacy.email_index.digest("biz_old", email),
                tokens,
                short,
            )
        await conn.execute(
            "INSERT INTO customer (id, business_id, name, name_lower, account_balance_kobo,"
            " is_active, created_at, updated_at, erased_at) VALUES ('cust_erased', 'biz_old',"
            " 'Erased customer', 'erased customer', 0, false, now(), now(), now())"
        )
        env = {**os.environ, "DATABASE_URL": fresh_db}
        migrated = await asyncio.to_thread(_finora, "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert "7_20261207052955_name_from_email.py" in migrated.stdout
        flags = dict(await conn.fetch("SELECT id, name_from_email FROM customer"))
        assert flags == {
            "cust_defaulted": True,
            "cust_named": False,
            "cust_typed": True,  # "Chi" shows chi@ just as the default would
            "cust_erased": False,  # decided by the migration itself
        }
    finally:
        await conn.close()
