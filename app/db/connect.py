"""How to open a connection to a database URL: straight to PostgreSQL, or through
a transaction pooler (PgBouncer with ``pool_mode = transaction``).

Behind a transaction pooler each transaction, and each statement outside one,
may run on another server connection, so nothing may rely on the session:

- **Named prepared statements.**  asyncpg caches a named statement per query on
  its connection; the next run binds that name on whatever server connection
  the pooler hands out, where it is missing ("prepared statement
  __asyncpg_stmt_2__ does not exist") or, prepared there by another process, is
  another statement ("already exists").  With ``statement_cache_size=0``
  asyncpg 0.32 uses the unnamed statement only: it sends Parse/Describe/*Flush*
  (no Sync, so no ReadyForQuery and the pooler keeps the server connection) to
  learn the types, then Parse again with Bind/Execute/Sync in one write
  (``mark_unprepared`` in ``Connection._get_statement``).  A statement is thus
  parsed and run in one message group on one server connection, whatever the
  pooler does between groups, and PgBouncer 1.21's ``max_prepared_statements``
  (which maps *named* statements only) never has to step in.  The cost is a
  round trip and a parse per statement; the unnamed statement is always planned
  with its values, so ``plan_cache_mode`` has nothing to decide there.
- **asyncpg's type introspection.**  The first time a connection meets a type
  it has no codec for (arrays among them: bool[], int4[], varchar[] here), asyncpg
  looks it up with jit turned off for the lookup: ``set_config('jit', 'off',
  false)``, the lookup, then ``set_config('jit', 'on', false)``, three statements
  each with its own Sync, so behind a pooler on up to three server connections;
  one of them is left with jit off for its life, whoever uses it next.
  :class:`PooledConnection` runs the lookup in a transaction, which the pooler
  keeps on one server connection.
- **Startup parameters.**  PgBouncer refuses any it does not track
  ("unsupported startup parameter: plan_cache_mode"); only ``application_name``
  is sent through it.  The direct connection's ``plan_cache_mode`` doubles as a
  check: a pooler reached without FINORA_DATABASE_POOLER refuses it at login,
  and :func:`refused_by_pooler` turns that into one clear line.
- **Sessions.**  LISTEN, session advisory locks and SET do not survive a
  transaction; what needs them (the webhook worker, migrations) connects to
  FINORA_DATABASE_DIRECT_URL instead (app.startup.bootstrap.session_url).

Which URLs lead to a pooler is declared once, when the settings are turned into
a URL (app.startup.bootstrap), so every connection to that URL, the ORM's pool
and plain asyncpg connections alike, is opened the same way.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from app.settings import parse_database_url

#: Direct to PostgreSQL.  PostgreSQL's own choice (auto): a prepared statement's
#: first five runs are planned with their values, then its generic plan is kept
#: only if it costs no more.  The hot statements write `is_active` literally, so
#: their generic plan uses the partial indexes (WHERE is_active); a Tortoise query
#: binds it, so its generic plan could not, costs more, and is never chosen.
#: Forcing a plan per run (force_custom_plan, as before) cost 0.14 ms of database
#: CPU per repeat buyer's find-or-create, two thirds of it (bench/writes.py).
DIRECT_SERVER_SETTINGS = {"application_name": "finora", "plan_cache_mode": "auto"}
#: Through a pooler: only what PgBouncer passes on.
POOLED_SERVER_SETTINGS = {"application_name": "finora"}

_pooled: set[str] = set()


class PooledConnection(asyncpg.Connection):
    """An asyncpg connection that keeps its type introspection on one server
    connection behind a transaction pooler (see the module's docstring).

    `_introspect_types` is asyncpg's (0.32) own step; tests/test_pgbouncer.py
    checks that no server connection is left with jit off, so an asyncpg that
    renames it fails there rather than leaking quietly.
    """

    async def _introspect_types(self, typeoids: Any, timeout: Any) -> Any:
        if self.is_in_transaction():
            return await super()._introspect_types(typeoids, timeout)
        async with self.transaction():
            return await super()._introspect_types(typeoids, timeout)


def declare_pooled(url: str) -> None:
    """Connections to `url` go through a transaction pooler from now on (this process)."""
    _pooled.add(url)


def is_pooled(url: str) -> bool:
    return url in _pooled


def arguments(url: str) -> dict[str, Any]:
    """asyncpg's connection arguments for `url` (for ``connect`` and ``create_pool``)."""
    params: dict[str, Any] = parse_database_url(url)
    if is_pooled(url):
        return {
            **params,
            "server_settings": dict(POOLED_SERVER_SETTINGS),
            "statement_cache_size": 0,
            "connection_class": PooledConnection,
        }
    return {**params, "server_settings": dict(DIRECT_SERVER_SETTINGS)}


def refused_by_pooler(exc: BaseException) -> bool:
    """Whether a failed login is a pooler refusing the direct connection's parameters."""
    return isinstance(exc, asyncpg.PostgresError) and "unsupported startup parameter" in str(exc)
