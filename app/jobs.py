"""Resumable batch jobs: progress kept in the ``job`` table, a bar on stderr.

A job walks rows in a stable order (by id) and commits each batch together with
its cursor, so a killed job picks up after its last committed batch.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from app.models import Job


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
