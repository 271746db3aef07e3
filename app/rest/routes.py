"""The REST API of the reference (``/v1/customers...``), on the same services as GraphQL.

Each handler converts the request, calls one service function and shapes the
answer as the reference does: ``{"success": true, "data": ...}``.  No rule lives
here; errors come from the services and are mapped in app.rest.errors.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.http.auth import caller_of
from app.http.responses import json_response
from app.rest.errors import BadRequest, Handler, handle_errors
from app.rest.serialize import customer_json, export_json
from app.services import bulk, data_export, search
from app.services import customers as service
from app.services.access import require_write
from app.services.errors import InvalidInput, UserError

#: Body field of the API -> service field; anything else in a body is ignored.
BODY_FIELDS = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "address": "address",
    "companyName": "company_name",
    "tin": "tin",
}


def writes(handler: Handler) -> Handler:
    """A change: a read-only key is refused (403) before the body is even read."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        require_write(caller_of(request))
        return await handler(request)

    return guarded


def ok(data: object, status: int = 200) -> Response:
    return json_response({"success": True, "data": data}, status)


def business_id(request: Request) -> str:
    value = request.query_params.get("businessId", "").strip()
    if not value:
        raise BadRequest("businessId is required", "businessId")
    return value


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", name) from None


async def json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest("The body must be JSON (Content-Type: application/json)", None, status=415)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("The body is not valid JSON", None) from None
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object", None)
    return body


def known_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {BODY_FIELDS[key]: value for key, value in body.items() if key in BODY_FIELDS}


@handle_errors
async def list_customers(request: Request) -> Response:
    rows = await service.list_customers(
        caller_of(request), business_id=business_id(request), limit=int_param(request, "limit", 50)
    )
    return ok([customer_json(row) for row in rows])


@handle_errors
async def search_customers(request: Request) -> Response:
    rows = await search.search_customers(
        caller_of(request), business_id=business_id(request), q=request.query_params.get("q", "")
    )
    return ok({"customers": [customer_json(row) for row in rows], "count": len(rows)})


@handle_errors
async def get_customer(request: Request) -> Response:
    row = await service.read_customer(caller_of(request), request.path_params["id"])
    if row is None:
        raise InvalidInput([UserError(("id",), "NOT_FOUND", "No such customer")])
    return ok(customer_json(row))


@handle_errors
@writes
async def create_customer(request: Request) -> Response:
    caller, owner = caller_of(request), business_id(request)
    body = await json_body(request)
    row = await service.create_customer(caller, business_id=owner, values=known_fields(body))
    return ok(customer_json(row), status=201)


@handle_errors
@writes
async def find_or_create_customer(request: Request) -> Response:
    caller, owner = caller_of(request), business_id(request)
    body = known_fields(await json_body(request))
    row, created = await service.find_or_create_customer(
        caller,
        business_id=owner,
        email=body.get("email"),
        name=body.get("name"),
        phone=body.get("phone"),
    )
    data = {"id": row.id, "name": row.name, "email": row.email, "created": created}
    return ok(data, status=201 if created else 200)


def _row_json(row: bulk.RowResult) -> dict[str, Any]:
    return {
        "index": row.index,
        "customer": customer_json(row.customer) if row.customer is not None else None,
        "created": row.created,
        "errors": [
            {"code": e.code, "message": e.message, "field": bulk.field_of(e)} for e in row.errors
        ],
    }


@handle_errors
@writes
async def find_or_create_customers(request: Request) -> Response:
    caller, owner = caller_of(request), business_id(request)
    rows = (await json_body(request)).get("customers")
    if not isinstance(rows, list) or not 1 <= len(rows) <= bulk.BULK_MAX:
        raise BadRequest(f"customers must be a list of 1 to {bulk.BULK_MAX} objects", "customers")
    inputs = [known_fields(row) if isinstance(row, dict) else row for row in rows]
    outcome = await bulk.find_or_create_customers(caller, business_id=owner, inputs=inputs)
    return ok(
        {
            "results": [_row_json(row) for row in outcome.results],
            "createdCount": outcome.created_count,
            "foundCount": outcome.found_count,
            "failedCount": outcome.failed_count,
        }
    )


@handle_errors
@writes
async def update_customer(request: Request) -> Response:
    body = await json_body(request)
    row = await service.update_customer(
        caller_of(request), customer_id=request.path_params["id"], changes=known_fields(body)
    )
    return ok(customer_json(row))


@handle_errors
@writes
async def delete_customer(request: Request) -> Response:
    row = await service.delete_customer(caller_of(request), customer_id=request.path_params["id"])
    return ok(customer_json(row))


@handle_errors
@writes
async def erase_customer(request: Request) -> Response:
    row = await service.erase_customer(caller_of(request), customer_id=request.path_params["id"])
    return ok(customer_json(row))


@handle_errors
async def export_customer(request: Request) -> Response:
    """The data subject's copy, as a file to save (exportCustomerData)."""
    customer_id = request.path_params["id"]
    export = await data_export.export_customer(caller_of(request), customer_id)
    if export is None:
        raise InvalidInput([UserError(("id",), "NOT_FOUND", "No such customer")])
    response = ok(export_json(export))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export.customer.id}.export.json"'
    )
    return response


routes = [
    Route("/customers", list_customers, methods=["GET"], name="list_customers"),
    Route("/customers", create_customer, methods=["POST"], name="create_customer"),
    Route("/customers/search", search_customers, methods=["GET"], name="search_customers"),
    Route(
        "/customers/find-or-create",
        find_or_create_customer,
        methods=["POST"],
        name="find_or_create_customer",
    ),
    Route(
        "/customers/find-or-create/bulk",
        find_or_create_customers,
        methods=["POST"],
        name="find_or_create_customers",
    ),
    Route("/customers/{id}", get_customer, methods=["GET"], name="get_customer"),
    Route("/customers/{id}", update_customer, methods=["PATCH"], name="update_customer"),
    Route("/customers/{id}", delete_customer, methods=["DELETE"], name="delete_customer"),
    Route("/customers/{id}/erase", erase_customer, methods=["POST"], name="erase_customer"),
    Route("/customers/{id}/export", export_customer, methods=["GET"], name="export_customer"),
]
