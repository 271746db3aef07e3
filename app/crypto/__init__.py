"""Encryption at rest: the process-wide master keys, cipher and gram cache.

Tortoise fields are module-level objects, so the keys they use are installed
here once at start-up (``install``) rather than passed down every call.  The
keys of each business (app.crypto.datakeys) are loaded on demand by
app.models.keyring, which knows where they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.crypto.cipher import Cipher, DecryptionError
from app.crypto.datakeys import Generation
from app.crypto.gramcache import GramCache
from app.crypto.keys import KeySet

__all__ = ["Crypto", "DecryptionError", "KeySet", "current", "install"]


@dataclass(frozen=True)
class Crypto:
    keys: KeySet
    cipher: Cipher
    grams: GramCache
    #: Businesses not yet moved to a data key (``finora keys migrate``), and list cursors.
    legacy: Generation

    @classmethod
    def from_keys(cls, keys: KeySet) -> Crypto:
        cipher, grams = Cipher(keys), GramCache()
        return cls(
            keys=keys, cipher=cipher, grams=grams, legacy=Generation.legacy(keys, cipher, grams)
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
