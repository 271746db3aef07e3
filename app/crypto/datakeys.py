"""Per-business data keys: wrapping under the master keys, and what a key makes.

Every business has a random 256-bit data key, stored only wrapped: AES-256-GCM
under a master key of FINORA_ENCRYPTION_KEYS, with the business id (and the
key's id) as AAD, so a wrapped key copied to another business does not unwrap.
From the data key come, each by HKDF with its own purpose:

- the column subkeys of the business's PII and secrets (app.crypto.cipher, version 2);
- its index key, from FINORA_INDEX_KEY *together with* the data key: the email
  blind index and the search tokens need both, so once the data key is destroyed
  they mean nothing, even to whoever holds FINORA_INDEX_KEY.

A ``Generation`` is one such set of keys as the process uses it.  The legacy
generation (no data key: values sealed under a master key directly, indexes under
FINORA_INDEX_KEY alone) is how businesses were kept before; ``finora keys migrate``
moves them off it.
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.crypto.blind import BlindIndex
from app.crypto.cipher import Cipher, DecryptionError
from app.crypto.gramcache import GramCache
from app.crypto.keys import KEY_BYTES, KeySet
from app.crypto.tokens import SearchTokens

NONCE_BYTES = 12
EMAIL_PURPOSE = "customer/email"


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _wrap_aad(business_id: str, key_id: str) -> bytes:
    return b"\x00".join((b"finora/v2/data-key", business_id.encode(), key_id.encode()))


def wrap(keys: KeySet, business_id: str, key_id: str, data_key: bytes) -> tuple[str, bytes]:
    """(master key id, nonce + ciphertext) of a data key, under the active master key."""
    master_id = keys.active_id
    master = keys.key(master_id)
    assert master is not None
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = AESGCM(master).encrypt(nonce, data_key, _wrap_aad(business_id, key_id))
    return master_id, nonce + body


def unwrap(keys: KeySet, business_id: str, key_id: str, master_id: str, wrapped: bytes) -> bytes:
    master = keys.key(master_id)
    if master is None:
        raise DecryptionError(f"data key wrapped under master key {master_id!r}, not configured")
    try:
        return AESGCM(master).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(business_id, key_id)
        )
    except InvalidTag:
        raise DecryptionError("wrapped data key failed authentication") from None


def index_key(keys: KeySet, data_key: bytes) -> bytes:
    """The business's index key: FINORA_INDEX_KEY and the data key, both needed."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=data_key, info=b"finora/v2/index"
    ).derive(keys.index)


@dataclass(frozen=True)
class Generation:
    """The keys one business's rows are sealed and indexed under.

    ``id`` is the data key's id (what every value's header and the rows' ``key_id``
    name), or None for the legacy scheme.
    """

    id: str | None
    cipher: Cipher
    email_index: BlindIndex
    search_tokens: SearchTokens

    def seal(self, table: str, column: str, row_id: str, plaintext: str) -> bytes:
        return self.cipher.seal(table, column, row_id, plaintext, self.id)

    @classmethod
    def legacy(cls, keys: KeySet, cipher: Cipher, grams: GramCache) -> Generation:
        return cls(
            id=None,
            cipher=cipher,
            email_index=BlindIndex(keys.index, EMAIL_PURPOSE),
            search_tokens=SearchTokens(keys.index, grams),
        )

    @classmethod
    def of_key(
        cls, keys: KeySet, cipher: Cipher, grams: GramCache, key_id: str, data_key: bytes
    ) -> Generation:
        """The generation of a data key (learnt by the cipher, so its values open)."""
        cipher.learn(key_id, data_key)
        index = index_key(keys, data_key)
        scope: Hashable = key_id
        return cls(
            id=key_id,
            cipher=cipher,
            email_index=BlindIndex(index, EMAIL_PURPOSE),
            search_tokens=SearchTokens(index, grams, scope),
        )
