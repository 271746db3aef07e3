"""Bulk find-or-create: up to 500 inputs in one call, one transaction, few statements.

A shop syncing 20,000 shoppers should not need 20,000 requests.  The rules are
the single path's: the same checks and default name
(``customers.find_or_create_data``), the same row (``customers.new_row``: the id
is made before encryption, since the AAD binds each value to it; blind index;
search tokens), sealed by the model's own encrypted field.  Rows are written as
plain values, not Tortoise models: at 500 rows a call, building models cost
more than the insert.

Race safety comes from the same place as for a single call, the partial unique
index on (business_id, email_hash) of active customers, never from a read before
the write: the new rows go into one ``INSERT ... SELECT FROM unnest(column
arrays) ON CONFLICT DO NOTHING RETURNING id``; a row that conflicted was created
by someone else and is read back by its email hash.  Rows are inserted in
email-hash order, so two bulk calls sharing emails wait for each other instead
of deadlocking.  A winner soft-deleted
between our insert and our read is retried, as in the single path.

Checking and sealing a row costs about a tenth of a millisecond, so a full call
is some 60 ms of CPU: it takes turns on the event loop (app.pacing) a slice of
rows at a time, so other requests of the process are not held behind it.  Calls
of one business check and seal one after the other (``pacing.one_at_a_time``),
not in alternate slices: the first then writes while the next is checked, so the
database and the server work at once instead of taking turns being idle.

Rows are independent: a row with userErrors takes no part in the write and the
others still run.  Rows with one email resolve to one customer: the first creates
it (if none exists), later rows find it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app import meter, pacing
from app.db.transaction import transaction
from app.models import keyring, records
from app.models.keyring import BusinessKeys
from app.models.records import CustomerRecord, CustomerView
from app.models.stored import Columns, as_stored, columns_of, db_values, insert_sql, record_of
from app.services import events
from app.services.access import Caller, require_business, require_write
from app.services.customers import (
    FIND_OR_CREATE_TRIES,
    find_or_create_data,
    new_row,
)
from app.services.errors import BadUserInput, InvalidInput, RateLimited, UserError

BULK_MAX = 500
PATH = "inputs"


@dataclass
class RowResult:
    """The outcome of one input, at its position."""

    index: int
    customer: CustomerView | None = None
    created: bool = False
    errors: list[UserError] = field(default_factory=list)
    #: Problems that did not stop the row (an import leaves a bad optional value out).
    warnings: list[UserError] = field(default_factory=list)
    #: Contract names of the fields an import's update changed (app.services.imports).
    updated: list[str] = field(default_factory=list)


def field_of(error: UserError) -> str | None:
    """The input field a row's error is about (paths are (inputs, index, field)), or None."""
    return error.field[2] if error.field is not None and len(error.field) > 2 else None


@dataclass(frozen=True)
class BulkOutcome:
    results: list[RowResult]
    #: The customers this call inserted, all in one transaction (for its change events).
    created: list[CustomerRecord]

    @property
    def created_count(self) -> int:
        return len(self.created)

    @property
    def failed_count(self) -> int:
        return sum(1 for r in self.results if r.errors)

    @property
    def found_count(self) -> int:
        return len(self.results) - self.created_count - self.failed_count


_READ_ACTIVE = (
    f"SELECT email_hash, {records.SELECT} FROM customer "
    "WHERE business_id = $1 AND is_active AND email_hash = ANY($2)"
)


#: Checks one input: its values, or None with its errors recorded on the result.
Check = Callable[[object, RowResult], dict[str, str | None] | None]


def _checked(raw: object, result: RowResult) -> dict[str, str | None] | None:
    """One input's checked values, or None with its errors recorded on `result`."""
    path = (PATH, str(result.index))
    if not isinstance(raw, Mapping):
        result.errors.append(UserError(path, "INVALID", "Each input must be an object"))
        return None
    try:
        return find_or_create_data(
            email=raw.get("email"), name=raw.get("name"), phone=raw.get("phone"), path=path
        )
    except InvalidInput as invalid:
        result.errors.extend(invalid.errors)
        return None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a slice of a batch's rows is built.

    The loop makes tens of thousands of objects and no reference cycles; left on,
    the collector runs dozens of times per call, scanning the batch each time
    (about a seventh of a call's CPU).  Nothing awaits inside, so no other
    request runs meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Batch:
    """What a call will write: per email hash, the row its first input creates (if none
    exists), that row's own column values, sealed, and the results of its inputs, in
    order; and the values its rows share."""

    new: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, list[Any]] = field(default_factory=dict)
    rows_of: dict[str, list[RowResult]] = field(default_factory=dict)
    columns: Columns | None = None
    shared: list[Any] = field(default_factory=list)

    def add(
        self, keys: BusinessKeys, result: RowResult, raw: object, now: datetime, check: Check
    ) -> None:
        data = check(raw, result)
        if data is None:
            return
        row = new_row(keys, data)  # a repeated email's row is simply not used
        digest = row["email_hash"]
        if digest not in self.new:
            stored = self.new[digest] = as_stored(row, now)
            if self.columns is None:
                self.columns = columns_of(frozenset(row))
                self.shared = [stored[name] for name in self.columns.shared]
            self.values[digest] = db_values(self.columns, stored, keys.write)
        self.rows_of.setdefault(digest, []).append(result)

    def settle(self, found: Mapping[str, CustomerView], created_ids: set[str]) -> None:
        """Give each input the customer of its email; the first input of each email
        created it when its id is among `created_ids`."""
        for digest, rows in self.rows_of.items():
            for result in rows:
                result.customer = found[digest]
            rows[0].created = found[digest].id in created_ids


async def prepare(
    keys: BusinessKeys,
    inputs: Sequence[object],
    results: list[RowResult],
    check: Check = _checked,
) -> Batch:
    """Check every input; build and seal the row each email's first input would create.

    About 0.12 ms a row: a full call would hold the event loop for 60 ms, so it
    takes turns (app.pacing) with the other requests of the process, a slice
    of rows at a time.
    """
    now = datetime.now(UTC)
    batch = Batch()
    pending = iter(zip(results, inputs, strict=True))
    async with pacing.heavy(every=1) as turn:
        while True:
            with _collector_paused():
                for result, raw in pending:
                    batch.add(keys, result, raw, now, check)
                    if turn.due():
                        break
                else:
                    return batch
            await turn.pause()


async def write(
    db: Any, keys: BusinessKeys, batch: Batch
) -> tuple[list[CustomerRecord], dict[str, CustomerView]]:
    """Insert the batch's rows where no active customer has the email; read the others'
    customers.  Returns the rows inserted and the customer of every email hash.

    The transaction holds the business's writing key (``keyring.hold``), so while its
    rows move to a new key, the emails some still index under the old one are read
    first (see ``customers.held_elsewhere``).
    """
    new, values, columns = batch.new, batch.values, batch.columns
    assert columns is not None  # a batch with new rows has their columns
    business_id = keys.business_id
    pending = sorted(new)  # hash order: concurrent bulk calls lock rows in one order
    created: list[CustomerRecord] = []
    found: dict[str, CustomerView] = {}
    if keys.moving:
        elsewhere = {o: d for d in pending for o in keys.digests(new[d]["email"])[1:]}
        for row in await db.fetch(_READ_ACTIVE, business_id, list(elsewhere)):
            found[elsewhere[row[0]]] = CustomerRecord(tuple(row)[1:])
        pending = [digest for digest in pending if digest not in found]
    for _ in range(FIND_OR_CREATE_TRIES):
        if not pending:
            return created, found
        arrays = [list(column) for column in zip(*(values[d] for d in pending), strict=True)]
        inserted = {row[0] for row in await db.fetch(insert_sql(columns), *arrays, *batch.shared)}
        lost = []
        for digest in pending:
            if new[digest]["id"] in inserted:
                found[digest] = record_of(new[digest])
                created.append(found[digest])
            else:
                lost.append(digest)
        if lost:
            for row in await db.fetch(_READ_ACTIVE, business_id, lost):
                found[row[0]] = CustomerRecord(tuple(row)[1:])
        pending = [digest for digest in lost if digest not in found]
        if not pending:
            return created, found
    raise RuntimeError("bulk find-or-create did not settle")  # deleted and re-created, repeatedly


async def find_or_create_customers(
    caller: Caller, *, business_id: str, inputs: Sequence[object]
) -> BulkOutcome:
    """findOrCreateCustomer for 1 to 500 inputs, in one transaction; results in input order."""
    require_write(caller)
    require_business(caller, business_id)
    if not 1 <= len(inputs) <= BULK_MAX:
        raise BadUserInput(f"Send 1 to {BULK_MAX} inputs in one call")
    wait = meter.pay_rows(len(inputs))
    if wait:
        raise RateLimited(wait)
    return await keyring.sealing(business_id, lambda keys: _find_or_create(caller, keys, inputs))


async def _find_or_create(
    caller: Caller, keys: BusinessKeys, inputs: Sequence[object]
) -> BulkOutcome:
    business_id = keys.business_id
    results = [RowResult(index) for index in range(len(inputs))]
    # One call of the business at a time here: two calls sliced in alternation would
    # both reach the database together and leave the loop idle while it writes.
    async with pacing.one_at_a_time(business_id):
        batch = await prepare(keys, inputs, results)
    created: list[CustomerRecord] = []
    if batch.new:
        # Heavy work too, while the database writes: another call's slices need not
        # leave the loop half idle for this one (app.pacing), whose one next step
        # is reading the answer.
        with meter.heavy_work():
            async with transaction() as conn:
                await keyring.hold(conn, keys)
                async with conn.acquire_connection() as db:
                    created, found = await write(db, keys, batch)
                    actor = events.actor_of(caller)
                    changes = [
                        events.Change(business_id, row.id, events.CREATED, actor) for row in created
                    ]
                    await events.record(db, changes)
        batch.settle(found, {row.id for row in created})
    return BulkOutcome(results=results, created=created)
