"""Webhook endpoint and delivery mutations: bad input comes back as userErrors.

A key that may not write gets FORBIDDEN as a top-level error (the services
raise it before reading anything), as for every mutation.
"""

from __future__ import annotations

import strawberry

from app.services import webhooks as service
from app.services.errors import InvalidInput
from schema.context import Info
from schema.errors import user_errors
from schema.events.types import CustomerEventType
from schema.webhooks.types import (
    DeleteWebhookEndpointPayload,
    WebhookDelivery,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description=(
            "url: at most 2,000 characters, https in production (INVALID otherwise). "
            "eventTypes: null means all."
        )
    )
    async def create_webhook_endpoint(
        self,
        info: Info,
        business_id: strawberry.ID,
        url: str,
        event_types: list[CustomerEventType] | None = None,
    ) -> WebhookEndpointPayload:
        kinds = [kind.value for kind in event_types] if event_types is not None else None
        try:
            row, secret = await service.create_endpoint(
                info.context.caller, business_id=str(business_id), url=url, event_types=kinds
            )
        except InvalidInput as exc:
            return WebhookEndpointPayload(user_errors=user_errors(exc))
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row), secret=secret)

    @strawberry.mutation(
        description="NOT_FOUND for an id of another business. Pending deliveries to it are dropped."
    )
    async def delete_webhook_endpoint(
        self, info: Info, id: strawberry.ID
    ) -> DeleteWebhookEndpointPayload:
        try:
            deleted = await service.delete_endpoint(info.context.caller, endpoint_id=str(id))
        except InvalidInput as exc:
            return DeleteWebhookEndpointPayload(user_errors=user_errors(exc))
        return DeleteWebhookEndpointPayload(deleted_endpoint_id=strawberry.ID(deleted))

    @strawberry.mutation(
        description="NOT_FOUND for an id of another business; url rules as createWebhookEndpoint."
    )
    async def update_webhook_endpoint(
        self,
        info: Info,
        id: strawberry.ID,
        url: str | None = None,
        event_types: list[CustomerEventType] | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpointPayload:
        kinds = [kind.value for kind in event_types] if event_types is not None else None
        try:
            row = await service.update_endpoint(
                info.context.caller,
                endpoint_id=str(id),
                url=url,
                event_types=kinds,
                enabled=enabled,
            )
        except InvalidInput as exc:
            return WebhookEndpointPayload(user_errors=user_errors(exc))
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row))

    @strawberry.mutation(description="The new secret is in the payload's `secret`, once.")
    async def rotate_webhook_endpoint_secret(
        self, info: Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        try:
            row, secret = await service.rotate_secret(info.context.caller, endpoint_id=str(id))
        except InvalidInput as exc:
            return WebhookEndpointPayload(user_errors=user_errors(exc))
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row), secret=secret)

    @strawberry.mutation
    async def ping_webhook_endpoint(self, info: Info, id: strawberry.ID) -> WebhookDeliveryPayload:
        try:
            delivery = await service.ping_endpoint(info.context.caller, endpoint_id=str(id))
        except InvalidInput as exc:
            return WebhookDeliveryPayload(user_errors=user_errors(exc))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_service(delivery))

    @strawberry.mutation
    async def retry_webhook_delivery(self, info: Info, id: strawberry.ID) -> WebhookDeliveryPayload:
        try:
            delivery = await service.retry_delivery(info.context.caller, delivery_id=str(id))
        except InvalidInput as exc:
            return WebhookDeliveryPayload(user_errors=user_errors(exc))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_service(delivery))
