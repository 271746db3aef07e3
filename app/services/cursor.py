"""Opaque keyset cursors on (name_lower, id), the order of every list.

A plain cursor is base64 of JSON: opaque to a client, not secret, which is
right when the caller sees the name anyway.  A read_masked key must not learn
a name it sees masked (app.services.masking.name_hidden), so its cursor after
such a row holds the name sealed (AES-GCM, bound to the row id), not encoded.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from app import crypto
from app.crypto import DecryptionError
from app.ids import well_formed
from app.services.errors import BadUserInput

_VERSION = "c1"
_SEALED = "c2"
#: Where the cipher's subkey and AAD come from: no table holds these values.
_TABLE, _COLUMN = "cursor", "name_lower"


def encode(name_lower: str, customer_id: str, *, sealed: bool = False) -> str:
    if sealed:
        box = crypto.current().cipher.seal(_TABLE, _COLUMN, customer_id, name_lower)
        raw = orjson.dumps([_SEALED, base64.b64encode(box).decode(), customer_id])
    else:
        raw = orjson.dumps([_VERSION, name_lower, customer_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _malformed() -> BadUserInput:
    return BadUserInput("Malformed cursor")


def _opened(box: str, customer_id: str) -> str:
    try:
        return crypto.current().cipher.open(
            _TABLE, _COLUMN, customer_id, base64.b64decode(box, validate=True)
        )
    except (binascii.Error, ValueError, IndexError, DecryptionError):
        raise _malformed() from None


def decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, name_lower, customer_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise _malformed() from None
    if (
        version not in (_VERSION, _SEALED)
        or not isinstance(name_lower, str)
        or not isinstance(customer_id, str)
        or not well_formed(customer_id, "cust")
    ):
        raise _malformed()
    if version == _SEALED:
        name_lower = _opened(name_lower, customer_id)
    if "\x00" in name_lower:  # PostgreSQL text cannot hold NUL
        raise _malformed()
    return name_lower, customer_id
