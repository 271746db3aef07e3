"""Customer queries: convert arguments, call one service function, wrap the result."""

from __future__ import annotations

import strawberry

from app.services import customers as service
from app.services import data_export, search
from schema.context import Info
from schema.customers.export import CustomerDataExport
from schema.customers.types import (
    Customer,
    CustomerConnection,
    CustomerSearchResult,
    as_customer,
    wrap,
)


@strawberry.type
class CustomerQueries:
    @strawberry.field(
        description=(
            "One customer of the caller's business, active or soft-deleted; "
            "null when there is none."
        )
    )
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        row = await service.read_customer(info.context.caller, str(id))
        return as_customer(row) if row is not None else None

    @strawberry.field(
        description=(
            "Everything held about one customer (its fields, change events and external "
            "ids), for the data subject's copy: null for a missing id or one of another "
            "business. FORBIDDEN with a read_masked key."
        )
    )
    async def export_customer_data(
        self, info: Info, id: strawberry.ID
    ) -> CustomerDataExport | None:
        export = await data_export.export_customer(info.context.caller, str(id))
        return CustomerDataExport.of(export) if export is not None else None

    @strawberry.field(
        description=(
            "Active customers sorted by name, case-insensitively (then id). "
            "limit: 1 to 100, else BAD_USER_INPUT."
        )
    )
    async def customers(
        self, info: Info, business_id: strawberry.ID, limit: int = 50
    ) -> list[Customer]:
        rows = await service.list_customers(
            info.context.caller, business_id=str(business_id), limit=limit
        )
        return wrap(rows)

    @strawberry.field(
        description=(
            "Every active customer, page by page, sorted by name, case-insensitively (then id). "
            "first: 1 to 100. A malformed cursor: BAD_USER_INPUT."
        )
    )
    async def customer_connection(
        self, info: Info, business_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> CustomerConnection:
        page = await service.customer_page(
            info.context.caller, business_id=str(business_id), first=first, after=after
        )
        return CustomerConnection(page=page)

    @strawberry.field(
        description=(
            "Case-insensitive substring match on name or email among active customers. "
            "q: 1 to 100 characters after trimming."
        )
    )
    async def search_customers(
        self, info: Info, business_id: strawberry.ID, q: str
    ) -> CustomerSearchResult:
        rows = await search.search_customers(info.context.caller, business_id=str(business_id), q=q)
        return CustomerSearchResult(customers=wrap(rows), count=len(rows))
