"""The embedded PostgreSQL for development: no install, data in .finora/pgdata.

`pgserver` ships PostgreSQL binaries in a wheel.  It is used only when no
DATABASE_URL is set, never in production.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return its URL."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir))
    import pgserver  # imported late: it is only needed on this path

    logging.getLogger("pgserver").setLevel(logging.WARNING)

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    return server.get_uri()
