"""Is an exception the database being unreachable?  Both APIs answer 503 for those."""

from __future__ import annotations

import asyncpg
from tortoise.exceptions import DBConnectionError

_UNAVAILABLE = (
    DBConnectionError,
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # the connection was lost
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.OperatorInterventionError,  # admin or crash shutdown (class 57)
    asyncpg.InternalClientError,  # a connection broken in the middle of a call
)


def is_unavailable(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, _UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
