"""Webhook endpoint and delivery queries."""

from __future__ import annotations

import strawberry

from app.services import webhooks as service
from schema.context import Info
from schema.webhooks.types import (
    WebhookDeliveryConnection,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The business's webhook endpoints, oldest first.")
    async def webhook_endpoints(
        self, info: Info, business_id: strawberry.ID
    ) -> list[WebhookEndpoint]:
        rows = await service.list_endpoints(info.context.caller, business_id=str(business_id))
        return [WebhookEndpoint.from_row(row) for row in rows]

    @strawberry.field(
        description=(
            "One endpoint's deliveries, newest first; status null: any. first: 1 to 100. "
            "For an endpoint of another business, or none: an empty connection."
        )
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: strawberry.ID,
        first: int = 20,
        after: str | None = None,
        status: WebhookDeliveryStatus | None = None,
    ) -> WebhookDeliveryConnection:
        page = await service.delivery_page(
            info.context.caller,
            endpoint_id=str(endpoint_id),
            first=first,
            after=after,
            status=status.value if status is not None else None,
        )
        return WebhookDeliveryConnection(page=page)
