"""What every ``finora`` subcommand shares: the one-line failure and the ORM around a job.

Configuration problems end the process with one line on stderr and exit status
2, never a traceback; ``fail`` is that line, so every module words it the same.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from app.db.orm import close_orm, open_orm
from app.models import keyring
from app.settings import ConfigError, Settings
from app.startup import bootstrap


def fail(message: str) -> int:
    """The refusal every subcommand gives: argparse's `prog: error:` form, exit status 2."""
    print(f"finora: error: {message}", file=sys.stderr)
    return 2


async def with_orm(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    """A one-off command needs the ORM for one job: a small pool, closed however it ends."""
    url = bootstrap.database_url(settings)
    await bootstrap.check_database(url, migrated=True)
    await open_orm(url, pool_max=2)
    try:
        return await work()
    finally:
        await close_orm()


async def with_keys(
    settings: Settings, work: Callable[[str], Awaitable[Any]], *, index_may_change: bool = False
) -> Any:
    """Run `work(database_url)` with the ORM open and the checked keys installed."""
    keys = bootstrap.load_keys(settings)

    async def checked() -> Any:
        await bootstrap.install_checked_keys(keys, index_may_change=index_may_change)
        try:
            return await work(bootstrap.database_url(settings))
        except keyring.KeysGone as gone:  # one line, as for any refusal
            raise ConfigError(
                f"business {gone} is offboarded or unknown: nothing of it reads"
            ) from None

    return await with_orm(settings, checked)
