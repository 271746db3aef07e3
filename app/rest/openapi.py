"""The OpenAPI 3.0 document of the REST API, served at ``/v1/openapi.json``.

Written by hand from the reference, and checked against the running service by
schemathesis in the tests (every documented response, nothing undocumented).
"""

from __future__ import annotations

from typing import Any

from app.services.bulk import BULK_MAX
from app.services.validation import ADDRESS_MAX, COMPANY_MAX, EMAIL_MAX, NAME_MAX, TIN_MAX


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"type": "boolean", "enum": [True]}, "data": data},
    }


_ERRORS = {
    "400": "Bad input (the error names the field)",
    "401": "Missing, unknown or revoked API key",
    "403": "The businessId is not the key's business, or the key may only read",
    "404": "No such customer in the key's business",
    "409": "Another active customer already has this email",
    "413": "The body is over 1 MB",
    "415": "The body is not JSON",
    "429": "Too many requests for this key",
    "503": "The database is unavailable",
}


def _responses(ok_status: str, ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    responses = {ok_status: ok}
    for code in ("400", "401", "429", "503", *codes):
        responses[code] = _json(_ref("ErrorEnvelope"), _ERRORS[code])
    return responses


_BUSINESS = {
    "name": "businessId",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "The business of the API key.",
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _text(limit: int, nullable: bool = True) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, "nullable": nullable}


#: A customer as the reference's example shows it; every field is always present.
CUSTOMER_PROPERTIES = {
    "id": {"type": "string", "example": "cust_xyz"},
    "name": {"type": "string"},
    "email": {"type": "string"},
    "phone": {"type": "string", "nullable": True, "example": "+2348012345678"},
    "address": {"type": "string", "nullable": True},
    "tin": {"type": "string", "nullable": True, "example": "12345678-0001"},
    "companyName": {"type": "string", "nullable": True},
    "accountBalanceKobo": {"type": "integer", "format": "int64"},
    "accountBalance": {"type": "number"},
    "isActive": {"type": "boolean"},
    "createdAt": {"type": "string", "format": "date-time"},
}
CUSTOMER = {
    "type": "object",
    "required": list(CUSTOMER_PROPERTIES),
    "properties": CUSTOMER_PROPERTIES,
}

_INSTANT = {"type": "string", "format": "date-time"}
#: The data subject's copy (app.rest.serialize.export_json).
EXPORT_PROPERTIES = {
    "format": {"type": "string", "enum": ["finora.customer-export.v1"]},
    "exportedAt": _INSTANT,
    "customer": {
        "type": "object",
        "required": [*CUSTOMER_PROPERTIES, "businessId", "updatedAt", "erasedAt"],
        "properties": {
            **CUSTOMER_PROPERTIES,
            "businessId": {"type": "string"},
            "updatedAt": _INSTANT,
            "erasedAt": {**_INSTANT, "nullable": True},
        },
    },
    "events": {
        "type": "array",
        "description": "Every change event of the customer, oldest first.",
        "items": {
            "type": "object",
            "required": ["id", "type", "customerId", "changedFields", "actor", "occurredAt"],
            "properties": {
                "id": {"type": "string"},
                "type": {"type": "string", "enum": ["CREATED", "UPDATED", "DELETED", "ERASED"]},
                "customerId": {"type": "string"},
                "changedFields": {"type": "array", "items": {"type": "string"}},
                "actor": {"type": "string"},
                "occurredAt": _INSTANT,
            },
        },
    },
    "externalIds": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["platform", "connectionId", "id", "linkedAt", "removedAt"],
            "properties": {
                "platform": {"type": "string", "enum": ["SHOPIFY", "WOOCOMMERCE"]},
                "connectionId": {"type": "string"},
                "id": {"type": "string"},
                "linkedAt": _INSTANT,
                "removedAt": {**_INSTANT, "nullable": True},
            },
        },
    },
}

FIELDS = {
    "name": _text(NAME_MAX, nullable=False),
    "email": _text(EMAIL_MAX, nullable=False),
    "phone": _text(32),
    "address": _text(ADDRESS_MAX),
    "companyName": _text(COMPANY_MAX),
    "tin": _text(TIN_MAX),
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def document() -> dict[str, Any]:
    customer_ok = _json(_envelope(_ref("Customer")), "The customer")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Finora Business customers",
            "version": "1",
            "description": (
                "Full CRUD plus find-or-create and search. PII is encrypted at rest and "
                "decrypted for API responses. Unknown fields in bodies are ignored."
            ),
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/customers": {
                "get": {
                    "operationId": "listCustomers",
                    "summary": "Active customers, sorted by name",
                    "parameters": [
                        _BUSINESS,
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 100,
                                "default": 50,
                            },
                        },
                    ],
                    "responses": _responses(
                        "200",
                        _json(_envelope({"type": "array", "items": _ref("Customer")}), "Customers"),
                        "403",
                    ),
                },
                "post": {
                    "operationId": "createCustomer",
                    "summary": "Create a customer with the full field set",
                    "parameters": [_BUSINESS],
                    "requestBody": _body(_ref("CustomerInput")),
                    "responses": _responses(
                        "201",
                        _json(_envelope(_ref("Customer")), "Created"),
                        "403",
                        "409",
                        "413",
                        "415",
                    ),
                },
            },
            "/v1/customers/search": {
                "get": {
                    "operationId": "searchCustomers",
                    "summary": "Substring match on name or email, among active customers",
                    "parameters": [
                        _BUSINESS,
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                        },
                    ],
                    "responses": _responses(
                        "200", _json(_envelope(_ref("SearchResult")), "Up to 50 matches"), "403"
                    ),
                },
            },
            "/v1/customers/find-or-create": {
                "post": {
                    "operationId": "findOrCreateCustomer",
                    "summary": "Idempotent lookup by email; creates the customer if none",
                    "parameters": [_BUSINESS],
                    "requestBody": _body(_ref("FindOrCreateInput")),
                    "responses": {
                        **_responses(
                            "200",
                            _json(_envelope(_ref("FindOrCreateResult")), "Found"),
                            "403",
                            "413",
                            "415",
                        ),
                        "201": _json(_envelope(_ref("FindOrCreateResult")), "Created"),
                    },
                },
            },
            "/v1/customers/find-or-create/bulk": {
                "post": {
                    "operationId": "findOrCreateCustomers",
                    "summary": (
                        "findOrCreate for 1 to 500 customers in one call; each row answers "
                        "on its own, in input order"
                    ),
                    "parameters": [_BUSINESS],
                    "requestBody": _body(_ref("BulkFindOrCreateInput")),
                    "responses": _responses(
                        "200",
                        _json(_envelope(_ref("BulkFindOrCreateResult")), "One result per row"),
                        "403",
                        "413",
                        "415",
                    ),
                },
            },
            "/v1/customers/{id}": {
                "parameters": [_ID],
                "get": {
                    "operationId": "getCustomer",
                    "summary": "One customer, active or soft-deleted",
                    "responses": _responses("200", customer_ok, "404"),
                },
                "patch": {
                    "operationId": "updateCustomer",
                    "summary": "Update any of name, email, phone, address, companyName, tin",
                    "requestBody": _body(_ref("CustomerPatch")),
                    "responses": _responses("200", customer_ok, "403", "404", "409", "413", "415"),
                },
                "delete": {
                    "operationId": "deleteCustomer",
                    "summary": "Soft delete: the customer becomes inactive",
                    "responses": _responses("200", customer_ok, "403", "404"),
                },
            },
            "/v1/customers/{id}/erase": {
                "parameters": [_ID],
                "post": {
                    "operationId": "eraseCustomer",
                    "summary": (
                        "Irreversible erasure of the customer's personal data (NDPA 2023 s.34); "
                        "the record, its id and balance stay"
                    ),
                    "responses": _responses("200", customer_ok, "403", "404"),
                },
            },
            "/v1/customers/{id}/export": {
                "parameters": [_ID],
                "get": {
                    "operationId": "exportCustomerData",
                    "summary": (
                        "Everything held about the customer, for the data subject (NDPA 2023: "
                        "access and portability), as an attachment; 403 for a read_masked key"
                    ),
                    "responses": _responses(
                        "200",
                        _json(_envelope(_ref("CustomerExport")), "The customer's copy"),
                        "403",
                        "404",
                    ),
                },
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Customer": CUSTOMER,
                "CustomerExport": {
                    "type": "object",
                    "required": list(EXPORT_PROPERTIES),
                    "properties": EXPORT_PROPERTIES,
                },
                "CustomerInput": {
                    "type": "object",
                    "required": ["name", "email"],
                    "properties": FIELDS,
                },
                "CustomerPatch": {"type": "object", "properties": FIELDS},
                "FindOrCreateInput": {
                    "type": "object",
                    "required": ["email"],
                    "properties": {k: FIELDS[k] for k in ("email", "name", "phone")},
                },
                "FindOrCreateResult": {
                    "type": "object",
                    "required": ["id", "name", "email", "created"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "email": {"type": "string"},
                        "created": {"type": "boolean"},
                    },
                },
                "BulkFindOrCreateInput": {
                    "type": "object",
                    "required": ["customers"],
                    "properties": {
                        "customers": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": BULK_MAX,
                            "items": _ref("FindOrCreateInput"),
                        }
                    },
                },
                "BulkFindOrCreateResult": {
                    "type": "object",
                    "required": ["results", "createdCount", "foundCount", "failedCount"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "maxItems": BULK_MAX,
                            "items": _ref("BulkFindOrCreateRow"),
                        },
                        "createdCount": {"type": "integer"},
                        "foundCount": {"type": "integer"},
                        "failedCount": {"type": "integer"},
                    },
                },
                "BulkFindOrCreateRow": {
                    "type": "object",
                    "required": ["index", "customer", "created", "errors"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "customer": {"allOf": [_ref("Customer")], "nullable": True},
                        "created": {"type": "boolean"},
                        "errors": {"type": "array", "items": _ref("Error")},
                    },
                },
                "SearchResult": {
                    "type": "object",
                    "required": ["customers", "count"],
                    "properties": {
                        "customers": {"type": "array", "items": _ref("Customer"), "maxItems": 50},
                        "count": {"type": "integer"},
                    },
                },
                "ErrorEnvelope": {
                    "type": "object",
                    "required": ["success", "error"],
                    "properties": {
                        "success": {"type": "boolean", "enum": [False]},
                        "error": _ref("Error"),
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["code", "message", "field"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    }
