"""The body of a delivery: the event's ids, type, field names and actor, never PII.

A ping (webhook.ping) has no event: its body names the endpoint only, and its
timestamp is when the ping was queued, so every attempt sends the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from app.http.responses import format_instant

TYPES = {
    "CREATED": "customer.created",
    "UPDATED": "customer.updated",
    "DELETED": "customer.deleted",
    "ERASED": "customer.erased",
}
#: The type of a delivery no event caused (pingWebhookEndpoint).
PING = "webhook.ping"


def type_of(event_type: str | None) -> str:
    """The delivery's `type`: its event's (CREATED ... ERASED), or a ping's (None)."""
    return PING if event_type is None else TYPES[event_type]


def body(event: Mapping[str, Any]) -> bytes:
    """JSON of an event row (id, business_id, customer_id, type, changed_fields, actor,
    occurred_at); the same bytes on every attempt."""
    occurred_at: datetime = event["occurred_at"]
    changed: Sequence[str] = event["changed_fields"]
    return orjson.dumps(
        {
            "type": TYPES[event["type"]],
            "timestamp": format_instant(occurred_at),
            "data": {
                "eventId": event["id"],
                "businessId": event["business_id"],
                "customerId": event["customer_id"],
                "changedFields": list(changed),
                "actor": event["actor"],
            },
        }
    )


def ping_body(ping: Mapping[str, Any]) -> bytes:
    """JSON of a ping delivery row (endpoint_id, created_at)."""
    created_at: datetime = ping["created_at"]
    return orjson.dumps(
        {
            "type": PING,
            "timestamp": format_instant(created_at),
            "data": {"endpointId": ping["endpoint_id"]},
        }
    )
