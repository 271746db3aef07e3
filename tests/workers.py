"""`finora worker` as a real process, for delivery tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.conftest import ROOT
from tests.pgbouncer import service_environment

FINORA = str(Path(sys.executable).parent / "finora")
#: Short retries so tests wait fractions of a second, not minutes.
FAST_RETRIES = "0.2,0.2,0.3,0.3,0.5,0.5,0.5,0.5,1,1,1,1,1,1,1,1,1,1,1,1"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def start_worker(database_url: str, **env: str) -> Worker:
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_worker
    environ = {
        **os.environ,
        **service_environment(database_url),  # through PgBouncer under FINORA_TEST_PGBOUNCER
        "FINORA_WEBHOOK_RETRY_SECONDS": FAST_RETRIES,
        **env,
    }
    process = subprocess.Popen(
        [FINORA, "worker"], env=environ, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    return Worker(process, log)


async def wait_started(worker: Worker, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while "worker started" not in worker.output():
        assert worker.process.poll() is None, worker.output()
        assert time.monotonic() < deadline, "the worker did not start"
        await asyncio.sleep(0.05)


async def stop_worker(worker: Worker) -> int:
    if worker.process.poll() is None:
        worker.process.terminate()
    code = await asyncio.to_thread(worker.process.wait, 30)
    worker.log.close()
    return code


@asynccontextmanager
async def running_worker(database_url: str, **env: str) -> AsyncIterator[Worker]:
    worker = start_worker(database_url, **env)
    try:
        await wait_started(worker)
        yield worker
    finally:
        await stop_worker(worker)


async def eventually(check: object, timeout: float = 30, every: float = 0.05) -> None:
    """Wait until `check()` is true (a callable, sync or async)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(every)
