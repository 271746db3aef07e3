"""Change event queries."""

from __future__ import annotations

import strawberry

from app.services import events as service
from schema.context import Info
from schema.events.types import CustomerEventConnection


@strawberry.type
class EventQueries:
    @strawberry.field(
        description=(
            "Change events of the business, oldest first, optionally of one customer. "
            "first: 1 to 100."
        )
    )
    async def customer_events(
        self,
        info: Info,
        business_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        customer_id: strawberry.ID | None = None,
    ) -> CustomerEventConnection:
        page = await service.event_page(
            info.context.caller,
            business_id=str(business_id),
            first=first,
            after=after,
            customer_id=str(customer_id) if customer_id is not None else None,
        )
        return CustomerEventConnection(page=page)
