"""A customer as the REST reference shows it (its example's fields, in its order)."""

from __future__ import annotations

from typing import Any

from app.http.responses import format_instant
from app.models.records import CustomerView


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
