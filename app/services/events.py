"""Change events: the outbox written with every customer change, read page by page.

:func:`record` is called inside the transaction of the change, so a change that
commits has its events and one that rolls back has none.  The same statement
fans each event out to a delivery row per subscribed endpoint of the business
and, when there is one, wakes the webhook workers (``NOTIFY``, sent by
PostgreSQL at commit).  A disabled endpoint (HTTP 410) gets its rows too: they
are held, pending, while the workers skip it, and go out in event order once
updateWebhookEndpoint enables it again.  Events hold no PII: ids, the type, contract field
names, the actor and the time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient

from app.ids import new_id, well_formed
from app.models import CustomerEvent
from app.services.access import Caller, require_business
from app.services.errors import BadUserInput

CREATED, UPDATED, DELETED, ERASED = "CREATED", "UPDATED", "DELETED", "ERASED"
TYPES = (CREATED, UPDATED, DELETED, ERASED)
#: The actor of changes made by `finora` commands.
CLI_ACTOR = "cli"
#: The channel `finora worker` listens on.
CHANNEL = "finora_webhooks"
LIST_MAX = 100
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Change:
    """One event to record; `changed_fields` are contract names (UPDATED only)."""

    business_id: str
    customer_id: str
    type: str
    actor: str
    changed_fields: Sequence[str] = field(default_factory=tuple)


def actor_of(caller: Caller | None) -> str:
    """The API key's prefix, or `cli` for commands (no caller)."""
    return caller.key_prefix if caller is not None else CLI_ACTOR


# The events of a statement's changes, their deliveries (one per subscribed endpoint),
# and the wake-up of the workers, as common table expressions: `rows` is a SELECT of
# each event's (id, business_id, customer_id, type, changed_fields, actor, n), n
# giving their order.
_FAN_OUT = """event AS (
    INSERT INTO customer_event
        (id, business_id, customer_id, type, changed_fields, actor, occurred_at)
    SELECT id, business_id, customer_id, type, changed_fields, actor, clock_timestamp()
    FROM ({rows}) AS change ORDER BY n
    RETURNING seq, business_id, type
), delivery AS (
    INSERT INTO webhook_delivery (event_id, endpoint_id, status, attempts, next_attempt_at)
    SELECT event.seq, endpoint.id, 'pending', 0, now()
    FROM event JOIN webhook_endpoint endpoint
      ON endpoint.business_id = event.business_id AND endpoint.deleted_at IS NULL
     AND event.type = ANY(endpoint.event_types)
    RETURNING 1
)"""
_WAKE = f"(SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM delivery LIMIT 1) AS woken)"


def with_change(write: str, type_: str, first: int, *, if_changed: bool = False) -> str:
    """One statement: `write` (an INSERT or UPDATE of customers, ``RETURNING id,
    business_id``), a `type_` event for each row it wrote, the events' deliveries and
    the workers' wake-up; then the ids written (none: nothing was written, no event).

    Parameters from ``$first``: the event id, the actor, the changed fields; with
    `if_changed`, an empty list writes no event (an update that changed nothing).
    A single statement is atomic without BEGIN and COMMIT, so a one-row write is one
    round trip.
    """
    event_id, actor, fields = (f"${first + n}" for n in range(3))
    rows = (
        f"SELECT {event_id}::text AS id, business_id, id AS customer_id, "
        f"'{type_}'::text AS type, {fields}::text[] AS changed_fields, {actor}::text AS actor, "
        "1 AS n FROM written"
    )
    if if_changed:
        rows += f" WHERE cardinality({fields}::text[]) > 0"
    fan_out = _FAN_OUT.format(rows=rows)
    return f"WITH written AS ({write}), {fan_out} SELECT id, {_WAKE} AS woken FROM written"


# `string_to_array('', ',')` is an empty array; field names hold no commas.
_RECORD = f"""
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        WITH ORDINALITY AS u(id, business_id, customer_id, type, fields, actor, n)
), {
    _FAN_OUT.format(
        rows="SELECT id, business_id, customer_id, type, "
        "string_to_array(fields, ',') AS changed_fields, actor, n FROM input"
    )
}
SELECT {_WAKE}
"""

Connection = BaseDBAsyncClient | asyncpg.Connection


async def record(connection: Connection, changes: Sequence[Change]) -> None:
    """Write these events in the caller's open transaction (Tortoise or asyncpg).

    Call it on the connection of the transaction that makes the change: the
    bulk path passes all its rows at once (one round trip, events in order).
    """
    if not changes:
        return
    columns = (
        [new_id("evt") for _ in changes],
        [c.business_id for c in changes],
        [c.customer_id for c in changes],
        [c.type for c in changes],
        [",".join(c.changed_fields) for c in changes],
        [c.actor for c in changes],
    )
    if isinstance(connection, asyncpg.Connection):
        await connection.execute(_RECORD, *columns)
    else:
        await connection.execute_query(_RECORD, list(columns))


# Reads ---------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: list[CustomerEvent]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return cursor_of(self.events[-1]) if self.events else None


_CURSOR_PREFIX = "e1:"
_SEQ_MAX = 2**63 - 1


def cursor_of(event: CustomerEvent) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{event.seq}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise BadUserInput("Malformed cursor") from None
    seq = raw.removeprefix(_CURSOR_PREFIX)
    # ASCII digits only (str.isdigit also takes "²", which int() refuses), and within
    # the bigint column: a sequence past it is a made-up cursor, not a database error.
    if seq == raw or not (seq.isascii() and seq.isdigit()) or len(seq) > 19:
        raise BadUserInput("Malformed cursor")
    if int(seq) > _SEQ_MAX:
        raise BadUserInput("Malformed cursor")
    return int(seq)


async def event_page(
    caller: Caller, *, business_id: str, first: int, after: str | None, customer_id: str | None
) -> EventPage:
    """Events of the business (or of one of its customers), oldest first, after a cursor."""
    require_business(caller, business_id)
    if not 1 <= first <= LIST_MAX:
        raise BadUserInput(f"first must be between 1 and {LIST_MAX}")
    query = CustomerEvent.filter(business_id=business_id)
    if after is not None:
        query = query.filter(seq__gt=_decode(after))
    if customer_id is not None:
        if not well_formed(customer_id, "cust"):
            return EventPage(events=[], has_next_page=False)  # cannot exist: like a missing one
        query = query.filter(customer_id=customer_id)
    rows = await query.order_by("seq").limit(first + 1)
    return EventPage(events=rows[:first], has_next_page=len(rows) > first)


# Retention -----------------------------------------------------------------

_PRUNE = """
DELETE FROM customer_event WHERE seq IN (
    SELECT seq FROM customer_event WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2
)
"""


async def prune(connection: asyncpg.Connection, *, keep_days: int, batch: int = PRUNE_BATCH) -> int:
    """Delete events older than `keep_days` (and their deliveries), batch by batch.

    Each batch is its own short statement on an autocommit asyncpg connection:
    it locks only the rows it deletes, so writers never wait on it.
    """
    cutoff = datetime.now(UTC) - timedelta(days=keep_days)
    removed = 0
    while True:
        status = await connection.execute(_PRUNE, cutoff, batch)
        count = int(status.rsplit(" ", 1)[-1])
        removed += count
        if count < batch:
            return removed
