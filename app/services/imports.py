"""The rules of an import: what a row of a shop's export does to the directory.

An export is not an API call, so two rules differ from findOrCreateCustomer's:

- A bad optional value (phone, address, tin, company, even a name) does not
  cost the customer: it is left out and reported as a warning naming the
  field; ``strict`` restores "reject the row".  An email stays required.
  A name the file does not give is the email's local part, with a warning
  (``name:DEFAULTED``), since a masked key then sees it masked.
- A re-import may correct.  ``fill`` sets the fields that are empty on the
  existing customer (a name defaulted from the email counts as empty);
  ``overwrite`` replaces them with the file's non-empty values; ``find``
  (the default) changes nothing, as findOrCreateCustomer.  An update writes an
  UPDATED event with the changed fields, like updateCustomer.

Everything else is bulk find-or-create's (app.services.bulk): the same checks,
sealing, race safety and events, one transaction per batch.  ``dry_run``
does all of it but the write: existing customers are read, nothing is
changed, and the outcomes are the ones a real run would give.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from app import pacing
from app.db import reads
from app.db.transaction import transaction
from app.models import Customer, keyring
from app.models.keyring import BusinessKeys
from app.services import bulk, events, validation
from app.services.access import Caller, require_business, require_write
from app.services.customers import apply_changes, default_name
from app.services.errors import BadUserInput, UserError

#: The fields an update may change: never the email (rows are matched by it).
UPDATABLE = ("name", "phone", "address", "company_name", "tin")
DEFAULTED = "DEFAULTED"


class Update(enum.StrEnum):
    FIND = "find"
    FILL = "fill"
    OVERWRITE = "overwrite"


class _Checker:
    """Checks rows leniently (or strictly), remembering what each row gave."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        #: result index -> the values the file gave, checked (no defaulted name)
        self.given: dict[int, dict[str, str | None]] = {}

    def __call__(self, raw: object, result: bulk.RowResult) -> dict[str, str | None] | None:
        path = (bulk.PATH, str(result.index))
        assert isinstance(raw, Mapping)
        values = {key: value for key, value in raw.items() if value is not None}
        values.setdefault("email", None)
        clean, errors = validation.check_each(values, path)
        if errors and (self.strict or any(bulk.field_of(e) == "email" for e in errors)):
            result.errors.extend(errors)
            return None
        result.warnings.extend(errors)  # those values are left out
        self.given[result.index] = dict(clean)
        if "name" not in clean:
            clean["name"] = default_name(str(clean["email"]))
        return clean

    def note_defaulted(self, results: Sequence[bulk.RowResult]) -> None:
        """Warn of a name defaulted from the email where it made one: on the rows that
        created their customer (a row that found one changed no name)."""
        for result in results:
            if result.created and "name" not in self.given[result.index]:
                path = (bulk.PATH, str(result.index), "name")
                result.warnings.append(UserError(path, DEFAULTED, "Name defaulted from the email"))


def changes(customer: Customer, given: Mapping[str, str | None], mode: Update) -> dict[str, Any]:
    """What `mode` changes on `customer` from a row's values (a shop's delivery is an
    OVERWRITE of the same fields, app.services.shop_sync)."""
    changes: dict[str, Any] = {}
    for key in UPDATABLE:
        value = given.get(key)
        if value is None:
            continue  # a file never clears a field
        current = getattr(customer, key)
        empty = current is None or (key == "name" and customer.name_from_email)
        if current != value and (mode is Update.OVERWRITE or empty):
            changes[key] = value
    return changes


def _apply_rows(
    customer: Customer,
    rows: Sequence[bulk.RowResult],
    checker: _Checker,
    mode: Update,
    keys: BusinessKeys,
) -> list[str]:
    """Apply each row's changes, in file order; returns the columns to save."""
    touched: list[str] = []
    for result in rows:
        changed_values = changes(customer, checker.given[result.index], mode)
        if changed_values:
            fields, changed = apply_changes(customer, changed_values, keys)
            result.updated = [validation.RULES[key][0] for key in changed]
            touched += [f for f in fields if f not in touched]
    return touched


def _changed_names(rows: Sequence[bulk.RowResult]) -> list[str]:
    """The contract names the rows changed, in the contract's order (for one event)."""
    names = {name for result in rows for name in result.updated}
    return [api for api, _ in validation.RULES.values() if api in names]


def _update_targets(
    batch: bulk.Batch, id_of: Mapping[str, str], created_ids: set[str]
) -> dict[str, list[bulk.RowResult]]:
    """Customer id -> the rows that may update it: every row of a customer found,
    and the later rows of one this batch created."""
    targets: dict[str, list[bulk.RowResult]] = {}
    for digest, rows in batch.rows_of.items():
        customer_id = id_of[digest]
        later = rows[1:] if customer_id in created_ids else rows
        if later:
            targets[customer_id] = list(later)
    return targets


_READ_IDS = (
    "SELECT email_hash, id FROM customer "
    "WHERE business_id = $1 AND is_active AND email_hash = ANY($2)"
)


async def import_rows(
    caller: Caller,
    *,
    business_id: str,
    rows: Sequence[Mapping[str, object]],
    update: Update = Update.FIND,
    strict: bool = False,
    dry_run: bool = False,
    also: Callable[[Any, list[bulk.RowResult]], Awaitable[None]] | None = None,
) -> list[bulk.RowResult]:
    """Find, create or update the customer of each row; results in row order.

    `rows` are customers' fields by service name (app.shoppers.rules.values).
    ``also(connection, results)`` runs in the rows' transaction before it commits
    (a job saves its progress with them), or with None when nothing is written.
    """
    require_write(caller)
    require_business(caller, business_id)
    if not 1 <= len(rows) <= bulk.BULK_MAX:
        raise BadUserInput(f"Send 1 to {bulk.BULK_MAX} rows in one call")
    return await keyring.sealing(
        business_id, lambda keys: _import(caller, keys, rows, update, strict, dry_run, also)
    )


async def _import(
    caller: Caller,
    keys: BusinessKeys,
    rows: Sequence[Mapping[str, object]],
    update: Update,
    strict: bool,
    dry_run: bool,
    also: Callable[[Any, list[bulk.RowResult]], Awaitable[None]] | None,
) -> list[bulk.RowResult]:
    business_id = keys.business_id
    results = [bulk.RowResult(index) for index in range(len(rows))]
    checker = _Checker(strict)
    async with pacing.one_at_a_time(business_id):
        batch = await bulk.prepare(keys, rows, results, checker)
    if not batch.new or dry_run:
        if dry_run and batch.new:
            await _plan(keys, batch, checker, update)
        checker.note_defaulted(results)
        if also is not None:
            await also(None, results)
        return results
    actor = events.actor_of(caller)
    async with transaction() as conn:
        await keyring.hold(conn, keys)
        # Raw statements on the transaction's connection; ORM calls (the updates, the
        # job's progress) outside that block: the connection's lock is not reentrant.
        async with conn.acquire_connection() as db:
            created, views = await bulk.write(db, keys, batch)
        created_ids = {row.id for row in created}
        changes = [events.Change(business_id, r.id, events.CREATED, actor) for r in created]
        batch.settle(views, created_ids)
        if update is not Update.FIND:
            targets = _update_targets(batch, {d: v.id for d, v in views.items()}, created_ids)
            changes += await _update(conn, keys, targets, checker, update, actor)
        async with conn.acquire_connection() as db:
            await events.record(db, changes)
        checker.note_defaulted(results)
        if also is not None:
            await also(conn, results)
    return results


async def _update(
    conn: Any,
    keys: BusinessKeys,
    targets: dict[str, list[bulk.RowResult]],
    checker: _Checker,
    update: Update,
    actor: str,
) -> list[events.Change]:
    """Lock the customers to update (in id order: concurrent imports do not deadlock),
    apply their rows and save them; their UPDATED events."""
    business_id = keys.business_id
    query = Customer.filter(business_id=business_id, id__in=list(targets)).order_by("id")
    changes = []
    for customer in await query.select_for_update().using_db(conn):
        rows_of = targets[customer.id]
        touched = _apply_rows(customer, rows_of, checker, update, keys)
        if touched:
            await customer.save(update_fields=touched, using_db=conn)
            changed = _changed_names(rows_of)
            changes.append(events.Change(business_id, customer.id, events.UPDATED, actor, changed))
    return changes


async def _plan(keys: BusinessKeys, batch: bulk.Batch, checker: _Checker, update: Update) -> None:
    """A dry run's outcomes: existing customers are read, never locked or written;
    the ones the batch would create exist in memory only.  (While the business's rows
    move to a new key, one still indexed under the old key counts as new here.)"""
    business_id = keys.business_id
    existing = dict(await reads.fetch(_READ_IDS, business_id, list(batch.new)))
    id_of = {d: existing.get(d) or batch.new[d]["id"] for d in batch.new}
    created_ids = {id_of[d] for d in batch.new if d not in existing}
    for digest, rows_of in batch.rows_of.items():
        rows_of[0].created = id_of[digest] in created_ids
    if update is Update.FIND:
        return
    targets = _update_targets(batch, id_of, created_ids)
    customers = {d: Customer(**batch.new[d]) for d in batch.new if d not in existing}
    loaded = await Customer.filter(business_id=business_id, id__in=list(targets))
    by_id = {c.id: c for c in [*customers.values(), *loaded]}
    for customer_id, rows_of in targets.items():
        if customer_id in by_id:
            _apply_rows(by_id[customer_id], rows_of, checker, update, keys)
