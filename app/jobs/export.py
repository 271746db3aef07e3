"""`finora business export ID --out FILE`: every customer of a business, as JSON Lines.

What a business leaving Finora takes with it before it is offboarded: every
customer it has (active, deleted and erased, the erased ones with the empty
values erasure left), one customer a line, decrypted, with its externalIds.

A line is the customer as the contract names it: every field of ``Customer``
(``erasedAt`` included) and ``externalIds``, written by the data subject's copy's
mapping (app.rest.serialize.contract_json and external_ids_json, the names and
formats of both APIs),
so the two exports cannot disagree on a name or a format.  Change events are
not in it: they are the data subject's copy's (``exportCustomerData``).

Customers are read by id in keyset batches (never all at once: memory stays
flat with size).  An id never changes, so a customer renamed meanwhile is
neither skipped nor written twice, and the last line's id is the cursor.  Each
batch is read as it then is: a customer created during the export may be left
out (run it once the business has stopped writing).

Resumable, with the file as the only state:
- The lines go to ``FILE.partial``; ``FILE`` appears, by a rename, only once every
  customer is in it, so a killed export never leaves a half file under the final
  name.
- The same command again continues ``FILE.partial`` after its last complete line
  (a line torn by the kill is cut off); ``--restart`` starts it over.  A partial
  file of another business, or one this user cannot be sure is private, is
  refused, and so is a second export writing the same file (an flock).

Private from the first byte: ``FILE.partial`` is created with ``O_EXCL`` and mode
0600 in the same call (never a moment with another mode, never through a
symlink), and the rename keeps it.  An existing ``FILE`` is refused unless
``--force``: an export holds every customer's PII, and overwriting a file is not
something to do by a typo; with ``--force`` it is replaced in one rename at the
end, and stays as it was until then.

A value that does not open (damaged, or moved from another row) must not stop
the export of every other customer: that customer is left out and its id
logged (app.jobs.batches.unreadable), and the summary names it, so the command
can say the export is not complete (it exits non-zero).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from app.crypto.cipher import DecryptionError
from app.db.reads import fetch
from app.http.responses import format_instant
from app.jobs.batches import progress, unreadable
from app.models import Business, ExternalLink
from app.models.records import CustomerRecord
from app.rest.serialize import contract_json, external_ids_json
from app.services.shops import links_of

BATCH = 1000
SUFFIX = ".partial"
_AFTER = f"SELECT {CustomerRecord.select} FROM customer WHERE business_id = $1 AND id > $2"
_SINCE = (
    "SELECT id, updated_at FROM customer WHERE business_id = $1 AND id > $2 AND id <= $3 "
    "ORDER BY id LIMIT $4"
)
#: Ids read at a time when a resumed run checks its kept lines.
CHECK_BATCH = 5000


class ExportError(Exception):
    """A refusal, in one line for the operator; nothing under the final name."""


@dataclass
class Summary:
    #: Lines in the file: customers exported, by this run and a killed one.
    written: int = 0
    #: Lines kept from a killed run (0 when the export started afresh).
    resumed_after: int = 0
    #: Customers left out because a value does not open (ids, never values).
    unreadable: list[str] = field(default_factory=list)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + SUFFIX)


def customer_line(row: CustomerRecord, links: list[ExternalLink]) -> bytes:
    """One line: the customer's contract fields and its externalIds, decrypted."""
    line = {**contract_json(row), "externalIds": external_ids_json(links)}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _open_partial(path: Path) -> IO[bytes]:
    """``FILE.partial``, created private, or a killed run's (checked to be private), locked."""
    flags = os.O_RDWR | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fd = os.open(path, flags)
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
            os.close(fd)
            raise ExportError(f"{path} is not a private file of this user; remove it") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ExportError(f"another export is writing {path}") from None
    return os.fdopen(fd, "r+b")


def _resume_point(file: IO[bytes], path: Path, business_id: str) -> tuple[int, str]:
    """(complete lines, the last one's id) of a killed run's file, cut after its last
    complete line; (0, "") for a new file.  Read line by line: memory stays flat."""
    lines, end, last = 0, 0, b""
    for line in file:
        if not line.endswith(b"\n"):
            break  # torn by the kill
        if lines == 0 and _field(path, line, "businessId") != business_id:
            raise ExportError(f"{path} is an export of another business; remove it or --restart")
        lines, end, last = lines + 1, end + len(line), line
    file.seek(end)
    file.truncate()
    return lines, _field(path, last, "id") if lines else ""


async def _still_current(file: IO[bytes], business_id: str, after: str) -> bool:
    """Whether the kept lines are the business's customers up to `after` as they are
    now: the same ids (a customer left out as unreadable would otherwise stay out of
    the resumed file, unreported) and each line's updatedAt still the row's (an erasure
    since must not publish the erased data).  The file and the ids walk in step, a
    batch at a time: memory stays flat.  The file is left at its end."""
    end = file.tell()
    file.seek(0)
    try:
        last = ""
        while True:
            rows = await fetch(_SINCE, business_id, last, after, CHECK_BATCH)
            for row in rows:
                line = file.readline()
                if not line or file.tell() > end:
                    return False
                kept = json.loads(line)
                if kept["id"] != row["id"] or kept["updatedAt"] != format_instant(
                    row["updated_at"]
                ):
                    return False
            if len(rows) < CHECK_BATCH:
                return file.tell() == end
            last = rows[-1]["id"]
    finally:
        file.seek(end)


def _field(path: Path, line: bytes, name: str) -> str:
    try:
        return str(json.loads(line)[name])
    except (ValueError, KeyError, TypeError):
        raise ExportError(f"{path} is not a customer export; remove it or --restart") from None


async def _batches(business_id: str, after: str, size: int) -> AsyncIterator[list[CustomerRecord]]:
    """The business's customers after id `after`, by id, `size` at a time."""
    while True:
        rows = await fetch(f"{_AFTER} ORDER BY id LIMIT $3", business_id, after, size)
        if not rows:
            return
        batch = [CustomerRecord(row) for row in rows]
        yield batch
        after = batch[-1].id


async def _remaining(business_id: str, after: str) -> int:
    rows = await fetch(
        "SELECT count(*) FROM customer WHERE business_id = $1 AND id > $2", business_id, after
    )
    return int(rows[0][0])


def _publish(partial: Path, out: Path, *, force: bool) -> None:
    """The complete file under its final name, in one step."""
    if force:
        os.replace(partial, out)
        return
    try:
        os.link(partial, out)  # fails if `out` appeared meanwhile: never replaced unasked
    except FileExistsError:
        raise ExportError(
            f"{out} exists (--force replaces it); the export is in {partial}"
        ) from None
    except OSError as exc:
        raise ExportError(
            f"cannot name the export {out} ({exc.strerror}); it is in {partial}"
        ) from None
    os.unlink(partial)


async def export_business(
    business_id: str,
    out: Path,
    *,
    force: bool = False,
    restart: bool = False,
    show_progress: bool = True,
    batch_size: int = BATCH,
) -> Summary:
    """Write every customer of the business to `out` (see the module docstring)."""
    if not await Business.exists(id=business_id):
        raise ExportError(f"no business with id {business_id}")
    if out.is_dir() or (out.exists() and not force):
        raise ExportError(f"{out} exists; choose another file, or --force to replace it")
    partial = partial_path(out)
    try:
        file = _open_partial(partial)
    except FileNotFoundError:
        raise ExportError(f"no such directory: {out.parent}") from None
    except OSError as exc:
        raise ExportError(f"cannot write {partial} ({exc.strerror})") from None
    summary = Summary()
    with file:
        if restart:
            file.truncate(0)
        kept, after = _resume_point(file, partial, business_id)
        if kept and not await _still_current(file, business_id, after):
            raise ExportError(
                f"{partial} no longer matches the business (a customer changed, was erased "
                "or was left out since it was written): run again with --restart"
            )
        summary.written = summary.resumed_after = kept
        total = kept + await _remaining(business_id, after)
        shown = show_progress and total > kept
        with progress("export", total=total, initial=kept, enabled=shown) as bar:
            async for batch in _batches(business_id, after, batch_size):
                links = await links_of([row.id for row in batch])
                for row in batch:
                    try:
                        file.write(customer_line(row, links[row.id]))
                    except DecryptionError:
                        unreadable(row.id)
                        summary.unreadable.append(row.id)
                        continue
                    summary.written += 1
                bar.update(len(batch))
        file.flush()
        os.fsync(file.fileno())
        _publish(partial, out, force=force)  # still locked: no other export is writing it
    return summary
