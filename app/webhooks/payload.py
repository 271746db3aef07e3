"""The body of a delivery: the event's ids, type, field names and actor, never PII."""

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
