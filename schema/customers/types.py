"""GraphQL types of the customer domain.

A ``Customer`` is resolved straight from the row a service returns (a
read-only record or a model): each field is one of its attributes, read only
when selected, so a query that does not select ``email`` never decrypts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.types.base import StrawberryOptional

from app.models.records import CustomerView
from app.services.customers import Page, cursor_of
from schema.context import Info
from schema.errors import UserErrorType
from schema.scalars import BigInt
from schema.shops.types import ExternalId, external_ids_of


@strawberry.type
class Customer:
    """Resolved straight from a customer row (a record or a model): each field is
    an attribute of the row, read when selected, so PII is decrypted only then."""

    id: strawberry.ID = strawberry.field(description="Opaque id with a `cust_` prefix.")
    business_id: strawberry.ID
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    email: str = strawberry.field(description="Lowercased on write.")
    phone: str | None = strawberry.field(
        description=(
            "E.164, e.g. +2348012345678 (numbers without a country code are read as Nigerian)."
        )
    )
    address: str | None
    tin: str | None = strawberry.field(
        description="Nigerian Tax Identification Number, e.g. 12345678-0001."
    )
    company_name: str | None
    account_balance_kobo: BigInt = strawberry.field(description="Balance in kobo (1/100 naira).")
    is_active: bool = strawberry.field(description="False once soft-deleted.")
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None = strawberry.field(
        description="When eraseCustomer erased this customer; null otherwise."
    )

    @strawberry.field(description="Balance in naira: accountBalanceKobo / 100.")
    def account_balance(self) -> float:
        return self.account_balance_kobo / 100

    @strawberry.field(description="Links to shop customer records, oldest first.")
    async def external_ids(self, info: Info) -> list[ExternalId]:
        return await external_ids_of(info, str(self.id))


def as_customer(row: CustomerView) -> Customer:
    """A row is served as a Customer: the type reads its attributes."""
    return cast(Customer, row)


def wrap(rows: Sequence[CustomerView]) -> list[Customer]:
    return cast(list[Customer], list(rows))


@strawberry.type
class CustomerSearchResult:
    customers: list[Customer] = strawberry.field(
        description="Up to 50 matches, sorted by name, case-insensitively (then id)."
    )
    count: int = strawberry.field(description="How many customers are in `customers`.")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on an empty page."
    )


@strawberry.type
class CustomerEdge:
    cursor: str
    node: Customer


@strawberry.type
class CustomerConnection:
    page: strawberry.Private[Page]

    @strawberry.field
    def edges(self) -> list[CustomerEdge]:
        return [
            CustomerEdge(cursor=cursor_of(row), node=as_customer(row))
            for row in self.page.customers
        ]

    @strawberry.field
    def nodes(self) -> list[Customer]:
        return wrap(self.page.customers)

    @strawberry.field
    def page_info(self) -> PageInfo:
        return PageInfo(has_next_page=self.page.has_next_page, end_cursor=self.page.end_cursor)

    @strawberry.field(description="Active customers of the business in all pages.")
    async def total_count(self) -> int:
        return await self.page.total_count()


@strawberry.input
class CreateCustomerInput:
    name: str
    email: str
    phone: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    company_name: str | None = strawberry.UNSET
    tin: str | None = strawberry.UNSET


@strawberry.input(
    description=(
        "Absent fields are left as they are; an explicit null clears an optional field "
        "(name and email cannot be cleared)."
    )
)
class UpdateCustomerInput:
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    company_name: str | None = strawberry.UNSET
    tin: str | None = strawberry.UNSET


@strawberry.input
class FindOrCreateCustomerInput:
    email: str = strawberry.field(description="The match key, compared lowercased.")
    name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Used only when creating; defaults to the email's local part.",
    )
    phone: str | None = strawberry.field(
        default=strawberry.UNSET, description="Used only when creating."
    )


def _strings_as_given(cls: type, value: Mapping[str, Any], context: object) -> Any:
    """Builds FindOrCreateCustomerInput straight from its GraphQL value.

    Every field is a String with the same name in GraphQL and Python, so there is
    nothing to convert; Strawberry's general conversion cost about a tenth of a
    500-row findOrCreateCustomers call.  Omitted fields stay UNSET.
    """
    return cls(**value)


def _install_direct_input(cls: type) -> None:
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    for input_field in definition.fields:  # the shortcut holds only for this shape
        kind = input_field.type
        optional_str = isinstance(kind, StrawberryOptional) and kind.of_type is str
        assert input_field.graphql_name is None and "_" not in input_field.python_name
        assert kind is str or optional_str, input_field.python_name
    definition.from_input = _strings_as_given


_install_direct_input(FindOrCreateCustomerInput)


def given_fields(data: object) -> dict[str, str | None]:
    """The fields a client sent (explicit nulls included), by service name."""
    return {key: value for key, value in vars(data).items() if value is not strawberry.UNSET}


@strawberry.type
class CustomerPayload:
    customer: Customer | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class FindOrCreateCustomerPayload:
    customer: Customer | None = None
    created: bool = strawberry.field(
        default=False,
        description=(
            "True when this call created the customer; false when an active customer with "
            "that email already existed."
        ),
    )
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type(
    description="One item of a bulk find-or-create, at the same position as its input."
)
class BulkFindOrCreateResult:
    index: int = strawberry.field(description="Position of the input in `inputs`, from 0.")
    customer: Customer | None = strawberry.field(
        description="The customer found or created; null when the row has userErrors."
    )
    created: bool = strawberry.field(description="True when this row created the customer.")
    user_errors: list[UserErrorType] = strawberry.field(
        description=(
            'This row\'s problems; `field` paths start with the row, e.g. ["inputs", "3", "email"].'
        )
    )


@strawberry.type
class BulkFindOrCreatePayload:
    results: list[BulkFindOrCreateResult] = strawberry.field(
        description="One result per input, in input order."
    )
    created_count: int
    found_count: int
    failed_count: int


@strawberry.type
class DeleteCustomerPayload:
    deleted_customer_id: strawberry.ID | None = None
    customer: Customer | None = strawberry.field(
        default=None, description="The customer as it is now, with isActive false."
    )
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class EraseCustomerPayload:
    erased_customer_id: strawberry.ID | None = None
    customer: Customer | None = strawberry.field(
        default=None, description="The customer as it is now: inactive, erased."
    )
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
