"""A customer as the REST reference shows it (its example's fields, in its order), and
the data subject's copy, with every field under the GraphQL names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.http.responses import format_instant
from app.models import ExternalLink
from app.models.records import CustomerView
from app.services.data_export import CustomerExport


def naira(kobo: int) -> int | float:
    """kobo / 100, written as the reference writes it: 0, not 0.0."""
    return kobo // 100 if kobo % 100 == 0 else kobo / 100


def customer_json(row: CustomerView) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "phone": row.phone,
        "address": row.address,
        "tin": row.tin,
        "companyName": row.company_name,
        "accountBalanceKobo": row.account_balance_kobo,
        "accountBalance": naira(row.account_balance_kobo),
        "isActive": row.is_active,
        "createdAt": format_instant(row.created_at),
    }


def contract_json(row: CustomerView) -> dict[str, Any]:
    """Every field of the contract's Customer: the reference's and those it lacks
    (businessId, updatedAt, erasedAt); both exports write customers so."""
    erased_at = row.erased_at
    return {
        **customer_json(row),
        "businessId": row.business_id,
        "updatedAt": format_instant(row.updated_at),
        "erasedAt": format_instant(erased_at) if erased_at is not None else None,
    }


def external_ids_json(links: Sequence[ExternalLink]) -> list[dict[str, Any]]:
    return [
        {
            "platform": link.platform.upper(),  # as GraphQL names it: SHOPIFY
            "connectionId": link.connection_id,  # type: ignore[attr-defined]
            "id": link.external_id,
            "linkedAt": format_instant(link.linked_at),
            "removedAt": format_instant(link.removed_at) if link.removed_at else None,
        }
        for link in links
    ]


def export_json(export: CustomerExport) -> dict[str, Any]:
    """exportCustomerData's answer as JSON: the customer, its events, its external ids."""
    return {
        "format": export.format,
        "exportedAt": format_instant(export.exported_at),
        "customer": contract_json(export.customer),
        "events": [
            {
                "id": event.id,
                "type": event.type,
                "customerId": event.customer_id,
                "changedFields": list(event.changed_fields),
                "actor": event.actor,
                "occurredAt": format_instant(event.occurred_at),
            }
            for event in export.events
        ],
        "externalIds": external_ids_json(export.external_ids),
    }
