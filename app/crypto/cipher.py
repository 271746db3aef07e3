"""AES-256-GCM for single column values, bound to their table, column and row.

Layout of a sealed value::

    version (1 byte, 0x01) | key id length (1 byte) | key id | nonce (12) | ciphertext+tag

The key id travels in clear so that any configured key can open the value
(rotation); the AAD (table, column, row id) makes a value copied into another
row or column fail to open instead of leaking there.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.crypto.entropy import random_bytes
from app.crypto.keys import KeySet, derive

VERSION = 1
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A sealed value could not be opened (wrong key, tampered, or moved)."""


def _aad(table: str, column: str, row_id: str) -> bytes:
    return b"\x00".join((b"finora/v1", table.encode(), column.encode(), row_id.encode()))


class Cipher:
    """Seals and opens column values; one AESGCM object per (key, table, column)."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys
        self._aeads: dict[tuple[str, str, str], AESGCM] = {}
        #: the same objects, keyed by a sealed value's raw header (version, key id)
        self._opened: dict[tuple[bytes, str, str], tuple[AESGCM, bytes]] = {}

    def _aead(self, key_id: str, table: str, column: str) -> AESGCM:
        slot = (key_id, table, column)
        aead = self._aeads.get(slot)
        if aead is None:
            key = self.keys.key(key_id)
            if key is None:
                raise DecryptionError("sealed with a key that is not configured")
            aead = AESGCM(derive(key, f"finora/v1/enc/{table}/{column}"))
            self._aeads[slot] = aead
        return aead

    def seal(self, table: str, column: str, row_id: str, plaintext: str) -> bytes:
        key_id = self.keys.active_id
        nonce = random_bytes(NONCE_BYTES)
        body = self._aead(key_id, table, column).encrypt(
            nonce, plaintext.encode(), _aad(table, column, row_id)
        )
        kid = key_id.encode()
        return bytes((VERSION, len(kid))) + kid + nonce + body

    def open(self, table: str, column: str, row_id: str, sealed: bytes) -> str:
        # Hot path (every PII value served): one dict lookup keyed on the raw
        # header gives the AESGCM object and the AAD prefix of this column.
        header_end = 2 + sealed[1] if len(sealed) > 1 else 0
        slot = (sealed[:header_end], table, column)
        opened = self._opened.get(slot)
        if opened is None:
            aead = self._aead(key_id_of(sealed), table, column)
            opened = self._opened[slot] = (aead, _aad(table, column, ""))
        aead, aad_prefix = opened
        nonce_end = header_end + NONCE_BYTES
        try:
            plain = aead.decrypt(
                sealed[header_end:nonce_end], sealed[nonce_end:], aad_prefix + row_id.encode()
            )
        except InvalidTag:
            raise DecryptionError("sealed value failed authentication") from None
        return plain.decode()


def key_id_of(sealed: bytes) -> str:
    """The id of the key a value was sealed with (for rotation)."""
    if len(sealed) < 2 or sealed[0] != VERSION:
        raise DecryptionError("unknown sealed value format")
    end = 2 + sealed[1]
    if len(sealed) < end + NONCE_BYTES + 16:
        raise DecryptionError("sealed value is truncated")
    return sealed[2:end].decode("ascii", "replace")
