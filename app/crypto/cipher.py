"""AES-256-GCM for single column values, bound to their table, column and row.

Layout of a sealed value::

    version (1 byte) | key id length (1 byte) | key id | nonce (12) | ciphertext+tag

Version 2 (today's writes): the key id names a business's data key
(app.crypto.datakeys), and the column's subkey is derived from that data key.
Version 1 (before per-business keys, and the list cursors): the key id names a
master key of FINORA_ENCRYPTION_KEYS, which the subkey is derived from directly.
Both open here, so a database part-way through ``finora keys migrate`` reads
whole.

The key id travels in clear so that the right key opens the value (rotation);
the AAD (version, table, column, row id) makes a value copied into another row
or column fail to open instead of leaking there.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.crypto.entropy import random_bytes
from app.crypto.keys import KeySet, derive

MASTER = 1
DATA = 2
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A sealed value could not be opened (wrong key, tampered, moved, or its key is gone)."""


def _aad(version: int, table: str, column: str, row_id: str) -> bytes:
    return b"\x00".join(
        (f"finora/v{version}".encode(), table.encode(), column.encode(), row_id.encode())
    )


class Cipher:
    """Seals and opens column values; one AESGCM object per (key, table, column).

    Data keys are known only once their business's keys are loaded
    (app.models.keyring ``learn``s them), and only while they are: ``forget``
    drops a data key and every object made from it.
    """

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys
        self._data: dict[str, bytes] = {}
        self._aeads: dict[tuple[int, str, str, str], AESGCM] = {}
        #: the same objects, keyed by a sealed value's raw header (version, key id)
        self._opened: dict[tuple[bytes, str, str], tuple[AESGCM, bytes]] = {}

    def learn(self, key_id: str, key: bytes) -> None:
        self._data[key_id] = key

    def forget(self, key_id: str) -> None:
        if self._data.pop(key_id, None) is None:
            return
        for slot in [s for s in self._aeads if s[0] == DATA and s[1] == key_id]:
            del self._aeads[slot]
        header = _header(DATA, key_id)
        for slot in [s for s in self._opened if s[0] == header]:
            del self._opened[slot]

    def knows(self, key_id: str) -> bool:
        return key_id in self._data

    def _aead(self, version: int, key_id: str, table: str, column: str) -> AESGCM:
        slot = (version, key_id, table, column)
        aead = self._aeads.get(slot)
        if aead is None:
            key = (self.keys.key if version == MASTER else self._data.get)(key_id)
            if key is None:
                raise DecryptionError("sealed with a key that is not loaded")
            aead = AESGCM(derive(key, f"finora/v{version}/enc/{table}/{column}"))
            self._aeads[slot] = aead
        return aead

    def seal(
        self, table: str, column: str, row_id: str, plaintext: str, data_key: str | None = None
    ) -> bytes:
        """Seal under a business's data key, or (None) under the active master key."""
        version, key_id = (MASTER, self.keys.active_id) if data_key is None else (DATA, data_key)
        nonce = random_bytes(NONCE_BYTES)
        body = self._aead(version, key_id, table, column).encrypt(
            nonce, plaintext.encode(), _aad(version, table, column, row_id)
        )
        return _header(version, key_id) + nonce + body

    def open(self, table: str, column: str, row_id: str, sealed: bytes) -> str:
        # Hot path (every PII value served): one dict lookup keyed on the raw
        # header gives the AESGCM object and the AAD prefix of this column.
        header_end = 2 + sealed[1] if len(sealed) > 1 else 0
        slot = (sealed[:header_end], table, column)
        opened = self._opened.get(slot)
        if opened is None:
            version, key_id = header_of(sealed)
            aead = self._aead(version, key_id, table, column)
            opened = self._opened[slot] = (aead, _aad(version, table, column, ""))
        aead, aad_prefix = opened
        nonce_end = header_end + NONCE_BYTES
        try:
            plain = aead.decrypt(
                sealed[header_end:nonce_end], sealed[nonce_end:], aad_prefix + row_id.encode()
            )
        except InvalidTag:
            raise DecryptionError("sealed value failed authentication") from None
        return plain.decode()


def _header(version: int, key_id: str) -> bytes:
    kid = key_id.encode()
    return bytes((version, len(kid))) + kid


def header_of(sealed: bytes) -> tuple[int, str]:
    """(format version, key id) of a sealed value: which key opens it."""
    if len(sealed) < 2 or sealed[0] not in (MASTER, DATA):
        raise DecryptionError("unknown sealed value format")
    end = 2 + sealed[1]
    if len(sealed) < end + NONCE_BYTES + 16:
        raise DecryptionError("sealed value is truncated")
    return sealed[0], sealed[2:end].decode("ascii", "replace")
