"""GraphQL types of change events."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.models import CustomerEvent as EventRow
from app.services.events import EventPage, cursor_of
from schema.customers.types import PageInfo


@strawberry.enum
class CustomerEventType(Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    ERASED = "ERASED"


@strawberry.type
class CustomerEvent:
    id: strawberry.ID = strawberry.field(
        description="Opaque id with an `evt_` prefix; also the `webhook-id` of its deliveries."
    )
    type: CustomerEventType
    customer_id: strawberry.ID
    changed_fields: list[str] = strawberry.field(
        description=(
            "Contract names of the fields whose value changed (UPDATED); [] otherwise. "
            "Never values."
        )
    )
    actor: str = strawberry.field(description="The API key's prefix, or `cli`.")
    occurred_at: datetime

    @classmethod
    def from_row(cls, row: EventRow) -> CustomerEvent:
        return cls(
            id=strawberry.ID(row.id),
            type=CustomerEventType(row.type),
            customer_id=strawberry.ID(row.customer_id),
            changed_fields=list(row.changed_fields),
            actor=row.actor,
            occurred_at=row.occurred_at,
        )


@strawberry.type
class CustomerEventEdge:
    cursor: str
    node: CustomerEvent


@strawberry.type
class CustomerEventConnection:
    page: strawberry.Private[EventPage]

    @strawberry.field
    def edges(self) -> list[CustomerEventEdge]:
        return [
            CustomerEventEdge(cursor=cursor_of(row), node=CustomerEvent.from_row(row))
            for row in self.page.events
        ]

    @strawberry.field
    def nodes(self) -> list[CustomerEvent]:
        return [CustomerEvent.from_row(row) for row in self.page.events]

    @strawberry.field
    def page_info(self) -> PageInfo:
        return PageInfo(has_next_page=self.page.has_next_page, end_cursor=self.page.end_cursor)
