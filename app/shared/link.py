"""The link to Redis, bounded in time, and what happens when Redis does not answer.

Redis holds limits, not data: when it is slow or down, a request must not wait
for it or fail because of it.  Every call is bounded by FINORA_REDIS_TIMEOUT_MS
(50 ms by default); a call that fails or runs out of time raises ``Unavailable``,
and the caller falls back to its process's own limits (fail open: the
service stays up, its limits hold per process, as without Redis).  After a
failure Redis is left alone for OUTAGE_S, so an outage costs one timeout per
OUTAGE_S per process, not one per request.  The outage is logged when it
starts and when it ends (the error's type, never a value), and each fallback
is counted (finora_shared_fallbacks_total, by what fell back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.settings import Settings

log = logging.getLogger("finora.shared")

T = TypeVar("T")

#: Seconds Redis is not tried after a failure.
OUTAGE_S = 1.0
#: Connections to Redis per process: calls are batched (app.shared.courier), so
#: few are ever in use at once.
MAX_CONNECTIONS = 16

#: Fallbacks to the process's own limits since start, by what fell back (metrics).
FALLBACKS: dict[str, int] = {}


class Unavailable(Exception):
    """Redis did not answer in time, or answered with an error."""


def fell_back(what: str) -> None:
    FALLBACKS[what] = FALLBACKS.get(what, 0) + 1


class Link:
    """One Redis client per process, with the outage state shared by its callers."""

    def __init__(self, url: str, *, timeout_s: float, prefix: str) -> None:
        self.timeout_s = timeout_s
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=None,  # a retry would double the time a request waits for a dead Redis
            max_connections=MAX_CONNECTIONS,
        )
        self._down_until = 0.0
        self._down_since: float | None = None

    @property
    def up(self) -> bool:
        """False during an outage's quiet period (no call is tried)."""
        return time.monotonic() >= self._down_until

    async def call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis command within the time bound; Unavailable otherwise."""
        if not self.up:
            raise Unavailable
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await command()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            raise Unavailable from None
        if self._down_since is not None:
            log.warning(
                "shared limits back",
                extra={"fields": {"outage_s": round(time.monotonic() - self._down_since, 3)}},
            )
            self._down_since = None
        return result

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._down_until = now + OUTAGE_S
        if self._down_since is None:
            self._down_since = now
            log.error(
                "shared limits unavailable: each process uses its own until Redis answers",
                extra={"fields": {"error_type": type(exc).__name__}},
            )

    async def close(self) -> None:
        await self.client.aclose()


def connect(settings: Settings) -> Link | None:
    """The link FINORA_REDIS_URL names (connected on first use), or None without one."""
    if settings.redis_url is None:
        return None
    url = settings.redis_url.reveal()
    return Link(url, timeout_s=settings.redis_timeout_s, prefix=settings.redis_prefix)
