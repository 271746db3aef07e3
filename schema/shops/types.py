"""GraphQL types of shop connectors: connections, their problems, customers' links."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.models import ExternalLink, ShopProblem
from app.models import ShopConnection as ConnectionRow
from app.services import shops as service
from app.settings import Settings
from schema.context import Info
from schema.errors import UserErrorType


@strawberry.enum
class ShopPlatform(Enum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"


@strawberry.enum
class ShopSyncProblemCode(Enum):
    INVALID = strawberry.enum_value(
        "INVALID", description="A value failed validation and was left out (see field)."
    )
    BLANK = strawberry.enum_value(
        "BLANK", description="No usable email: the shop customer was not created."
    )
    TAKEN = strawberry.enum_value(
        "TAKEN",
        description="The shop's email belongs to another active customer: the email was left out.",
    )
    TOO_LONG = strawberry.enum_value(
        "TOO_LONG", description="The value is longer than allowed and was left out."
    )


@strawberry.type
class ShopSyncProblem:
    occurred_at: datetime
    topic: str = strawberry.field(
        description="The shop's topic, e.g. customers/update or customer.updated."
    )
    external_id: str | None = strawberry.field(
        description="The shop's customer id, when the delivery had one."
    )
    field: str | None = strawberry.field(
        description=(
            "Contract name of the field, e.g. phone; null when the whole customer was refused."
        )
    )
    code: ShopSyncProblemCode

    @classmethod
    def from_row(cls, row: ShopProblem) -> ShopSyncProblem:
        return cls(
            occurred_at=row.occurred_at,
            topic=row.topic,
            external_id=row.external_id,
            field=row.field,
            code=ShopSyncProblemCode(row.code),
        )


@strawberry.type
class ShopConnection:
    id: strawberry.ID = strawberry.field(description="Opaque id with a `shop_` prefix.")
    platform: ShopPlatform
    shop_domain: str = strawberry.field(
        description="Normalised: lowercased, no scheme, no trailing slash."
    )
    webhook_url: str = strawberry.field(description="Where the shop must send its webhooks.")
    created_at: datetime
    last_delivery_at: datetime | None = strawberry.field(
        description="When the last verified delivery arrived; null before the first."
    )

    @strawberry.field(description="Recent problems, newest first. first: 1 to 100.")
    async def problems(self, first: int = 20) -> list[ShopSyncProblem]:
        rows = await service.problems(str(self.id), first)
        return [ShopSyncProblem.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: ConnectionRow, settings: Settings | None = None) -> ShopConnection:
        """`settings` once for a list (they are read from the environment)."""
        return cls(
            id=strawberry.ID(row.id),
            platform=ShopPlatform(row.platform),
            shop_domain=row.shop_domain,
            webhook_url=service.webhook_url(row.id, settings),
            created_at=row.created_at,
            last_delivery_at=row.last_delivery_at,
        )


@strawberry.type(description="A link from a directory customer to a shop's customer record.")
class ExternalId:
    platform: ShopPlatform
    connection_id: strawberry.ID
    id: str = strawberry.field(
        description="The shop's customer id, as a string (Shopify ids exceed 2^53)."
    )
    linked_at: datetime
    removed_at: datetime | None = strawberry.field(
        description="Set when the shop deleted its customer (the link is kept for history)."
    )

    @classmethod
    def from_row(cls, row: ExternalLink) -> ExternalId:
        return cls(
            platform=ShopPlatform(row.platform),
            connection_id=strawberry.ID(row.connection_id),  # type: ignore[attr-defined]
            id=row.external_id,
            linked_at=row.linked_at,
            removed_at=row.removed_at,
        )


async def external_ids_of(info: Info, customer_id: str) -> list[ExternalId]:
    """A customer's links, read for every customer of the response at once."""
    links = await info.context.loader("external_ids", service.links_of).load(customer_id)
    return [ExternalId.from_row(link) for link in links]


@strawberry.type
class ShopConnectionPayload:
    connection: ShopConnection | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteShopConnectionPayload:
    deleted_connection_id: strawberry.ID | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
