"""The data subject's copy: everything the service holds about one customer, at once.

The Nigeria Data Protection Act 2023 gives a customer the right of access and
to data portability, so a business must be able to hand over what it holds,
machine-readable, without assembling it by hand: the customer with every field,
its change events (every one still kept, oldest first; `events_keep_days`
prunes older ones, and nothing else holds more), and its links to shop records.
That is every table that names a customer; tests/test_data_export.py checks it
against the catalog, so a new table is not forgotten here.

An export is the clear data by definition, so a ``read_masked`` key is refused
(FORBIDDEN) rather than given a masked copy that would pass for the whole; a
``read`` key may export.  Each export is logged (the key's prefix, the
customer's id, when), never a value: a business can tell whose data left, and
by which key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from app import meter
from app.models import CustomerEvent, ExternalLink
from app.models.records import CustomerRecord
from app.services import customers, shops
from app.services.access import Caller, require_clear

log = logging.getLogger("finora.export")

FORMAT = "finora.customer-export.v1"


@dataclass(frozen=True)
class CustomerExport:
    exported_at: datetime
    customer: CustomerRecord
    #: Oldest first.
    events: list[CustomerEvent]
    #: Oldest first, removed ones too (the link is kept for history).
    external_ids: list[ExternalLink]
    format: str = FORMAT


async def export_customer(caller: Caller, customer_id: str) -> CustomerExport | None:
    """The customer's copy; None for a missing id or one of another business."""
    require_clear(caller)
    customer = await customers.read_customer(caller, customer_id)
    if customer is None:
        return None
    events = await CustomerEvent.filter(
        business_id=caller.business_id, customer_id=customer.id
    ).order_by("seq")
    links = (await shops.links_of([customer.id]))[customer.id]
    meter.rows_read(len(events) + len(links))  # charged to the key like any read
    exported_at = datetime.now(UTC)
    log.info(
        "customer data exported",
        extra={
            "fields": {
                "key_prefix": caller.key_prefix,
                "business_id": caller.business_id,
                "customer_id": customer.id,
                "events": len(events),
                "external_ids": len(links),
            }
        },
    )
    return CustomerExport(exported_at, customer, events, links)
