"""Webhook endpoints of a business and their deliveries, as the API steers them.

Endpoints: create (the secret shown once), list, update, rotate the secret,
ping, delete.  Deliveries: list an endpoint's, newest first, and retry a failed
one.  The secret is stored encrypted like PII (bound to its row), and only the
worker opens it, to sign (app.webhooks.worker).  URLs follow the SSRF rules of
app.webhooks.addresses.

Whatever changes what the worker should send now (a ping, a retry, an endpoint
enabled again) wakes the workers in its own transaction (``NOTIFY`` at commit),
as recording an event does.  Masked keys see none of this (an endpoint's URL
can name a person, and its deliveries tell where data flows); read keys may
list, only write keys change anything.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient

from app.db import reads
from app.db.transaction import transaction
from app.ids import new_id, well_formed
from app.models import WebhookDelivery, WebhookEndpoint, keyring
from app.services import events
from app.services.access import Caller, require_business, require_clear, require_write
from app.services.errors import BadUserInput, InvalidInput, UserError
from app.webhooks import payload, signing
from app.webhooks.addresses import URL_MAX, Policy, Refused, check, current_policy

#: Live endpoints per business: every customer change is fanned out to each.
MAX_ENDPOINTS = 20
#: How long the secret before a rotation still signs deliveries (beside the new one).
ROTATION_OVERLAP = timedelta(hours=24)
#: webhookDeliveries' `first`: 1 to this.
LIST_MAX = 100
#: The contract's delivery statuses, by the status column's values.
STATUSES = {"pending": "PENDING", "delivered": "DELIVERED", "failed": "FAILED"}


def _invalid(field: tuple[str, ...] | None, code: str, message: str) -> InvalidInput:
    return InvalidInput([UserError(field, code, message)])


def _event_types(given: Sequence[str] | None) -> list[str]:
    if given is None:
        return list(events.TYPES)
    if not given:
        raise _invalid(("eventTypes",), "INVALID", "Give at least one event type, or null for all")
    return [kind for kind in events.TYPES if kind in given]


def _not_found(what: str = "webhook endpoint") -> InvalidInput:
    return _invalid(("id",), "NOT_FOUND", f"No such {what}")


def _trimmed_url(url: str) -> str:
    """The URL without surrounding blanks, if it is given and not too long."""
    url = url.strip()
    if not url:
        raise _invalid(("url",), "BLANK", "url is required")
    if len(url) > URL_MAX:
        raise _invalid(("url",), "TOO_LONG", f"url is longer than {URL_MAX} characters")
    return url


async def _allowed(url: str, policy: Policy | None) -> None:
    """The SSRF rules (app.webhooks.addresses): a refused URL is INVALID."""
    try:
        await check(url, policy or current_policy())
    except Refused as refused:
        raise _invalid(("url",), "INVALID", f"url refused: {refused}") from None


async def create_endpoint(
    caller: Caller,
    *,
    business_id: str,
    url: str,
    event_types: Sequence[str] | None,
    policy: Policy | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned here only, never again)."""
    require_write(caller)
    require_business(caller, business_id)
    url = _trimmed_url(url)
    kinds = _event_types(event_types)
    await _allowed(url, policy)
    secret = signing.new_secret()
    async with transaction() as conn:
        # The business row lock makes the count and the insert one step.
        keys = await keyring.for_write(conn, business_id, exclusive=True)
        live = await WebhookEndpoint.filter(business_id=business_id, deleted_at=None)
        if len(live) >= MAX_ENDPOINTS:
            raise _invalid(
                None, "INVALID", f"A business may have at most {MAX_ENDPOINTS} webhook endpoints"
            )
        endpoint = WebhookEndpoint(
            id=new_id("whep"),
            business_id=business_id,
            url=url,
            secret=secret,
            event_types=kinds,
            key_id=keys.write.id,
        )
        await endpoint.save(force_create=True, using_db=conn)
    return endpoint, secret


async def list_endpoints(caller: Caller, *, business_id: str) -> list[WebhookEndpoint]:
    """The business's endpoints (enabled or not), oldest first; not for masked keys
    (an endpoint's URL can name a person, and its list tells where data flows)."""
    require_clear(caller)
    require_business(caller, business_id)
    return (
        await WebhookEndpoint.filter(business_id=business_id, deleted_at=None)
        .order_by("created_at", "id")
        .limit(MAX_ENDPOINTS)
    )


async def delete_endpoint(caller: Caller, *, endpoint_id: str) -> str:
    """Delete an endpoint of the caller's business and drop its pending deliveries."""
    require_write(caller)
    if not well_formed(endpoint_id, "whep"):
        raise _not_found()
    async with transaction() as conn:
        gone = await (
            WebhookEndpoint.filter(id=endpoint_id, business_id=caller.business_id, deleted_at=None)
            .using_db(conn)
            .update(deleted_at=datetime.now(UTC))
        )
        if not gone:
            raise _not_found()
        await (
            WebhookDelivery.filter(endpoint_id=endpoint_id, status="pending")
            .using_db(conn)
            .delete()
        )
    return endpoint_id


async def _locked_endpoint(
    conn: TransactionalDBClient, caller: Caller, endpoint_id: str
) -> WebhookEndpoint:
    """The caller's live endpoint, locked for this transaction; NOT_FOUND otherwise
    (another business's endpoint is told apart from no endpoint by nothing)."""
    if not well_formed(endpoint_id, "whep"):
        raise _not_found()
    endpoint = await (
        WebhookEndpoint.filter(id=endpoint_id, business_id=caller.business_id, deleted_at=None)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if endpoint is None:
        raise _not_found()
    return endpoint


#: Wakes the webhook workers when the transaction commits (as events.record does).
_WAKE = "SELECT pg_notify($1, '')"


async def _wake_workers(conn: TransactionalDBClient) -> None:
    async with conn.acquire_connection() as db:
        await db.execute(_WAKE, events.CHANNEL)


async def update_endpoint(
    caller: Caller,
    *,
    endpoint_id: str,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    enabled: bool | None = None,
    policy: Policy | None = None,
) -> WebhookEndpoint:
    """Change an endpoint's url, event types or enabled flag; None leaves one as it is.

    Enabling an endpoint (one a 410 disabled) sends, from then on and in event
    order, the deliveries held while it was disabled; failed ones stay failed
    (retryDelivery queues one again).
    """
    require_write(caller)
    if url is not None:
        url = _trimmed_url(url)
    kinds = _event_types(event_types) if event_types is not None else None
    if url is not None:
        await _allowed(url, policy)  # before the row lock: it may wait for DNS
    async with transaction() as conn:
        endpoint = await _locked_endpoint(conn, caller, endpoint_id)
        changed = {
            name: value
            for name, value in (("url", url), ("event_types", kinds), ("enabled", enabled))
            if value is not None and getattr(endpoint, name) != value
        }
        for name, value in changed.items():
            setattr(endpoint, name, value)
        if changed:
            await endpoint.save(update_fields=list(changed), using_db=conn)
        if changed.get("enabled"):
            await _wake_workers(conn)
    return endpoint


async def rotate_secret(
    caller: Caller, *, endpoint_id: str, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret for the endpoint (returned here only, never again).

    The secret it replaces still signs for ROTATION_OVERLAP, beside the new one,
    so receivers can switch over without losing a delivery; rotating again
    within that time replaces the previous one (only two secrets ever sign).
    """
    require_write(caller)
    secret = signing.new_secret()
    async with transaction() as conn:
        keys = await keyring.for_write(conn, caller.business_id)
        endpoint = await _locked_endpoint(conn, caller, endpoint_id)
        endpoint.previous_secret = endpoint.secret  # opened here, sealed again for its column
        endpoint.previous_until = (now or datetime.now(UTC)) + ROTATION_OVERLAP
        endpoint.secret = secret
        endpoint.key_id = keys.write.id  # both secrets sealed again, under the writing key
        await endpoint.save(
            update_fields=["secret", "previous_secret", "previous_until", "key_id"],
            using_db=conn,
        )
    return endpoint, secret


# Deliveries ----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One delivery as the API shows it (never the answer's body or headers)."""

    seq: int  # the row's id: the cursor's key, never shown
    id: str  # the public id, whdl_...
    endpoint_id: str
    event_id: str | None  # None for a ping
    type: str  # customer.created ... customer.erased, webhook.ping
    status: str  # PENDING, DELIVERED, FAILED
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None  # None when the last attempt got no answer
    next_attempt_at: datetime | None  # None unless PENDING
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Delivery:
        pending = row["status"] == "pending"
        return cls(
            seq=row["seq"],
            id=row["uid"],
            endpoint_id=row["endpoint_id"],
            event_id=row["event_id"],
            type=payload.type_of(row["event_type"]),
            status=STATUSES[row["status"]],
            attempts=row["attempts"],
            last_attempt_at=row["last_attempt_at"],
            last_status_code=row["last_status"],
            next_attempt_at=row["next_attempt_at"] if pending else None,
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[Delivery]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return delivery_cursor(self.deliveries[-1]) if self.deliveries else None


_CURSOR_PREFIX = "d1:"
_ID_MAX = 2**63 - 1


def delivery_cursor(delivery: Delivery) -> str:
    raw = f"{_CURSOR_PREFIX}{delivery.seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _before(cursor: str | None) -> int:
    """The row id a cursor points at (the page goes on below it); past every id: None."""
    if cursor is None:
        return _ID_MAX
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise BadUserInput("Malformed cursor") from None
    seq = raw.removeprefix(_CURSOR_PREFIX)
    if seq == raw or not (seq.isascii() and seq.isdigit()) or len(seq) > 19 or int(seq) > _ID_MAX:
        raise BadUserInput("Malformed cursor")
    return int(seq)


# A delivery with what the API shows of its event; `w` is its (live) endpoint.
_VIEW = """
SELECT d.id AS seq, d.uid, d.endpoint_id, e.id AS event_id, e.type AS event_type, d.status,
       d.attempts, d.last_attempt_at, d.last_status, d.next_attempt_at, d.created_at
FROM webhook_delivery d
JOIN webhook_endpoint w ON w.id = d.endpoint_id AND w.deleted_at IS NULL
LEFT JOIN customer_event e ON e.seq = d.event_id
"""
# Newest first, on the index (endpoint_id, id DESC); $4 NULL: any status.
_PAGE = (
    _VIEW
    + """WHERE d.endpoint_id = $1 AND w.business_id = $2 AND d.id < $3
  AND ($4::text IS NULL OR d.status = $4)
ORDER BY d.id DESC
LIMIT $5
"""
)
_ONE = _VIEW + "WHERE d.id = $1"


async def delivery_page(
    caller: Caller, *, endpoint_id: str, first: int, after: str | None, status: str | None
) -> DeliveryPage:
    """One endpoint's deliveries, newest first, after a cursor; `status` (PENDING,
    DELIVERED, FAILED) or None for any.  Another business's endpoint, or none:
    an empty page, as if it had none."""
    require_clear(caller)
    if not 1 <= first <= LIST_MAX:
        raise BadUserInput(f"first must be between 1 and {LIST_MAX}")
    before = _before(after)
    column = {v: k for k, v in STATUSES.items()}.get(status) if status is not None else None
    if (status is not None and column is None) or not well_formed(endpoint_id, "whep"):
        return DeliveryPage(deliveries=[], has_next_page=False)
    rows = await reads.fetch(_PAGE, endpoint_id, caller.business_id, before, column, first + 1)
    found = [Delivery.from_row(row) for row in rows[:first]]
    return DeliveryPage(deliveries=found, has_next_page=len(rows) > first)


_PING = """
INSERT INTO webhook_delivery (endpoint_id, event_id, status, attempts, next_attempt_at)
VALUES ($1, NULL, 'pending', 0, now())
RETURNING id
"""


async def ping_endpoint(caller: Caller, *, endpoint_id: str) -> Delivery:
    """Queue a webhook.ping to the endpoint, due now: signed and retried like any
    delivery, but outside the endpoint's event order (it never waits behind a
    failing delivery).  It writes no change event.  A disabled endpoint holds it
    until it is enabled again."""
    require_write(caller)
    async with transaction() as conn:
        endpoint = await _locked_endpoint(conn, caller, endpoint_id)
        async with conn.acquire_connection() as db:
            seq = await db.fetchval(_PING, endpoint.id)
            await db.execute(_WAKE, events.CHANNEL)
            row = await db.fetchrow(_ONE, seq)
    return Delivery.from_row(row)


_LOCK_DELIVERY = """
SELECT d.id, d.status FROM webhook_delivery d
JOIN webhook_endpoint w ON w.id = d.endpoint_id AND w.deleted_at IS NULL
WHERE d.uid = $1 AND w.business_id = $2
FOR UPDATE OF d
"""
_RETRY = "UPDATE webhook_delivery SET status = 'pending', next_attempt_at = now() WHERE id = $1"


async def retry_delivery(caller: Caller, *, delivery_id: str) -> Delivery:
    """Make a FAILED delivery PENDING again, due now; its attempts go on counting (so
    it gets what is left of the retry schedule, or this one attempt if none is).
    Any other status is INVALID; another business's delivery is NOT_FOUND."""
    require_write(caller)
    if not well_formed(delivery_id, "whdl"):
        raise _not_found("webhook delivery")
    async with transaction() as conn, conn.acquire_connection() as db:
        found = await db.fetchrow(_LOCK_DELIVERY, delivery_id, caller.business_id)
        if found is None:
            raise _not_found("webhook delivery")
        if found["status"] != "failed":
            raise _invalid(("id",), "INVALID", "Only a failed delivery can be retried")
        await db.execute(_RETRY, found["id"])
        await db.execute(_WAKE, events.CHANNEL)
        row = await db.fetchrow(_ONE, found["id"])
    return Delivery.from_row(row)
