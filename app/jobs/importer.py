"""`finora import`: customers from a CSV or JSON Lines file, through bulk find-or-create.

A shop's export goes through the very function the API's bulk mutation calls
(app.services.bulk), in batches, so the rules are the API's.  Each input row
gets one line in a CSV report: its line number, the outcome (created, found,
failed), the customer id or the error codes; never a value from the file.

Resuming: progress lives in the ``job`` table under the file's SHA-256 and the
business, and each batch commits together with it.  The batch's report lines
are written (and synced) just before that commit; a run that resumes first cuts
the report back to the last committed line, so a kill at any point leaves
neither a duplicate customer nor a missing or doubled report line.  A finished
import is remembered: running it again says so (``--restart`` runs it anew,
and rows already imported are then reported as found).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from app.db.transaction import transaction
from app.jobs.batches import progress
from app.models import Job
from app.services import bulk
from app.services.access import Caller

#: The fields of FindOrCreateCustomerInput, as CSV headers and JSON keys.
FIELDS = ("email", "name", "phone")
REPORT_HEADER = ("line", "outcome", "customer_id", "errors")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
DONE = "done"
ACTOR = "cli"


class ImportFileError(Exception):
    """The file (or its report) cannot be imported; the message says why, without values."""


@dataclass(frozen=True)
class Row:
    line: int
    #: Field -> value as read; None when the line could not be read at all.
    values: Any
    problem: str | None = None


@dataclass
class Summary:
    total: int = 0
    created: int = 0
    found: int = 0
    failed: int = 0
    #: Rows done by an earlier, interrupted run (0 for a fresh one).
    resumed_after: int = 0
    already_done: bool = False
    ignored_columns: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        self.created += outcome == "created"
        self.found += outcome == "found"
        self.failed += outcome == "failed"


# Reading ---------------------------------------------------------------------


def is_jsonl(path: Path) -> bool:
    """By extension, else by content: a JSON Lines file starts with "{"."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return False
    if suffix in JSONL_SUFFIXES:
        return True
    with path.open("rb") as raw:
        return raw.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _csv_rows(handle: IO[str], ignored: list[str]) -> Iterator[Row]:
    reader = csv.reader(handle)
    header = next(reader, None)
    columns = [name.strip() for name in header or ()]
    if "email" not in columns:
        raise ImportFileError(
            "the first line must be a header naming the columns: email, and optionally "
            + ", ".join(FIELDS[1:])
        )
    ignored.extend(name for name in columns if name not in FIELDS)
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue  # a blank line is no row
        yield Row(
            line, {name: v for name, v in zip(columns, record, strict=False) if name in FIELDS}
        )


def _jsonl_rows(handle: IO[str]) -> Iterator[Row]:
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError:
            yield Row(line, None, "UNREADABLE")
            continue
        if isinstance(value, dict):
            value = {name: v for name, v in value.items() if name in FIELDS}
        yield Row(line, value)  # anything but an object is the service's INVALID


def read_rows(path: Path, ignored: list[str] | None = None) -> Iterator[Row]:
    """The file's rows in order, with their line numbers (the header is line 1)."""
    jsonl = is_jsonl(path)
    ignored = [] if ignored is None else ignored
    try:
        with path.open(encoding="utf-8-sig", newline="" if not jsonl else None) as handle:
            yield from _jsonl_rows(handle) if jsonl else _csv_rows(handle, ignored)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name} is not UTF-8 text") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path.name} is not valid CSV ({exc.__class__.__name__})") from None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# The report --------------------------------------------------------------------


def _report_line(row: Row, result: bulk.RowResult | None) -> list[str]:
    if result is None:  # the line could not be read
        return [str(row.line), "failed", "", str(row.problem)]
    if result.errors:
        codes = ";".join(
            f"{name}:{e.code}" if (name := bulk.field_of(e)) else e.code for e in result.errors
        )
        return [str(row.line), "failed", "", codes]
    assert result.customer is not None
    return [str(row.line), "created" if result.created else "found", result.customer.id, ""]


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
                summary.count(record[1])
    with report.open("w", newline="") as handle:
        csv.writer(handle).writerows([list(REPORT_HEADER), *kept])
    summary.resumed_after = len(kept)
    return summary


# The job -----------------------------------------------------------------------


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(islice(rows, size)):
        yield batch


async def import_file(
    path: Path,
    *,
    business_id: str,
    report: Path,
    batch_size: int = bulk.BULK_MAX,
    restart: bool = False,
    show_progress: bool = True,
) -> Summary:
    """Import `path` into the business, resuming an interrupted run of the same file."""
    if not 1 <= batch_size <= bulk.BULK_MAX:
        raise ImportFileError(f"the batch size must be 1 to {bulk.BULK_MAX}")
    ignored: list[str] = []
    total = sum(1 for _ in read_rows(path, ignored))  # reads it all once: errors come first
    name = f"import:{business_id}:{file_digest(path)[:48]}"
    job, fresh = await Job.get_or_create(name=name, defaults={"total": total})
    if restart and not fresh:
        job.cursor, job.done = "", 0
        await job.save()
    if job.cursor == DONE:
        return Summary(total=total, already_done=True, ignored_columns=ignored)
    if job.done:
        summary = _cut_report(report, int(job.cursor))
    else:
        summary = Summary()
        with report.open("w", newline="") as handle:
            csv.writer(handle).writerow(REPORT_HEADER)
    summary.total, summary.ignored_columns = total, ignored
    caller = Caller(business_id, ACTOR)
    last = int(job.cursor or 0)
    todo = (row for row in read_rows(path) if row.line > last)
    with (
        progress("import", total=total, initial=job.done, enabled=show_progress) as bar,
        report.open("a", newline="") as handle,
    ):
        writer = csv.writer(handle)
        for batch in _batches(todo, batch_size):
            readable = [row for row in batch if row.problem is None]
            async with transaction() as conn:
                results: dict[int, bulk.RowResult] = {}
                if readable:
                    outcome = await bulk.find_or_create_customers(
                        caller, business_id=business_id, inputs=[row.values for row in readable]
                    )
                    results = {
                        row.line: r for row, r in zip(readable, outcome.results, strict=True)
                    }
                lines = [_report_line(row, results.get(row.line)) for row in batch]
                writer.writerows(lines)
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the batch commits
                job.cursor, job.done = str(batch[-1].line), job.done + len(batch)
                await job.save(using_db=conn, update_fields=["cursor", "done", "updated_at"])
            for line in lines:
                summary.count(line[1])
            bar.update(len(batch))
    job.cursor = DONE
    await job.save(update_fields=["cursor", "updated_at"])
    return summary
