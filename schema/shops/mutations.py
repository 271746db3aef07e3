"""Shop connection mutations: bad input comes back as userErrors."""

from __future__ import annotations

import strawberry

from app.services import shops as service
from app.services.errors import InvalidInput
from schema.context import Info
from schema.errors import user_errors
from schema.shops.types import (
    DeleteShopConnectionPayload,
    ShopConnection,
    ShopConnectionPayload,
    ShopPlatform,
)


@strawberry.type
class ShopMutations:
    @strawberry.mutation(
        description=(
            "shopDomain: for SHOPIFY a `*.myshopify.com` domain, for WOOCOMMERCE a site "
            "address (INVALID otherwise); secret: 8 to 256 characters (BLANK, TOO_LONG). "
            "TAKEN for a second connection to the same shop. FORBIDDEN for read keys."
        )
    )
    async def create_shop_connection(
        self,
        info: Info,
        business_id: strawberry.ID,
        platform: ShopPlatform,
        shop_domain: str,
        secret: str,
    ) -> ShopConnectionPayload:
        try:
            row = await service.create_connection(
                info.context.caller,
                business_id=str(business_id),
                platform=platform.value,
                shop_domain=shop_domain,
                secret=secret,
            )
        except InvalidInput as exc:
            return ShopConnectionPayload(user_errors=user_errors(exc))
        return ShopConnectionPayload(connection=ShopConnection.from_row(row))

    @strawberry.mutation(description="NOT_FOUND for an id of another business.")
    async def delete_shop_connection(
        self, info: Info, id: strawberry.ID
    ) -> DeleteShopConnectionPayload:
        try:
            deleted = await service.delete_connection(info.context.caller, connection_id=str(id))
        except InvalidInput as exc:
            return DeleteShopConnectionPayload(user_errors=user_errors(exc))
        return DeleteShopConnectionPayload(deleted_connection_id=strawberry.ID(deleted))
