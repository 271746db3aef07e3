"""Is an exception the database being unreachable?  Both APIs answer 503 for those."""

from __future__ import annotations

import asyncpg
from tortoise.exceptions import DBConnectionError

_UNAVAILABLE = (
    DBConnectionError,
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


def is_unavailable(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, _UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
