"""Planner statistics refreshed after an erasure, one ANALYZE at a time per table.

PostgreSQL's statistics (``pg_statistic``, read through ``pg_stats``) keep sampled
column values in clear: an erased customer's name, and the ciphertext of its
email, stayed there until the next ANALYZE, which autovacuum may not run for
hours on a quiet table.  ANALYZE samples live row versions only, so one run
after the erasure commits removes them.  Erasures are rare but may come in
bursts (a business offboarding its shoppers): while one ANALYZE of a table runs,
later requests for it are folded into one more run after it.
"""

from __future__ import annotations

import asyncio
import logging

from tortoise import Tortoise

from app.db.orm import CONNECTION

log = logging.getLogger("finora.db")

_running: dict[str, asyncio.Task[None]] = {}
_again: set[str] = set()


async def _analyze(table: str) -> None:
    try:
        while True:
            _again.discard(table)
            try:
                await Tortoise.get_connection(CONNECTION).execute_script(f'ANALYZE "{table}"')
            except Exception as exc:
                log.error("analyze failed", extra={"fields": {"error_type": type(exc).__name__}})
            if table not in _again:
                return
    finally:
        _running.pop(table, None)


def analyze_soon(table: str) -> None:
    """Refresh ``table``'s statistics in the background, after what committed so far."""
    if table in _running:
        _again.add(table)
        return
    _running[table] = asyncio.get_running_loop().create_task(_analyze(table))


async def settled() -> None:
    """Until every ANALYZE asked for has run (tests, shutdown)."""
    while _running:
        await asyncio.gather(*_running.values(), return_exceptions=True)
