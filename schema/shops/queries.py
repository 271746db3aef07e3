"""Shop connector queries."""

from __future__ import annotations

import strawberry

from app.services import shops as service
from app.settings import Settings
from schema.context import Info
from schema.customers.types import Customer, as_customer
from schema.shops.types import ShopConnection


@strawberry.type
class ShopQueries:
    @strawberry.field(description="The business's shop connections, oldest first.")
    async def shop_connections(
        self, info: Info, business_id: strawberry.ID
    ) -> list[ShopConnection]:
        rows = await service.list_connections(info.context.caller, business_id=str(business_id))
        settings = Settings.from_env()
        return [ShopConnection.from_row(row, settings) for row in rows]

    @strawberry.field(
        description=(
            "The customer linked to a shop customer id on that connection (active or not, "
            "link removed or not); null when none."
        )
    )
    async def customer_by_external_id(
        self, info: Info, connection_id: strawberry.ID, external_id: str
    ) -> Customer | None:
        row = await service.customer_by_external_id(
            info.context.caller, connection_id=str(connection_id), external_id=external_id
        )
        return as_customer(row) if row is not None else None
