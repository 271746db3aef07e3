"""Blind indexes: keyed digests that allow equality lookups on encrypted values.

Never an unkeyed hash (a SHA-256 of an email is reversed by a dictionary of
emails).  The business id is part of the message, so the same email in two
businesses gives unrelated digests and rows cannot be linked across tenants.
"""

from __future__ import annotations

from app.crypto.keys import derive
from app.crypto.prefixed import PrefixedHmac


class BlindIndex:
    def __init__(self, index_key: bytes, purpose: str) -> None:
        # HMAC-SHA256 under the purpose's subkey, its pads hashed once (every write needs one).
        # `index_key`: FINORA_INDEX_KEY, or a business's index key (app.crypto.datakeys).
        self._mac = PrefixedHmac(derive(index_key, f"finora/v1/blind/{purpose}"))

    def digest(self, business_id: str, value: str) -> str:
        return self._mac.digest(business_id.encode() + b"\x00" + value.encode()).hex()
