"""Transactions, and whether the current task is in one.

Reads (app.db.reads) go straight to asyncpg's pool outside a transaction and to
the transaction's connection inside one, so a read sees its transaction's own
writes.  Asking Tortoise which (its context, its connection handler, a loop
check, an ABC isinstance) cost about 12 us of a 10-row read in a running
service; the context variable set here, by the one way the services open a
transaction, answers in a fraction of a microsecond.  Nothing in app/ opens
a transaction any other way (tests/test_layering.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from app.db.orm import CONNECTION

_inside: ContextVar[bool] = ContextVar("finora_in_transaction", default=False)


def inside() -> bool:
    """Whether this task (or the one that started it) is in a transaction."""
    return _inside.get()


@asynccontextmanager
async def transaction() -> AsyncIterator[TransactionalDBClient]:
    """Tortoise's ``in_transaction``, known to the read path while it lasts."""
    async with in_transaction(CONNECTION) as conn:
        token = _inside.set(True)
        try:
            yield conn
        finally:
            _inside.reset(token)
