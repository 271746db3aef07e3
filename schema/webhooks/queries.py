"""Webhook endpoint queries."""

from __future__ import annotations

import strawberry

from app.services import webhooks as service
from schema.context import Info
from schema.webhooks.types import WebhookEndpoint


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The business's webhook endpoints, oldest first.")
    async def webhook_endpoints(
        self, info: Info, business_id: strawberry.ID
    ) -> list[WebhookEndpoint]:
        rows = await service.list_endpoints(info.context.caller, business_id=str(business_id))
        return [WebhookEndpoint.from_row(row) for row in rows]
