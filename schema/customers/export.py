"""GraphQL type of the data subject's copy (app.services.data_export)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.services.data_export import CustomerExport
from schema.customers.types import Customer, as_customer
from schema.events.types import CustomerEvent
from schema.shops.types import ExternalId


@strawberry.type
class CustomerDataExport:
    format: str = strawberry.field(description="Always finora.customer-export.v1.")
    exported_at: datetime
    customer: Customer
    events: list[CustomerEvent] = strawberry.field(
        description="Every change event of the customer, oldest first."
    )
    external_ids: list[ExternalId]

    @classmethod
    def of(cls, export: CustomerExport) -> CustomerDataExport:
        return cls(
            format=export.format,
            exported_at=export.exported_at,
            customer=as_customer(export.customer),
            events=[CustomerEvent.from_row(row) for row in export.events],
            external_ids=[ExternalId.from_row(row) for row in export.external_ids],
        )
