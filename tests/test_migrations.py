"""Migrations: they match the models, apply once, and are safe to race."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
