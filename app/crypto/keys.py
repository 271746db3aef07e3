"""Key material: parsing, generation, per-purpose subkeys and key check values.

``FINORA_ENCRYPTION_KEYS`` is an ordered list ``id:base64,...``; the first key
encrypts, every key decrypts (rotation).  ``FINORA_INDEX_KEY`` is separate so
that blind indexes survive a rotation of the encryption keys.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.settings import ConfigError

KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def derive(key: bytes, info: str) -> bytes:
    """One HKDF-SHA256 subkey per purpose, so no two uses share a key."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info.encode()).derive(
        key
    )


def check_value(key: bytes) -> str:
    """A key check value: identifies a key without revealing it."""
    return hmac.new(derive(key, "finora/v1/kcv"), b"key check", sha256).hexdigest()[:32]


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{what} must decode to {KEY_BYTES} bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True)
class KeySet:
    """The keys of one process: encryption keys (active first) and the index key."""

    encryption: tuple[tuple[str, bytes], ...]
    index: bytes
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", dict(self.encryption))

    def __repr__(self) -> str:
        return f"KeySet(ids={[k for k, _ in self.encryption]!r})"

    @property
    def active_id(self) -> str:
        return self.encryption[0][0]

    def key(self, key_id: str) -> bytes | None:
        return self._by_id.get(key_id)

    @classmethod
    def parse(cls, encryption_keys: str, index_key: str) -> KeySet:
        entries: list[tuple[str, bytes]] = []
        for n, item in enumerate(p for p in encryption_keys.split(",") if p.strip()):
            key_id, sep, material = item.strip().partition(":")
            if not sep or not _KEY_ID.match(key_id):
                raise ConfigError(
                    f"FINORA_ENCRYPTION_KEYS entry {n + 1} must look like id:base64 "
                    "(id: letters, digits, - or _, up to 32)"
                )
            if any(key_id == seen for seen, _ in entries):
                raise ConfigError(f"FINORA_ENCRYPTION_KEYS names key id {key_id!r} twice")
            entries.append(
                (key_id, _decode_key(material, f"FINORA_ENCRYPTION_KEYS key {key_id!r}"))
            )
        if not entries:
            raise ConfigError("FINORA_ENCRYPTION_KEYS holds no key")
        return cls(encryption=tuple(entries), index=_decode_key(index_key, "FINORA_INDEX_KEY"))


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_key_id() -> str:
    return "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def generate_env_lines() -> list[str]:
    """Fresh settings lines for a new deployment (or a new key to rotate in)."""
    return [
        f"FINORA_ENCRYPTION_KEYS={new_key_id()}:{new_key()}",
        f"FINORA_INDEX_KEY={new_key()}",
    ]
