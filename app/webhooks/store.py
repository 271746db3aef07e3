"""The worker's SQL: due endpoints, their claim, pending deliveries and outcomes.

An endpoint is claimed with a session-level advisory lock taken with
``pg_try_advisory_lock`` (the SKIP LOCKED of locks: a worker never waits for
another).  Only the holder sends the endpoint's deliveries, and it reads them
after taking the lock, so one delivery is never sent by two workers at once.
The lock lives on the connection, not in a transaction: no transaction stays
open while requests are in flight, outcomes are committed one by one as they
come, and a worker that dies (SIGKILL) loses its connection and so its locks at
once; what it had not recorded is sent again by the next one.  Being the
session's, the lock needs a direct connection: through a transaction pooler two
workers handed the same server connection would both "hold" it (a session may
take its own lock again), and the unlock would run on another connection.

Pings (webhook.ping, no event) stand outside that order: an endpoint is due
when its first pending event delivery is due *or* any pending ping is, and the
worker sends due pings apart from the events, so a ping never waits behind a
delivery backing off, and a failing ping holds no event back.

The lock's key is one bigint: 56 bits of SHA-256 of the endpoint id, under a
top byte that names the class of lock, 0x57 ("W").  Endpoints whose keys agree
would share a lock (one waits while the other is served); hashed to 32 bits
(``hashtext``), two of some 77,000 endpoints already do at even odds, at 56
bits it takes some 300 million.  The migration lock (app.db.migrate) is a
bigint too, with 0x46 ("F") on top, so the two classes cannot meet.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

#: The top byte of every endpoint's advisory lock key: "webhook endpoints".
LOCK_CLASS = 0x57
#: The retry delays are stretched or shrunk by up to this much, so that failures
#: of many deliveries at once do not come back at once.
JITTER = 0.1

# An endpoint is due when its oldest pending event delivery is due (deliveries go
# out in event order, so a later one never overtakes one waiting for its retry),
# or when one of its pending pings is (pings keep no order: `least` skips NULLs).
# Businesses take turns, not endpoints: first those holding the fewest of this
# worker's senders ($3, $4), then each business's least recently served endpoint
# before any second one (`turn`), businesses served longest ago first.  So a
# business with 20 endpoints gets one turn where one with a single endpoint gets
# one too, and the caller leaves out the businesses it bars ($2).
_DUE = """
WITH live AS (
  SELECT e.id, e.business_id, e.served_at,
         max(e.served_at) OVER (PARTITION BY e.business_id) AS business_served_at,
         least(
           (SELECT d.next_attempt_at FROM webhook_delivery d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.event_id IS NOT NULL
            ORDER BY d.event_id LIMIT 1),
           (SELECT min(d.next_attempt_at) FROM webhook_delivery d
            WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.event_id IS NULL)
         ) AS due_at
  FROM webhook_endpoint e
  WHERE e.deleted_at IS NULL AND e.enabled AND e.business_id <> ALL($2::text[])
), due AS (
  SELECT live.*, row_number() OVER (
           PARTITION BY business_id ORDER BY served_at NULLS FIRST, id) AS turn
  FROM live WHERE due_at <= now()
)
SELECT due.id, due.business_id
FROM due LEFT JOIN unnest($3::text[], $4::int[]) AS held(business_id, senders) USING (business_id)
ORDER BY coalesce(held.senders, 0), due.turn, due.business_served_at NULLS FIRST,
         due.served_at NULLS FIRST
LIMIT $1
"""

# The secret before a rotation is still signed with until `previous_until`.
_CLAIMED = """
UPDATE webhook_endpoint SET served_at = now()
WHERE id = $1 AND deleted_at IS NULL AND enabled
RETURNING id, url, secret,
          CASE WHEN previous_until > now() THEN previous_secret END AS previous_secret
"""

_PENDING = """
SELECT d.id AS delivery_id, d.attempts, d.next_attempt_at,
       e.id, e.business_id, e.customer_id, e.type, e.changed_fields, e.actor, e.occurred_at
FROM webhook_delivery d JOIN customer_event e ON e.seq = d.event_id
WHERE d.endpoint_id = $1 AND d.status = 'pending'
ORDER BY d.event_id
LIMIT $2
"""

# Due pings, oldest first; `id` is the delivery's public id, their `webhook-id`.
_PINGS = """
SELECT id AS delivery_id, uid AS id, endpoint_id, attempts, next_attempt_at, created_at
FROM webhook_delivery
WHERE endpoint_id = $1 AND status = 'pending' AND event_id IS NULL AND next_attempt_at <= now()
ORDER BY id
LIMIT $2
"""

# Outcomes are recorded a few at a time, each with the time its attempt started.
_DELIVERED = """
UPDATE webhook_delivery d
SET status = 'delivered', attempts = d.attempts + 1, last_status = done.status,
    last_attempt_at = done.at, delivered_at = now()
FROM unnest($1::bigint[], $2::int[], $3::timestamptz[]) AS done(id, status, at)
WHERE d.id = done.id
"""

# `last_status` is NULL when the attempt got no HTTP answer.
_FAILED_ATTEMPT = """
UPDATE webhook_delivery
SET attempts = attempts + 1, last_status = $2, next_attempt_at = $3, last_attempt_at = $5,
    status = CASE WHEN $4 THEN 'failed' ELSE 'pending' END
WHERE id = $1
"""

_DISABLE = "UPDATE webhook_endpoint SET enabled = false WHERE id = $1"

# Pings have no event whose pruning would take them along: they go after as long.
_PRUNE_PINGS = """
DELETE FROM webhook_delivery WHERE id IN (
    SELECT id FROM webhook_delivery WHERE event_id IS NULL AND created_at < $1 LIMIT $2
)
"""


async def due_endpoints(
    conn: asyncpg.Connection,
    limit: int,
    *,
    barred: Sequence[str] = (),
    held: Mapping[str, int] | None = None,
) -> list[tuple[str, str]]:
    """Due endpoints as (endpoint id, business id), in the order they should be served:
    none of the `barred` businesses, those holding the fewest senders (`held`) first."""
    held = held or {}
    rows = await conn.fetch(_DUE, limit, list(barred), list(held), list(held.values()))
    return [(row["id"], row["business_id"]) for row in rows]


def lock_key(endpoint_id: str) -> int:
    """The endpoint's advisory lock key: LOCK_CLASS, then 56 bits of its id's SHA-256
    (a positive signed bigint, the same in every worker and every Python)."""
    digest = hashlib.sha256(endpoint_id.encode()).digest()
    return LOCK_CLASS << 56 | int.from_bytes(digest[:7], "big")


async def try_lock(conn: asyncpg.Connection, endpoint_id: str) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(endpoint_id)))


async def unlock(conn: asyncpg.Connection, endpoint_id: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(endpoint_id))


async def claimed(conn: asyncpg.Connection, endpoint_id: str) -> asyncpg.Record | None:
    """The endpoint (id, url, sealed secret, and the sealed previous secret while a
    rotation's overlap lasts, else NULL) if it is still live; marks it served."""
    return await conn.fetchrow(_CLAIMED, endpoint_id)


async def pending(conn: asyncpg.Connection, endpoint_id: str, limit: int) -> list[asyncpg.Record]:
    """Its pending deliveries with their events, oldest event first."""
    return await conn.fetch(_PENDING, endpoint_id, limit)


async def due_pings(conn: asyncpg.Connection, endpoint_id: str, limit: int) -> list[asyncpg.Record]:
    """Its pending pings that are due now, oldest first (outside the event order)."""
    return await conn.fetch(_PINGS, endpoint_id, limit)


#: A delivery that went out: (delivery id, HTTP status, when its attempt started).
Delivered = tuple[int, int, datetime]


async def delivered(conn: asyncpg.Connection, outcomes: Sequence[Delivered]) -> None:
    """Mark deliveries delivered, in one statement."""
    if outcomes:
        ids, statuses, times = zip(*outcomes, strict=True)
        await conn.execute(_DELIVERED, list(ids), list(statuses), list(times))


def next_attempt(attempts: int, schedule: Sequence[float], now: datetime) -> datetime | None:
    """When to try again after `attempts` attempts, or None when there is no try left."""
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    return now + timedelta(seconds=delay)


async def failed_attempt(
    conn: asyncpg.Connection,
    delivery_id: int,
    *,
    attempts: int,
    status: int | None,
    schedule: Sequence[float],
    at: datetime | None = None,
    final: bool = False,
) -> bool:
    """Record a failed attempt (the `attempts`-th, started `at`; None: now) with its HTTP
    status (None: no answer); True when the delivery is now failed."""
    now = datetime.now(UTC)
    retry_at = None if final else next_attempt(attempts, schedule, now)
    await conn.execute(
        _FAILED_ATTEMPT, delivery_id, status, retry_at or now, retry_at is None, at or now
    )
    return retry_at is None


async def disable(conn: asyncpg.Connection, endpoint_id: str) -> None:
    await conn.execute(_DISABLE, endpoint_id)


async def prune_pings(conn: asyncpg.Connection, *, keep_days: int, batch: int = 1000) -> int:
    """Delete pings older than `keep_days` (events keep their deliveries as long),
    batch by batch, each its own short statement."""
    cutoff = datetime.now(UTC) - timedelta(days=keep_days)
    removed = 0
    while True:
        count = int((await conn.execute(_PRUNE_PINGS, cutoff, batch)).rsplit(" ", 1)[-1])
        removed += count
        if count < batch:
            return removed
