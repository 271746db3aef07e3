"""Encryption at rest: the process-wide cipher and blind indexes.

Tortoise fields are module-level objects, so the keys they use are installed
here once at start-up (``install``) rather than passed down every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.crypto.blind import BlindIndex
from app.crypto.cipher import Cipher, DecryptionError
from app.crypto.keys import KeySet
from app.crypto.tokens import SearchTokens

__all__ = ["Crypto", "DecryptionError", "KeySet", "current", "install"]


@dataclass(frozen=True)
class Crypto:
    keys: KeySet
    cipher: Cipher
    email_index: BlindIndex
    search_tokens: SearchTokens

    @classmethod
    def from_keys(cls, keys: KeySet) -> Crypto:
        return cls(
            keys=keys,
            cipher=Cipher(keys),
            email_index=BlindIndex(keys, "customer/email"),
            search_tokens=SearchTokens(keys),
        )


_current: Crypto | None = None


def install(keys: KeySet) -> Crypto:
    global _current
    _current = Crypto.from_keys(keys)
    return _current


def current() -> Crypto:
    if _current is None:
        raise RuntimeError("encryption keys are not loaded; call app.crypto.install first")
    return _current
