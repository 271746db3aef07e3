"""Event-loop lag: how long the loop was held by something that did not await.

A probe sleeps a few milliseconds again and again; how late it wakes up is how
long some callback kept the loop to itself (every request of every business
waits that long).  The lags go to a Prometheus histogram, and the worst since
start is kept for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import Histogram

from app.http.metrics import REGISTRY

INTERVAL_S = 0.005

LAG = Histogram(
    "finora_event_loop_lag_seconds",
    "How late the event loop ran a timer: the longest it was held between two awaits",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)


class LoopLagProbe:
    def __init__(self, interval_s: float = INTERVAL_S, *, export: bool = True) -> None:
        self.interval_s = interval_s
        self.export = export
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, time.perf_counter() - start - self.interval_s)
            self.worst_s = max(self.worst_s, lag)
            if self.export:
                LAG.observe(lag)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
