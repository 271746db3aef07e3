"""The embedded PostgreSQL for development: no install, data in .finora/pgdata.

`pgserver` ships PostgreSQL binaries in a wheel.  It is used only when no
DATABASE_URL is set, never in production.  It stops the server at interpreter
exit (``atexit``) once the last process holding it is gone, which leaves two
ways to leak a running server, both closed here:

- SIGTERM (a process manager, ``docker stop``, ``kill``): Python's default
  action ends the process without running ``atexit``, so SIGTERM is turned into
  a normal exit.  Uvicorn restores this handler after its graceful shutdown and
  raises the signal again, which then lands here.
- A process killed outright (SIGKILL, a crash) stays in pgserver's list of
  holders forever, and every later run then believes someone else still holds
  the server and never stops it.  Dead holders are dropped before each start.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import psutil

HOLDERS_FILE = ".handle_pids.json"  # pgserver's list of the processes holding the server


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _private_runtime_dir(data_dir / "run")
    import pgserver  # imported late: it is only needed on this path
    from pgserver.postgres_server import PostgresServer

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with PostgresServer._lock:  # the lock pgserver itself takes around that list
        drop_dead_holders(data_dir / "pgdata")
    server = pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    _exit_cleanly_on_sigterm()
    return server.get_uri()


def drop_dead_holders(pgdata: Path) -> list[int]:
    """Forget holders that no longer run; returns the ones kept."""
    path = pgdata / HOLDERS_FILE
    if not path.exists():
        return []
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))
    return alive


def _private_runtime_dir(path: Path) -> None:
    """pgserver keeps its lock under the user's runtime folder, which platformdirs
    wants private (0700) and warns about otherwise; containers often have none."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(path)


def _exit_cleanly_on_sigterm() -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)
