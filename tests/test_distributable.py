"""The schema stays distributable: Citus with ``business_id`` as the distribution column.

The README names Citus as the step after read replicas (issue 23, item 5): each
business's rows on one shard, every query of a business routed to one node.
Citus can only enforce a primary key or a unique constraint (or exclusion
constraint) of a distributed table if it includes the distribution column, as a
plain key column: uniqueness is then checked inside one shard.  A table whose
keys lack ``business_id`` cannot be distributed without a migration that
rewrites its keys, on tables that by then are large; so the rule is checked
here, on the migrations themselves: applied to a fresh database with the real
CLI, then read back from pg_index and pg_constraint, whatever Tortoise's models
say.

Tables outside the rule are listed in EXEMPT, each with the reason.  The rule's
present exceptions are in NOT_YET, each with its fix: the test fails on any
other violation (a new table, a new index) and on any entry of NOT_YET that the
schema no longer violates, so the list can only shrink.  Empty, it is the rule.
"""

from __future__ import annotations

import os

import asyncpg

from app.settings import parse_database_url
from tests.test_cli import arun

DISTRIBUTION_COLUMN = "business_id"

#: Tables that would not be distributed by business_id, and why.
EXEMPT = {
    "business": "the distribution root: its id is the business_id (a reference table, "
    "or distributed on id itself)",
    "api_key": "looked up by digest before the business is known (every request's auth), "
    "with digest and prefix unique across businesses: a reference table",
    "key_check": "one check value per master key, for the whole service: a reference table",
    "job": "the service's background jobs (key rotation), not a business's: coordinator-local",
    "aerich": "the migration tool's own history: coordinator-local",
}

#: The current schema's unique keys without business_id, "table.index": the fix.
#: Each is a migration to write (and Tortoise's model to follow); until then the
#: entry stays here, so the debt is listed, not hidden.
NOT_YET = {
    "customer.customer_pkey": "PRIMARY KEY (business_id, id)",
    "customer_event.customer_event_pkey": "PRIMARY KEY (business_id, seq)",
    "customer_event.customer_event_id_key": "UNIQUE (business_id, id)",
    "webhook_endpoint.webhook_endpoint_pkey": "PRIMARY KEY (business_id, id)",
    "shop_connection.shop_connection_pkey": "PRIMARY KEY (business_id, id)",
    "business_key.business_key_pkey": "PRIMARY KEY (business_id, id)",
    # Tables without the column: add business_id (NOT NULL, backfilled from the row
    # they hang on), then the key with it.
    "webhook_delivery.webhook_delivery_pkey": "add business_id (from its endpoint); "
    "PRIMARY KEY (business_id, id)",
    "webhook_delivery.uid_webhook_del_event_i_4cd663": "UNIQUE (business_id, event_id, "
    "endpoint_id)",
    "webhook_delivery.uid_webhook_del_uid_c8b74f": "UNIQUE (business_id, uid)",
    "shop_delivery.shop_delivery_pkey": "add business_id (from its connection); "
    "PRIMARY KEY (business_id, id)",
    "shop_delivery.uid_shop_delive_connect_19431f": "UNIQUE (business_id, connection_id, "
    "delivery_id, signature)",
    "shop_problem.shop_problem_pkey": "add business_id (from its connection); "
    "PRIMARY KEY (business_id, id)",
    "customer_external_id.customer_external_id_pkey": "add business_id (from its "
    "connection); PRIMARY KEY (business_id, id)",
    "customer_external_id.uid_customer_ex_connect_11b2b7": "UNIQUE (business_id, "
    "connection_id, external_id)",
}

#: Every unique index (primary keys and unique constraints are backed by one) and
#: exclusion constraint of the public schema, with its key columns: INCLUDE
#: columns and expressions (attnum 0) do not count, Citus needs the plain column.
UNIQUE_KEYS = """
SELECT t.relname AS table_name,
       i.relname AS index_name,
       coalesce(c.contype::text, 'i') AS kind,
       pg_get_indexdef(x.indexrelid) AS definition,
       array(
         SELECT a.attname
         FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, position)
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE k.position <= x.indnkeyatts
         ORDER BY k.position
       ) AS key_columns,
       EXISTS (
         SELECT 1 FROM pg_attribute a
         WHERE a.attrelid = t.oid AND a.attname = $1 AND NOT a.attisdropped
       ) AS has_column
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid
WHERE n.nspname = 'public' AND t.relkind IN ('r', 'p') AND (x.indisunique OR x.indisexclusion)
ORDER BY 1, 2
"""
TABLES = """
SELECT relname FROM pg_class
WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')
"""
KINDS = {"p": "primary key", "u": "unique constraint", "x": "exclusion constraint"}


async def _migrated(url: str) -> asyncpg.Connection:
    """The fresh database with every migration applied by `finora migrate`, as deployed."""
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("FINORA_DATABASE_DIRECT_URL", None)  # it would migrate that database instead
    done = await arun("migrate", env=env)
    assert done.returncode == 0, done.stderr
    return await asyncpg.connect(**parse_database_url(url))


async def test_every_unique_key_of_a_business_table_includes_business_id(fresh_db):
    conn = await _migrated(fresh_db)
    try:
        keys = await conn.fetch(UNIQUE_KEYS, DISTRIBUTION_COLUMN)
        tables = {row["relname"] for row in await conn.fetch(TABLES)}
    finally:
        await conn.close()
    assert set(EXEMPT) <= tables, f"exempt tables that no longer exist: {set(EXEMPT) - tables}"
    assert {"customer", "customer_event"} <= tables  # the query did read the schema

    violations: dict[str, str] = {}
    for key in keys:
        if key["table_name"] in EXEMPT or DISTRIBUTION_COLUMN in key["key_columns"]:
            continue
        kind = KINDS.get(key["kind"], "unique index")
        missing = "" if key["has_column"] else f" (the table has no {DISTRIBUTION_COLUMN})"
        violations[f"{key['table_name']}.{key['index_name']}"] = (
            f"{kind} on ({', '.join(key['key_columns'])}){missing}: {key['definition']}"
        )

    new = {name: why for name, why in violations.items() if name not in NOT_YET}
    fixed = sorted(set(NOT_YET) - set(violations))
    assert not new, (
        f"unique keys without {DISTRIBUTION_COLUMN}, which Citus could not distribute by "
        "it: include it in the key, or list the table in EXEMPT with the reason:\n"
        + "\n".join(f"  {name}: {why}" for name, why in sorted(new.items()))
    )
    assert not fixed, f"no longer violations, take them out of NOT_YET: {fixed}"
