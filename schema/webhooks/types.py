"""GraphQL types of webhook endpoints."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.models import WebhookEndpoint as EndpointRow
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
            "The signing secret, `whsec_` + base64; returned only by createWebhookEndpoint, once."
        ),
    )
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
