"""Resumable batch jobs: progress kept in the ``job`` table, a bar on stderr.

A job walks rows in a stable order (by id) and commits each batch together with
its cursor, so a killed job picks up after its last committed batch.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tortoise.queryset import QuerySet
from tqdm import tqdm

from app.db.transaction import transaction
from app.models import Customer, Job

log = logging.getLogger("finora.jobs")


def unreadable(row_id: str) -> None:
    """A value that does not open (damaged, or sealed for another row) must not stop a
    job over every row: the row is skipped and named (ids are not PII) for a person."""
    log.warning("row %s holds a value that does not open; left as it is", row_id)


async def resume(name: str, *, restart: bool = False) -> Job:
    job, created = await Job.get_or_create(name=name)
    if restart and not created:
        job.cursor, job.done = "", 0
        await job.save()
    return job


async def finish(job: Job) -> None:
    await Job.filter(name=job.name).delete()


@contextmanager
def progress(label: str, *, total: int, initial: int, enabled: bool = True) -> Iterator[tqdm]:
    bar = tqdm(
        total=total,
        initial=initial,
        desc=label,
        unit="row",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
    )
    try:
        yield bar
    finally:
        bar.close()


Rewrite = Callable[[list[tuple[Any, ...]]], Awaitable[list[tuple[Any, ...]]]]


async def walk(
    job: Job,
    rows: QuerySet[Customer],
    columns: Sequence[str],
    *,
    label: str,
    update_sql: str,
    rewrite: Rewrite,
    show_progress: bool = True,
    batch_size: int = 1000,
) -> int:
    """Walk `rows` by id from the job's cursor, in batches.

    `rewrite` turns a batch of (id, *columns) into the parameters of
    `update_sql`; the updates commit together with the job's new cursor.
    Returns how many updates this run wrote.
    """
    remaining = await rows.filter(id__gt=job.cursor).count()
    written = 0
    shown = show_progress and remaining > 0
    with progress(label, total=job.done + remaining, initial=job.done, enabled=shown) as bar:
        while True:
            query = rows.filter(id__gt=job.cursor).order_by("id").limit(batch_size)
            batch = await query.values_list("id", *columns)
            if not batch:
                break
            updates = await rewrite(batch)
            job.cursor = batch[-1][0]
            job.done += len(batch)
            async with transaction() as conn:
                if updates:
                    await conn.execute_many(update_sql, updates)
                await job.save(using_db=conn)
            written += len(updates)
            bar.update(len(batch))
    await finish(job)
    return written
