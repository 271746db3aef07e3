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
  (a line torn by the kill is cut off), once its lines are found to be the
  business's customers as they are now (else it is refused); ``--restart``
  starts it over.  A partial
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
from typing import IO, Any

from app.crypto.cipher import DecryptionError
from app.db.reads import fetch
from app.http.responses import format_instant
from app.jobs.batches import progress, unreadable
from app.models import Business, ExternalLink, keyring
from app.models.records import CustomerRecord
from app.rest.serialize import contract_json, external_ids_json
from app.services.shops import links_of

BATCH = 1000
SUFFIX = ".partial"
_AFTER = f"SELECT {CustomerRecord.select} FROM customer WHERE business_id = $1 AND id > $2"
_KEPT = (
    "SELECT id, updated_at FROM customer WHERE business_id = $1 AND id > $2 ORDER BY id LIMIT $3"
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


async def _resume_point(file: IO[bytes], path: Path, business_id: str) -> tuple[int, str]:
    """(complete lines, the last one's id) of a killed run's file, cut after its last
    complete line; (0, "") for a new file.

    The kept lines must be the business's customers as they are now, walked in step
    with its ids (a batch at a time: memory stays flat): the same ids, or a customer
    left out as unreadable would stay out of the resumed file, unreported; and each
    line's updatedAt still the row's, or an erasure since would publish the erased
    data.  Otherwise the run is refused (--restart)."""
    lines, end, last = 0, 0, ""
    rows: list[Any] = []
    at = 0
    for line in file:
        if not line.endswith(b"\n"):
            break  # torn by the kill
        kept = _parsed(path, line)
        if lines == 0 and kept.get("businessId") != business_id:
            raise ExportError(f"{path} is an export of another business; remove it or --restart")
        if at == len(rows):
            rows, at = await fetch(_KEPT, business_id, last, CHECK_BATCH), 0
        if (
            at == len(rows)
            or rows[at]["id"] != kept.get("id")
            or format_instant(rows[at]["updated_at"]) != kept.get("updatedAt")
        ):
            raise ExportError(
                f"{path} no longer matches the business (a customer changed, was erased "
                "or was left out since it was written): run again with --restart"
            )
        at, lines, end, last = at + 1, lines + 1, end + len(line), rows[at]["id"]
    file.seek(end)
    file.truncate()
    return lines, last


def _parsed(path: Path, line: bytes) -> dict[str, Any]:
    try:
        kept = json.loads(line)
    except ValueError:
        kept = None
    if not isinstance(kept, dict):
        raise ExportError(f"{path} is not a customer export; remove it or --restart")
    return kept


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
    try:
        await keyring.of(business_id)  # its values open under its data key
    except keyring.KeysGone:
        raise ExportError(f"business {business_id} was offboarded: nothing of it reads") from None
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
        kept, after = await _resume_point(file, partial, business_id)
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
