"""The floor: the least a server can do to answer the service's two read queries.

    .venv/bin/uvicorn bench.floor:create_app --factory --workers 1 --port 8001 \\
        --no-access-log --log-level warning

A bare Starlette app on a plain asyncpg pool: no GraphQL, no ORM, no auth, no
logs, no metrics.  It reads the same rows as ``customers(businessId, limit)`` and
``customer(id)``, opens the same four PII columns with the same keys through
``app.crypto``, and writes the same JSON shape as the GraphQL response with
orjson.  ``bench/list.py`` compares the service against it: the gap between the
two is what the service's layers cost, since the SQL, the decryption and the
serialisation library are the same on both sides.

Environment: ``DATABASE_URL``, ``FINORA_ENCRYPTION_KEYS``, ``FINORA_INDEX_KEY``.

    GET /customers?businessId=biz_..&limit=100  -> {"data": {"customers": [...]}}
    GET /customer?id=cust_..                    -> {"data": {"customer": {...} | null}}
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import crypto
from app.crypto.keys import KeySet
from app.db.orm import release_without_reset
from app.http.responses import format_instant
from app.settings import parse_database_url

#: The service's pool size per worker (app.db.orm.tortoise_config), so neither side
#: gets more database connections than the other.
POOL_MAX = 10
MAX_LIMIT = 100
ENCRYPTED = ("email", "phone", "address", "tin")
COLUMNS = (
    "id, business_id, name, email, phone, address, tin, company_name, "
    "account_balance_kobo, is_active, created_at, updated_at"
)
# The same rows and order as app.services.customers.list_customers; name_lower and
# id are COLLATE "C" columns, so the order is the service's whatever the locale.
# `is_active` is written as a literal so that even a generic plan can use the
# partial sort index (WHERE is_active).
LIST_SQL = (
    f"SELECT {COLUMNS} FROM customer WHERE business_id = $1 AND is_active "
    "ORDER BY name_lower, id LIMIT $2"
)
ONE_SQL = f"SELECT {COLUMNS} FROM customer WHERE id = $1"


def customer_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One customer in the GraphQL type's field names and scalar formats."""
    cipher = crypto.current().cipher
    row_id = row["id"]
    plain: dict[str, str | None] = {}
    for column in ENCRYPTED:
        sealed = row[column]
        plain[column] = None if sealed is None else cipher.open("customer", column, row_id, sealed)
    kobo = row["account_balance_kobo"]
    return {
        "id": row_id,
        "businessId": row["business_id"],
        "name": row["name"],
        "email": plain["email"],
        "phone": plain["phone"],
        "address": plain["address"],
        "tin": plain["tin"],
        "companyName": row["company_name"],
        "accountBalanceKobo": kobo,
        "accountBalance": kobo / 100,
        "isActive": row["is_active"],
        "createdAt": format_instant(row["created_at"]),
        "updatedAt": format_instant(row["updated_at"]),
    }


def json_body(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def bad_request(message: str) -> Response:
    return json_body({"errors": [{"message": message}]}, 400)


def pool_of(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


async def list_customers(request: Request) -> Response:
    business_id = request.query_params.get("businessId")
    limit_text = request.query_params.get("limit", "50")
    if not business_id:
        return bad_request("businessId is required")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        return bad_request(f"limit must be 1 to {MAX_LIMIT}")
    rows = await pool_of(request).fetch(LIST_SQL, business_id, int(limit_text))
    return json_body({"data": {"customers": [customer_json(row) for row in rows]}})


async def one_customer(request: Request) -> Response:
    customer_id = request.query_params.get("id")
    if not customer_id:
        return bad_request("id is required")
    row = await pool_of(request).fetchrow(ONE_SQL, customer_id)
    return json_body({"data": {"customer": None if row is None else customer_json(row)}})


async def healthz(request: Request) -> Response:
    return json_body({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Keys and pool per worker process, as the service's lifespan does."""
    crypto.install(
        KeySet.parse(os.environ["FINORA_ENCRYPTION_KEYS"], os.environ["FINORA_INDEX_KEY"])
    )
    app.state.pool = await asyncpg.create_pool(
        **parse_database_url(os.environ["DATABASE_URL"]),  # type: ignore[arg-type]
        min_size=1,
        max_size=POOL_MAX,
        timeout=5,
        command_timeout=30,
        server_settings={"application_name": "finora-floor"},
        reset=release_without_reset,  # the same pool settings as the service
    )
    try:
        yield
    finally:
        await app.state.pool.close()


def create_app() -> Starlette:
    """The ASGI app; a factory so that each Uvicorn worker builds its own."""
    return Starlette(
        routes=[
            Route("/customers", list_customers, methods=["GET"]),
            Route("/customer", one_customer, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
