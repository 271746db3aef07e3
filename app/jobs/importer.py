"""`finora import`: a shop's or a spreadsheet's export into the directory, resumable.

The file is recognised and read by app.imports (every problem of the file as
a whole is raised before anything is written); each record becomes a
customer's fields by app.shoppers; the rules of what a row does are
app.services.imports'.  Each record of the file gets one line in a CSV report:
its line, the outcome (created, found, updated, failed, unreadable), the
customer id and every problem as ``field:CODE``; never a value from the file.
The summary's counts add up to the file's records.

Resuming: progress lives in the ``job`` table under the file's SHA-256, the
options that change outcomes, and the business; each batch commits together
with it.  The batch's report lines are written (and synced) just before that
commit; a run that resumes first cuts the report back to the last committed
line, so a kill at any point leaves neither a duplicate customer nor a missing
or doubled report line.  A finished import is remembered: running it again says
so (``--restart`` runs it anew, keeping the earlier report beside the new one).

With a shop connection (``--connection``), each row's shop customer id is linked
to its customer on it, in the row's transaction: a backfill from an export, then
the shop's webhooks, keep one customer per shopper (app.services.shop_sync).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from app.imports.errors import ImportFileError
from app.imports.sources import Item, Source, open_source
from app.jobs.batches import progress
from app.models import Job, ShopConnection
from app.services import bulk, imports, shop_sync
from app.services.access import Caller

__all__ = ["ImportFileError", "Options", "Summary", "import_file"]

REPORT_HEADER = ("line", "outcome", "customer_id", "problems")
OUTCOMES = ("created", "found", "updated", "failed", "unreadable")
DONE = "done"
ACTOR = "cli"
FIRST_PROBLEMS = 20


@dataclass(frozen=True)
class Options:
    """How to read the file and what its rows may do."""

    format: str = "auto"
    encoding: str | None = None
    maps: Mapping[str, str | None] = field(default_factory=dict)
    update: imports.Update = imports.Update.FIND
    strict: bool = False
    batch_size: int = bulk.BULK_MAX
    #: A shop connection: each row's shop customer id is linked on it.
    connection: str | None = None

    def key(self) -> str:
        """What sets a run apart from another of the same file (for resuming)."""
        maps = ",".join(f"{k}={v}" for k, v in sorted(self.maps.items()))
        return f"{self.format}|{self.encoding}|{maps}|{self.update}|{self.strict}|{self.connection}"


@dataclass
class Summary:
    total: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    #: Records kept with a value left out (or a name defaulted), among those counted.
    warned: int = 0
    defaulted_names: int = 0
    #: Rows done by an earlier, interrupted run (0 for a fresh one).
    resumed_after: int = 0
    #: Shop customer ids linked on --connection by this run.
    linked: int = 0
    already_done: bool = False
    label: str = ""
    unused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The earlier report, when this run set it aside.
    kept_report: Path | None = None
    dry_run: bool = False
    #: (line, outcome, problems) of the first records with problems (dry runs).
    first_problems: list[tuple[int, str, str]] = field(default_factory=list)

    def count(self, outcome: str, problems: str) -> None:
        self.counts[outcome] += 1
        if problems and outcome not in ("failed", "unreadable"):
            self.warned += 1
        self.defaulted_names += f"name:{imports.DEFAULTED}" in problems.split(";")

    @property
    def counted(self) -> int:
        return sum(self.counts.values())


# The report --------------------------------------------------------------------


def _problems(errors: Sequence[bulk.UserError]) -> str:
    return ";".join(f"{name}:{e.code}" if (name := bulk.field_of(e)) else e.code for e in errors)


def _report_line(item: Item, result: bulk.RowResult | None) -> list[str]:
    if result is None:  # no customer could be read from the record
        return [str(item.line), "unreadable", "", str(item.problem)]
    if result.errors:
        return [str(item.line), "failed", "", _problems(result.errors)]
    outcome = "created" if result.created else "updated" if result.updated else "found"
    customer_id = result.customer.id if result.customer is not None else ""
    return [str(item.line), outcome, customer_id, _problems(result.warnings)]


def _set_aside(report: Path) -> Path | None:
    """Move an earlier report out of the way (report.1.csv, report.2.csv, ...)."""
    if not report.exists():
        return None
    for number in range(1, 10_000):
        kept = report.with_name(f"{report.stem}.{number}{report.suffix}")
        if not kept.exists():
            report.rename(kept)
            return kept
    raise ImportFileError(f"too many earlier reports beside {report}")


def _cut_report(report: Path, last_line: int) -> Summary:
    """Keep the report's lines up to `last_line` (those committed); count their outcomes."""
    if not report.exists():
        raise ImportFileError(
            f"the report of the interrupted import ({report}) is missing; "
            "run again with --restart to import from the start"
        )
    summary = Summary()
    kept: list[list[str]] = []
    with report.open(newline="") as handle:
        for record in islice(csv.reader(handle), 1, None):
            if record and int(record[0]) <= last_line:
                kept.append(record)
                summary.count(record[1], record[3])
    with report.open("w", newline="") as handle:
        csv.writer(handle).writerows([list(REPORT_HEADER), *kept])
    summary.resumed_after = len(kept)
    return summary


# The job -----------------------------------------------------------------------


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while batch := list(islice(items, size)):
        yield batch


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def _import_batch(
    caller: Caller,
    business_id: str,
    batch: list[Item],
    options: Options,
    *,
    dry_run: bool = False,
    before_commit: Callable[[Any, list[list[str]]], Awaitable[None]] | None = None,
    link: Link | None = None,
) -> list[list[str]]:
    """The batch's report lines; ``before_commit(connection, lines)`` runs in the
    transaction of its rows (with None when none is written), and so do the links."""
    readable = [item for item in batch if item.values is not None]
    lines: list[list[str]] = []

    async def report(conn: Any, results: list[bulk.RowResult]) -> None:
        of = dict(zip((item.line for item in readable), results, strict=True))
        lines.extend(_report_line(item, of.get(item.line)) for item in batch)
        if link is not None and conn is not None:
            await link.add(conn, readable, results)
        if before_commit is not None:
            await before_commit(conn, lines)

    if readable:
        rows = [item.values for item in readable if item.values is not None]
        await imports.import_rows(
            caller,
            business_id=business_id,
            rows=rows,
            update=options.update,
            strict=options.strict,
            dry_run=dry_run,
            also=report,
        )
    else:
        await report(None, [])
    return lines


@dataclass
class Link:
    """Links each row's shop customer id to its customer on a connection (--connection)."""

    connection_id: str
    platform: str
    linked: int = 0

    @classmethod
    async def to(cls, connection_id: str, business_id: str, source: Source) -> Link:
        """The connection of the business, checked against the file: the same platform,
        and shop customer ids to link (a Shopify export's Customer ID, objects' id)."""
        connection = await ShopConnection.filter(
            id=connection_id, business_id=business_id, deleted_at=None
        ).first()
        if connection is None:
            raise ImportFileError(f"--connection {connection_id}: no such shop connection")
        if source.platform != connection.platform:
            raise ImportFileError(
                f"--connection {connection_id} is a {_PLATFORMS[connection.platform]} "
                f"connection; the file is {source.label}"
            )
        if not source.has_external_ids():
            raise ImportFileError(
                "the file has no shop customer ids to link (a Shopify export's Customer ID "
                "column, the id of WooCommerce's or Shopify's customer objects)"
            )
        return cls(connection.id, connection.platform)

    async def add(
        self, conn: Any, items: Sequence[Item], results: Sequence[bulk.RowResult]
    ) -> None:
        pairs = [
            (result.customer.id, item.external_id)
            for item, result in zip(items, results, strict=True)
            if item.external_id is not None and result.customer is not None and not result.errors
        ]
        self.linked += await shop_sync.link_all(conn, self.connection_id, self.platform, pairs)


_PLATFORMS = {"shopify": "Shopify", "woocommerce": "WooCommerce"}


async def _dry_run(
    source: Source, caller: Caller, business_id: str, options: Options, show_progress: bool
) -> Summary:
    """Every record checked and matched against the directory; nothing written."""
    summary = _described(Summary(dry_run=True), source)
    with progress("dry run", total=source.total, initial=0, enabled=show_progress) as bar:
        for batch in _batches(source.items(), options.batch_size):
            for line in await _import_batch(caller, business_id, batch, options, dry_run=True):
                summary.count(line[1], line[3])
                if line[3] and len(summary.first_problems) < FIRST_PROBLEMS:
                    summary.first_problems.append((int(line[0]), line[1], line[3]))
            bar.update(len(batch))
    return summary


def _described(summary: Summary, source: Source) -> Summary:
    """The summary with what the source says of the file (its unused names and notes
    are the source's own lists, complete once the file has been read)."""
    summary.total, summary.label = source.total, source.label
    summary.unused, summary.notes = source.unused, source.notes
    return summary


async def import_file(
    path: Path,
    *,
    business_id: str,
    report: Path,
    options: Options | None = None,
    restart: bool = False,
    dry_run: bool = False,
    show_progress: bool = True,
) -> Summary:
    """Import `path` into the business, resuming an interrupted run of the same file."""
    options = options or Options()
    if report.resolve() == path.resolve():
        raise ImportFileError("the report cannot be the file imported: name another --report")
    if not 1 <= options.batch_size <= bulk.BULK_MAX:
        raise ImportFileError(f"the batch size must be 1 to {bulk.BULK_MAX}")
    source = open_source(
        path,
        format=options.format,
        encoding=options.encoding,
        maps=options.maps,
        linking=options.connection is not None,
    )
    caller = Caller(business_id, ACTOR)
    if dry_run:
        return await _dry_run(source, caller, business_id, options, show_progress)
    run = hashlib.sha256(f"{_file_digest(path)}|{options.key()}".encode()).hexdigest()
    name = f"import:{business_id}:{run[:48]}"
    job, fresh = await Job.get_or_create(name=name, defaults={"total": source.total})
    if restart and not fresh:
        job.cursor, job.done = "", 0
        await job.save()
    if job.cursor == DONE:
        return _described(Summary(already_done=True), source)
    if job.done:
        summary = _described(_cut_report(report, int(job.cursor)), source)
    else:
        summary = _described(Summary(kept_report=_set_aside(report)), source)
        with report.open("w", newline="") as handle:
            csv.writer(handle).writerow(REPORT_HEADER)
    link = None
    if options.connection is not None:
        link = await Link.to(options.connection, business_id, source)
    last = int(job.cursor or 0)
    todo = (item for item in source.items() if item.line > last)
    with (
        progress("import", total=source.total, initial=job.done, enabled=show_progress) as bar,
        report.open("a", newline="") as handle,
    ):
        writer = csv.writer(handle)
        for batch in _batches(todo, options.batch_size):

            async def commit_with(
                conn: Any, lines: list[list[str]], batch: list[Item] = batch
            ) -> None:
                writer.writerows(lines)
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the batch's progress commits
                job.cursor, job.done = str(batch[-1].line), job.done + len(batch)
                await job.save(using_db=conn, update_fields=["cursor", "done", "updated_at"])

            lines = await _import_batch(
                caller, business_id, batch, options, before_commit=commit_with, link=link
            )
            for line in lines:
                summary.count(line[1], line[3])
            bar.update(len(batch))
    job.cursor = DONE
    await job.save(update_fields=["cursor", "updated_at"])
    summary.linked = link.linked if link is not None else 0
    return summary
