"""Signing secrets and the Standard Webhooks headers.

The secret is ``whsec_`` + base64 of random bytes; the HMAC key is those bytes
(the base64-decoded part after the prefix), as the specification says and as
receivers' libraries expect.

While a rotation's overlap lasts a message is signed with both secrets, the new
one's signature first, space separated in one ``webhook-signature`` header (as
Standard Webhooks allows): a receiver that still holds the old secret and one
that already holds the new one both verify it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(
    secret: str, message_id: str, timestamp: int, body: bytes, *, previous: Sequence[str] = ()
) -> dict[str, str]:
    """The Standard Webhooks headers, signed with `secret` and then each of `previous`."""
    signatures = [signature(key, message_id, timestamp, body) for key in (secret, *previous)]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
