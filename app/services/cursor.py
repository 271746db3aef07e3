"""Opaque keyset cursors on (name_lower, id), the order of every list."""

from __future__ import annotations

import base64
import binascii

import orjson

from app.ids import well_formed
from app.services.errors import BadUserInput

_VERSION = "c1"


def encode(name_lower: str, customer_id: str) -> str:
    raw = orjson.dumps([_VERSION, name_lower, customer_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, name_lower, customer_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise BadUserInput("Malformed cursor") from None
    if (
        version != _VERSION
        or not isinstance(name_lower, str)
        or not isinstance(customer_id, str)
        or "\x00" in name_lower  # PostgreSQL text cannot hold NUL
        or not well_formed(customer_id, "cust")
    ):
        raise BadUserInput("Malformed cursor")
    return name_lower, customer_id
