"""GraphQL types of webhook endpoints and their deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.models import WebhookEndpoint as EndpointRow
from app.services.webhooks import Delivery, DeliveryPage, delivery_cursor
from schema.customers.types import PageInfo
from schema.errors import UserErrorType
from schema.events.types import CustomerEventType


@strawberry.type
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="Opaque id with a `whep_` prefix.")
    url: str
    event_types: list[CustomerEventType] = strawberry.field(
        description="The event types sent to it; all of them when created without a list."
    )
    enabled: bool = strawberry.field(
        description="False once disabled (HTTP 410 from the endpoint)."
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(row.id),
            url=row.url,
            event_types=[CustomerEventType(kind) for kind in row.event_types],
            enabled=row.enabled,
            created_at=row.created_at,
        )


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None,
        description=(
            "The signing secret, `whsec_` + base64; returned only by createWebhookEndpoint "
            "and rotateWebhookEndpointSecret, once."
        ),
    )
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.enum
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING",
        description=(
            "Not delivered yet: waiting for its next attempt "
            "(or for an earlier delivery of its endpoint)."
        ),
    )
    DELIVERED = "DELIVERED"
    FAILED = strawberry.enum_value(
        "FAILED", description="Every attempt failed; retryWebhookDelivery can queue it again."
    )


@strawberry.type
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Opaque id with a `whdl_` prefix.")
    endpoint_id: strawberry.ID
    event_id: strawberry.ID | None = strawberry.field(
        description="The change event delivered; null for a ping."
    )
    type: str = strawberry.field(
        description="customer.created ... customer.erased, or webhook.ping."
    )
    status: WebhookDeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None = strawberry.field(
        description="HTTP status of the last attempt; null when it got no answer."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due; null unless PENDING."
    )
    created_at: datetime

    @classmethod
    def from_service(cls, delivery: Delivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(delivery.id),
            endpoint_id=strawberry.ID(delivery.endpoint_id),
            event_id=strawberry.ID(delivery.event_id) if delivery.event_id else None,
            type=delivery.type,
            status=WebhookDeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            last_attempt_at=delivery.last_attempt_at,
            last_status_code=delivery.last_status_code,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
        )


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type
class WebhookDeliveryConnection:
    page: strawberry.Private[DeliveryPage]

    @strawberry.field
    def edges(self) -> list[WebhookDeliveryEdge]:
        return [
            WebhookDeliveryEdge(cursor=delivery_cursor(d), node=WebhookDelivery.from_service(d))
            for d in self.page.deliveries
        ]

    @strawberry.field
    def nodes(self) -> list[WebhookDelivery]:
        return [WebhookDelivery.from_service(d) for d in self.page.deliveries]

    @strawberry.field
    def page_info(self) -> PageInfo:
        return PageInfo(has_next_page=self.page.has_next_page, end_cursor=self.page.end_cursor)


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
