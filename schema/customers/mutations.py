"""Customer mutations: bad input comes back as userErrors, never as an exception."""

from __future__ import annotations

import strawberry

from app.services import bulk
from app.services import customers as service
from app.services.errors import InvalidInput
from schema.context import Info
from schema.customers.types import (
    BulkFindOrCreatePayload,
    BulkFindOrCreateResult,
    CreateCustomerInput,
    CustomerPayload,
    DeleteCustomerPayload,
    EraseCustomerPayload,
    FindOrCreateCustomerInput,
    FindOrCreateCustomerPayload,
    UpdateCustomerInput,
    as_customer,
    given_fields,
)
from schema.errors import UserErrorType, user_errors


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(
        description="Fails with TAKEN if an active customer of the business has the same email."
    )
    async def create_customer(
        self, info: Info, business_id: strawberry.ID, input: CreateCustomerInput
    ) -> CustomerPayload:
        try:
            row = await service.create_customer(
                info.context.caller, business_id=str(business_id), values=given_fields(input)
            )
        except InvalidInput as exc:
            return CustomerPayload(user_errors=user_errors(exc))
        return CustomerPayload(customer=as_customer(row))

    @strawberry.mutation(
        description=(
            "Idempotent lookup by email among active customers; creates one if none. "
            "Safe under concurrent calls: never two active customers with one email."
        )
    )
    async def find_or_create_customer(
        self, info: Info, business_id: strawberry.ID, input: FindOrCreateCustomerInput
    ) -> FindOrCreateCustomerPayload:
        fields = given_fields(input)
        try:
            row, created = await service.find_or_create_customer(
                info.context.caller,
                business_id=str(business_id),
                email=input.email,
                name=fields.get("name"),
                phone=fields.get("phone"),
            )
        except InvalidInput as exc:
            return FindOrCreateCustomerPayload(user_errors=user_errors(exc))
        return FindOrCreateCustomerPayload(customer=as_customer(row), created=created)

    @strawberry.mutation(
        description=(
            "findOrCreateCustomer for 1 to 500 inputs in one call (else BAD_USER_INPUT). Rows are "
            "independent: a bad row gets userErrors and the others still run. Two rows with one "
            "email resolve to one customer: the first creates it (if none exists), later rows "
            "find it. Same race safety as findOrCreateCustomer, across calls and workers."
        )
    )
    async def find_or_create_customers(
        self, info: Info, business_id: strawberry.ID, inputs: list[FindOrCreateCustomerInput]
    ) -> BulkFindOrCreatePayload:
        outcome = await bulk.find_or_create_customers(
            info.context.caller,
            business_id=str(business_id),
            inputs=[given_fields(row) for row in inputs],
        )
        return BulkFindOrCreatePayload(
            results=[
                BulkFindOrCreateResult(
                    index=row.index,
                    customer=as_customer(row.customer) if row.customer is not None else None,
                    created=row.created,
                    user_errors=[UserErrorType.from_service(e) for e in row.errors],
                )
                for row in outcome.results
            ],
            created_count=outcome.created_count,
            found_count=outcome.found_count,
            failed_count=outcome.failed_count,
        )

    @strawberry.mutation(description="Works on soft-deleted customers too; they stay inactive.")
    async def update_customer(
        self, info: Info, id: strawberry.ID, input: UpdateCustomerInput
    ) -> CustomerPayload:
        try:
            row = await service.update_customer(
                info.context.caller, customer_id=str(id), changes=given_fields(input)
            )
        except InvalidInput as exc:
            return CustomerPayload(user_errors=user_errors(exc))
        return CustomerPayload(customer=as_customer(row))

    @strawberry.mutation(
        description=(
            "Soft delete: the customer becomes inactive, leaves customers and searchCustomers, "
            "and stays readable by id. Deleting twice is not an error."
        )
    )
    async def delete_customer(self, info: Info, id: strawberry.ID) -> DeleteCustomerPayload:
        try:
            row = await service.delete_customer(info.context.caller, customer_id=str(id))
        except InvalidInput as exc:
            return DeleteCustomerPayload(user_errors=user_errors(exc))
        return DeleteCustomerPayload(
            deleted_customer_id=strawberry.ID(row.id), customer=as_customer(row)
        )

    @strawberry.mutation(
        description=(
            "Irreversible. NOT_FOUND for a missing id or one of another business. "
            "Erasing twice is not an error."
        )
    )
    async def erase_customer(self, info: Info, id: strawberry.ID) -> EraseCustomerPayload:
        try:
            row = await service.erase_customer(info.context.caller, customer_id=str(id))
        except InvalidInput as exc:
            return EraseCustomerPayload(user_errors=user_errors(exc))
        return EraseCustomerPayload(
            erased_customer_id=strawberry.ID(row.id), customer=as_customer(row)
        )
