"""Businesses and their API keys.

A key is shown once, at creation; the database keeps only its SHA-256 digest
(the key is 190 random bits, so an unsalted fast hash is the right tool) and a
short prefix that identifies it in logs and in ``finora apikey revoke``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from app.db.transaction import transaction
from app.ids import new_id, random_base62
from app.models import ApiKey, Business, keyring
from app.services.access import Caller, Scope

KEY_PREFIX = "fin_live_"
_VISIBLE = 8


@dataclass(frozen=True)
class IssuedKey:
    key: str
    business_id: str
    prefix: str
    scope: Scope


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_business(name: str) -> Business:
    """A new business, with its own data key (app.crypto.datakeys) from the start."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValueError("a business name is 1 to 200 characters")
    async with transaction() as conn:
        business = await Business.create(id=new_id("biz"), name=name, using_db=conn)
        business.write_key = await keyring.new_key(conn, business.id)
        await business.save(update_fields=["write_key"], using_db=conn)
    return business


async def create_api_key(business_id: str, scope: Scope | str = Scope.WRITE) -> IssuedKey:
    """A new key (ValueError for an unknown scope, LookupError for an unknown or an
    offboarded business).

    The business row is held (KEY SHARE) while the key is written, so an offboarding
    (which holds it FOR UPDATE, app.jobs.offboard) either waits for this key, and
    revokes it with the others, or has happened, and no key is made."""
    scope = Scope(scope)
    key = KEY_PREFIX + random_base62(24)
    prefix = key[: len(KEY_PREFIX) + _VISIBLE]
    async with transaction() as conn:
        rows = await conn.execute_query_dict(
            "SELECT offboarded_at FROM business WHERE id = $1 FOR KEY SHARE", [business_id]
        )
        if not rows:
            raise LookupError("no such business")
        if rows[0]["offboarded_at"] is not None:
            raise LookupError("the business was offboarded")
        await ApiKey.create(
            id=new_id("key"),
            business_id=business_id,
            prefix=prefix,
            digest=_digest(key),
            scope=scope.value,
            using_db=conn,
        )
    return IssuedKey(key=key, business_id=business_id, prefix=prefix, scope=scope)


async def revoke_api_key(prefix: str) -> bool:
    """Revoke by prefix; False when no live key has it.

    This process forgets the key at once; other processes within AUTH_CACHE_S.
    """
    now = datetime.now(UTC)
    updated = await ApiKey.filter(prefix=prefix, revoked_at=None).update(revoked_at=now)
    _known.clear()
    return updated > 0


#: How long a process trusts what it learnt about a key (revocation delay across workers).
AUTH_CACHE_S = 5.0
_AUTH_CACHE_MAX = 10_000
_known: dict[str, tuple[float, Caller | None]] = {}


def known(key: str) -> Caller | None:
    """The caller of a key this process has already found valid (no database work)."""
    entry = _known.get(_digest(key)) if key.startswith(KEY_PREFIX) and len(key) <= 100 else None
    if entry is None or entry[0] <= time.monotonic():
        return None
    return entry[1]


async def authenticate(key: str) -> Caller | None:
    """The caller a bearer key stands for, or None for an unknown or revoked key.

    Answers are kept for AUTH_CACHE_S seconds, so a busy key costs one lookup
    every few seconds instead of one per request.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    digest = _digest(key)
    now = time.monotonic()
    known = _known.get(digest)
    if known is not None and known[0] > now:
        return known[1]
    row = await ApiKey.filter(digest=digest, revoked_at=None).first()
    caller = None
    if row is not None:
        caller = Caller(
            business_id=row.business_id,  # type: ignore[attr-defined]
            key_prefix=row.prefix,
            scope=Scope(row.scope),
        )
    if len(_known) >= _AUTH_CACHE_MAX:
        _known.clear()
    _known[digest] = (now + AUTH_CACHE_S, caller)
    return caller
