"""Customer rules: create, find-or-create, update, soft delete, lists and search.

Every function is scoped to the caller's business.  A customer of another
business is treated exactly like a missing one, so no existence leaks.
Uniqueness of active emails is the database's job (a partial unique index on
the email blind index): we insert and handle the conflict, never read-then-write.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from app.db import statistics
from app.db.reads import fetch, written
from app.db.transaction import transaction
from app.ids import new_id, well_formed
from app.models import Customer, keyring, stored
from app.models.keyring import BusinessKeys
from app.models.records import CustomerRecord, CustomerView
from app.services import cursor, events, validation
from app.services.access import Caller, require_business, require_write
from app.services.errors import BadUserInput, InvalidInput, UserError
from app.services.masking import MaskedCustomerRecord, name_hidden

LIST_MAX = 100
#: The order of every list: lowercased name in code-point order (the columns are
#: COLLATE "C"), then id.
IN_ORDER = "ORDER BY name_lower, id"
EMAIL_INDEX = "customer_active_email_uidx"
FIND_OR_CREATE_TRIES = 3


@dataclass(frozen=True)
class Page:
    customers: list[CustomerRecord]
    has_next_page: bool
    business_id: str

    async def total_count(self) -> int:
        """Read only when a caller asks for it: a page alone runs no count."""
        return await count_active(self.business_id)

    @property
    def end_cursor(self) -> str | None:
        return cursor_of(self.customers[-1]) if self.customers else None


def cursor_of(customer: CustomerView) -> str:
    """The position after a row in list order.  A plain cursor carries the lowercased
    name, so a masked key's cursor after a hidden name is sealed instead."""
    sealed = isinstance(customer, MaskedCustomerRecord) and name_hidden(customer.name_from_email)
    return cursor.encode(customer.name_lower, customer.id, sealed=sealed)


def email_hash_of(keys: BusinessKeys, email: str) -> str:
    """The email's blind index as the business writes it now."""
    return keys.write.email_index.digest(keys.business_id, email)


async def held_elsewhere(keys: BusinessKeys, email: str, but: str | None = None) -> bool:
    """While a business's rows move to a new key, whether an active customer (other
    than `but`) has the email under the key it is leaving.

    Such a row's blind index is the old key's, so the unique index cannot see it.
    No write under that key can start any more (keyring.guard), and moving a row
    to the new key keeps it visible to this read or to the unique index, so the
    read before a write is enough.
    """
    if not keys.moving:
        return False
    rows = await fetch(
        "SELECT 1 FROM customer WHERE business_id = $1 AND is_active "
        "AND email_hash = ANY($2) AND id IS DISTINCT FROM $3 LIMIT 1",
        keys.business_id,
        keys.digests(email)[1:],
        but,
    )
    return bool(rows)


def is_email_conflict(exc: IntegrityError) -> bool:
    """Whether an insert or update lost to another active customer with the email."""
    cause = exc.args[0] if exc.args else None
    return getattr(cause, "constraint_name", None) == EMAIL_INDEX


def _taken() -> InvalidInput:
    return InvalidInput(
        [UserError(("input", "email"), "TAKEN", "Another active customer already has this email")]
    )


def _event(
    caller: Caller, customer: Customer, kind: str, fields: list[str] | None = None
) -> list[events.Change]:
    changed = [validation.RULES[key][0] for key in fields or ()]
    actor = events.actor_of(caller)
    return [events.Change(customer.business_id, customer.id, kind, actor, changed)]


def _not_found() -> InvalidInput:
    return InvalidInput([UserError(("id",), "NOT_FOUND", "No such customer")])


def active(business_id: str) -> QuerySet[Customer]:
    return Customer.filter(business_id=business_id, is_active=True)


def after_cursor(first_param: int) -> str:
    """SQL for the rows after a cursor, (name_lower, id) = ($n, $n+1), in list order."""
    return f"(name_lower, id) > (${first_param}, ${first_param + 1})"


def _check_limit(value: int, name: str) -> None:
    if not 1 <= value <= LIST_MAX:
        raise BadUserInput(f"{name} must be between 1 and {LIST_MAX}")


# Reads ---------------------------------------------------------------------


def record_type(caller: Caller) -> type[CustomerRecord]:
    """How this caller sees a customer: in clear, or masked (read_masked keys)."""
    return MaskedCustomerRecord if caller.masked else CustomerRecord


async def _records(
    where: str, *params: Any, kind: type[CustomerRecord] = CustomerRecord
) -> list[CustomerRecord]:
    """Customers as records."""
    rows = await fetch(f"SELECT {kind.select} FROM customer WHERE {where}", *params)
    return [kind(row) for row in rows]


async def get_customer(caller: Caller, customer_id: str) -> Customer | None:
    """One customer of the caller's business, active or not, as a model (to change it)."""
    if not well_formed(customer_id, "cust"):
        return None
    return await Customer.filter(id=customer_id, business_id=caller.business_id).first()


async def read_customer(caller: Caller, customer_id: str) -> CustomerRecord | None:
    """One customer of the caller's business, active or not, to show."""
    if not well_formed(customer_id, "cust"):
        return None
    rows = await _records(
        "id = $1 AND business_id = $2", customer_id, caller.business_id, kind=record_type(caller)
    )
    return rows[0] if rows else None


async def read_customers(
    business_id: str, ids: list[str], *, kind: type[CustomerRecord] = CustomerRecord
) -> list[CustomerRecord]:
    """These customers of the business, in the order of `ids`."""
    found = await _records("business_id = $1 AND id = ANY($2)", business_id, ids, kind=kind)
    rows = {r.id: r for r in found}
    return [rows[i] for i in ids if i in rows]


async def list_customers(caller: Caller, *, business_id: str, limit: int) -> list[CustomerRecord]:
    """Active customers by name, at most `limit` (1 to 100)."""
    require_business(caller, business_id)
    _check_limit(limit, "limit")
    return await _records(
        f"business_id = $1 AND is_active {IN_ORDER} LIMIT $2",
        business_id,
        limit,
        kind=record_type(caller),
    )


async def customer_page(caller: Caller, *, business_id: str, first: int, after: str | None) -> Page:
    """A keyset page of active customers by name; `after` is an opaque cursor."""
    require_business(caller, business_id)
    _check_limit(first, "first")
    if after is None:
        rows = await _records(
            f"business_id = $1 AND is_active {IN_ORDER} LIMIT $2",
            business_id,
            first + 1,
            kind=record_type(caller),
        )
    else:
        name_lower, last_id = cursor.decode(after)
        rows = await _records(
            f"business_id = $1 AND is_active AND {after_cursor(2)} {IN_ORDER} LIMIT $4",
            business_id,
            name_lower,
            last_id,
            first + 1,
            kind=record_type(caller),
        )
    return Page(customers=rows[:first], has_next_page=len(rows) > first, business_id=business_id)


async def count_active(business_id: str) -> int:
    """Active customers of the business, exact, at any size.

    Not a count of rows (linear in the business): the sum of the business's
    slots in ``customer_count``, which triggers on ``customer`` keep in the same
    transaction as every insert, soft delete and restore (see the migrations).
    """
    rows = await fetch(
        "SELECT coalesce(sum(active), 0)::bigint FROM customer_count WHERE business_id = $1",
        business_id,
    )
    return int(rows[0][0])


# Writes --------------------------------------------------------------------


def default_name(email: str) -> str:
    """The name of a customer found or created without one: the email's local part."""
    return email.rsplit("@", 1)[0][: validation.NAME_MAX]


def name_from_email(name_lower: str, email: str) -> bool:
    """Whether a name gives its email's local part away: the default name, or one
    written the same (case aside), which shows just as much.

    Names are in clear for read_masked keys; such a name is not (app.services.masking),
    and their search skips it.  Every write that sets a name or an email records
    the answer in ``name_from_email``: create and find-or-create (single, bulk,
    import) through ``new_row``, ``update_customer``, and the backfill of older rows
    (app.jobs.reindex).
    """
    return name_lower == default_name(email)


def new_row(keys: BusinessKeys, data: Mapping[str, str | None]) -> dict[str, Any]:
    """The values of a new customer, indexes included: shared by the single and bulk paths.

    The id is made here, before anything is sealed: the AAD binds each value to it.
    Indexes are under the business's writing key, and so will its values be sealed.
    """
    name = data["name"]
    email = data["email"]
    assert name is not None and email is not None
    name_lower = name.lower()
    business_id = keys.business_id
    tokens, short = keys.write.search_tokens.for_rows(business_id, name_lower, email)
    return {
        "id": new_id("cust"),
        "business_id": business_id,
        "key_id": keys.write.id,
        "name": name,
        "name_lower": name_lower,
        "name_from_email": name_from_email(name_lower, email),
        "email": email,
        "email_hash": email_hash_of(keys, email),
        "search_tokens": tokens,
        "short_tokens": short,
        "phone": data.get("phone"),
        "address": data.get("address"),
        "tin": data.get("tin"),
        "company_name": data.get("company_name"),
    }


def new_customer(keys: BusinessKeys, data: Mapping[str, str | None]) -> Customer:
    return Customer(**new_row(keys, data))


@functools.cache
def _insert_one_sql(columns: stored.Columns) -> str:
    """The customer insert (stored.insert_sql: nothing where an active customer has the
    email) and its CREATED event, in one statement; the new id, or no row."""
    given = len(columns.own) + len(columns.shared)
    return events.with_change(stored.insert_sql(columns), events.CREATED, given + 1)


async def _insert_one(
    caller: Caller, keys: BusinessKeys, data: Mapping[str, str | None]
) -> CustomerRecord | None:
    """A new customer and its event, written in one round trip; None if an active
    customer of the business has the email (the unique index decides, not a read),
    or if the business has changed its writing key (see ``_insert_settled``)."""
    row = new_row(keys, data)
    plain = stored.as_stored(row, datetime.now(UTC))
    columns = stored.columns_of(frozenset(row))
    own = [[value] for value in stored.db_values(columns, plain, keys.write)]
    shared = [plain[name] for name in columns.shared]
    sql = _insert_one_sql(columns)
    inserted = await written(sql, *own, *shared, new_id("evt"), events.actor_of(caller), [])
    return stored.record_of(plain) if inserted else None


async def _insert_settled(
    caller: Caller, keys: BusinessKeys, data: Mapping[str, str | None]
) -> tuple[CustomerRecord | None, BusinessKeys]:
    """``_insert_one`` under the business's writing key: a write that missed a change
    of key (keyring.guard) is made again under the new one.  (None, keys) when an
    active customer has the email."""
    for _ in range(FIND_OR_CREATE_TRIES):
        if await held_elsewhere(keys, str(data["email"])):
            return None, keys
        created = await _insert_one(caller, keys, data)
        if created is not None or not await keyring.stale(keys):
            return created, keys
        keys = await keyring.of(keys.business_id)
    raise RuntimeError("the business's writing key keeps changing")


async def create_customer(
    caller: Caller, *, business_id: str, values: Mapping[str, str | None]
) -> CustomerView:
    """Create a customer; TAKEN if an active customer of the business has the email."""
    require_write(caller)
    require_business(caller, business_id)
    data = validation.check({key: values.get(key) for key in validation.RULES})
    created, _ = await _insert_settled(caller, await keyring.of(business_id), data)
    if created is None:
        raise _taken()
    return created


def find_or_create_data(
    *, email: object, name: object, phone: object, path: tuple[str, ...] = ("input",)
) -> dict[str, str | None]:
    """The checked values of a find-or-create input, with the default name filled in.

    Shared by the single and the bulk path, so both apply exactly the same rules.
    """
    values: dict[str, object] = {"email": email, "phone": phone}
    if name is not None and (not isinstance(name, str) or name.strip()):
        values["name"] = name  # blank means "use the default"; a non-string is INVALID
    data = validation.check(values, path)  # type: ignore[arg-type]
    if "name" not in data:
        data["name"] = default_name(str(data["email"]))  # new_row records where it came from
    return data


async def active_by_email(keys: BusinessKeys, email: str) -> CustomerRecord | None:
    """The active customer with this email, read as a record by its blind index (under
    each live key of the business): a repeat buyer's find-or-create is this one
    indexed read (customer_active_email_uidx)."""
    rows = await _records(
        "business_id = $1 AND email_hash = ANY($2) AND is_active",
        keys.business_id,
        keys.digests(email),
    )
    return rows[0] if rows else None


async def find_or_create_customer(
    caller: Caller, *, business_id: str, email: str, name: str | None, phone: str | None
) -> tuple[CustomerView, bool]:
    """The active customer with this email, or a new one; True when this call created it.

    Under concurrency the unique index decides: the losers of the insert race
    read the winner's row, so exactly one call reports ``created``.
    """
    require_write(caller)
    require_business(caller, business_id)
    data = find_or_create_data(email=email, name=name, phone=phone)
    keys = await keyring.of(business_id)
    for _ in range(FIND_OR_CREATE_TRIES):
        existing = await active_by_email(keys, str(data["email"]))
        if existing is not None:
            return existing, False
        created, keys = await _insert_settled(caller, keys, data)
        if created is not None:
            return created, True
        # another call created it first: read it
    raise RuntimeError("find-or-create did not settle")  # deleted and re-created, repeatedly


async def _locked(caller: Caller, customer_id: str, conn: Any) -> Customer | None:
    """The caller's customer, row-locked until the transaction ends.

    Name, email and activity together decide the search tokens: two writers
    that read the row unlocked could each save tokens from a stale copy.
    """
    if not well_formed(customer_id, "cust"):
        return None
    query = Customer.filter(id=customer_id, business_id=caller.business_id)
    return await query.select_for_update().using_db(conn).first()


async def update_customer(
    caller: Caller, *, customer_id: str, changes: Mapping[str, str | None]
) -> Customer:
    """Apply the given fields; absent fields stay, null clears an optional field."""
    require_write(caller)
    errors = [
        UserError(
            ("input", validation.RULES[key][0]), "BLANK", f"{key.capitalize()} cannot be cleared"
        )
        for key in ("name", "email")
        if key in changes and changes[key] is None
    ]
    try:
        data = validation.check(
            {k: v for k, v in changes.items() if k not in ("name", "email") or v is not None}
        )
    except InvalidInput as invalid:
        errors += invalid.errors
    if errors:
        raise InvalidInput(errors)  # every problem at once, before anything is read
    keys = await keyring.of(caller.business_id)
    for _ in range(UPDATE_TRIES):
        found = await _current(caller, customer_id)
        if found is None:
            raise _not_found()
        customer, version = found
        if customer.erased_at is not None:
            raise InvalidInput([ERASED_ERROR])
        if not data:
            return customer
        if "email" in data and await held_elsewhere(keys, str(data["email"]), customer.id):
            raise _taken()
        fields, changed = apply_changes(customer, data, keys)
        if await _save_changes(caller, customer, version, tuple(fields), changed, keys):
            return customer
        # another write changed the row since it was read (or the business its key)
        await keyring.stale(keys)
        keys = await keyring.of(caller.business_id)
    raise RuntimeError("update did not settle")  # the row changes faster than we write


#: How often an update is made again on a row that changed between its read and write.
UPDATE_TRIES = 5


async def _current(caller: Caller, customer_id: str) -> tuple[Customer, str] | None:
    """The caller's customer as a model, with the version of the row it was read at."""
    if not well_formed(customer_id, "cust"):
        return None
    rows = await fetch(
        f"SELECT {stored.model_select()} FROM customer WHERE id = $1 AND business_id = $2",
        customer_id,
        caller.business_id,
    )
    return stored.model_of(rows[0]) if rows else None


@functools.cache
def _update_sql(fields: tuple[str, ...]) -> str:
    """stored.update_sql with the UPDATED event of the changed fields (none if empty)."""
    write = stored.update_sql(fields)
    return events.with_change(write, events.UPDATED, len(fields) + 3, if_changed=True)


async def _save_changes(
    caller: Caller,
    customer: Customer,
    version: str,
    fields: tuple[str, ...],
    changed: list[str],
    keys: BusinessKeys,
) -> bool:
    """One statement: the update, if the row is still at `version`, and its event.
    False when another write came first.  Optimistic rather than a row lock: no
    BEGIN, SELECT FOR UPDATE and COMMIT around it, and a stale copy (whose search
    tokens were made from an old name or email) can never be saved."""
    customer.updated_at = datetime.now(UTC)
    names = [validation.RULES[key][0] for key in changed]
    params = stored.update_values(customer, fields, keys.write)
    try:
        saved = await written(
            _update_sql(fields),
            customer.id,
            version,
            *params,
            new_id("evt"),
            events.actor_of(caller),
            names,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == EMAIL_INDEX:
            raise _taken() from None
        raise
    return bool(saved)


_SEALED = ("email", "phone", "address", "tin")
#: What is sealed or indexed under the row's key: writing any of it writes ``key_id``.
_KEYED = frozenset((*_SEALED, "email_hash", "search_tokens", "short_tokens"))


def apply_changes(
    customer: Customer, data: Mapping[str, str | None], keys: BusinessKeys
) -> tuple[list[str], list[str]]:
    """Set checked values on a customer and everything derived from them (sort key,
    blind index, search tokens); returns the columns to save and the fields changed.

    Shared by update_customer and an import's and a shop's updates, so an updated
    customer is indexed the same way whichever path changed it.  A row still under
    a key its business is leaving is sealed and indexed again whole, under the
    writing key: a row is always under one key (its ``key_id``).
    """
    # In the contract's field order; reading an old value opens only that field.
    changed = [k for k in validation.RULES if k in data and getattr(customer, k) != data[k]]
    moved = customer.key_id != keys.write.id
    if moved:
        data = {**{name: getattr(customer, name) for name in _SEALED}, **data}
        customer.key_id = keys.write.id
    for key, value in data.items():
        setattr(customer, key, value)
    fields = [*data, "updated_at"]
    if "name" in data:
        customer.name_lower = customer.name.lower()
        fields.append("name_lower")
    if "email" in data:
        customer.email_hash = email_hash_of(keys, customer.email)
        fields.append("email_hash")
    if "name" in data or "email" in data:
        customer.name_from_email = _still_from_email(customer, renamed="name" in data)
        fields.append("name_from_email")
    if customer.is_active and ("name" in data or "email" in data or moved):
        customer.search_tokens, customer.short_tokens = keys.write.search_tokens.for_rows(
            customer.business_id, customer.name_lower, customer.email
        )
        fields += ["search_tokens", "short_tokens"]
    if _KEYED.intersection(fields):
        fields.append("key_id")
    return fields, changed


def _still_from_email(customer: Customer, *, renamed: bool) -> bool | None:
    """``name_from_email`` after an update of the name or the email.

    A new name is judged against the email the customer now has.  A new email
    alone keeps the name and the flag: a defaulted name still shows the old
    email's local part (the person's, likely still in use), so it stays masked
    until a name is set; it also becomes true if the new local part is the name.
    """
    matches = name_from_email(customer.name_lower, customer.email)
    if renamed:
        return matches
    return True if matches else customer.name_from_email


async def delete_customer(caller: Caller, *, customer_id: str) -> CustomerView:
    """Soft delete; deleting an already deleted (or erased) customer returns it unchanged."""
    require_write(caller)
    async with transaction() as conn:
        customer = await _locked(caller, customer_id, conn)
        if customer is None:
            raise _not_found()
        if customer.is_active:
            customer.is_active = False
            customer.deleted_at = datetime.now(UTC)
            # A deleted customer leaves no search trace.
            customer.search_tokens, customer.short_tokens = [], []
            fields = ["is_active", "deleted_at", "updated_at", "search_tokens", "short_tokens"]
            await customer.save(update_fields=fields, using_db=conn)
            await events.record(conn, _event(caller, customer, events.DELETED))
    return await _shown(customer)


# Erasure --------------------------------------------------------------------

ERASED_NAME = "Erased customer"
ERASED_ERROR = UserError(
    ("id",), "ERASED", "The customer was erased; its personal data can no longer be changed"
)
#: Every column that holds personal data or is derived from it: NULL once erased.
_ERASE = """
    UPDATE customer SET
        name = $2, name_lower = $3, name_from_email = false, email = NULL, email_hash = NULL,
        phone = NULL, address = NULL, tin = NULL, company_name = NULL, search_tokens = NULL,
        short_tokens = NULL,
        is_active = false, deleted_at = COALESCE(deleted_at, $4), erased_at = $4,
        updated_at = $4
    WHERE id = $1 AND erased_at IS NULL
"""


async def _shown(customer: Customer) -> CustomerView:
    """What a mutation shows: the model, or a record once erased (a model would read
    its NULL email as None, and Tortoise would save whatever a getter returned)."""
    if customer.erased_at is None:
        return customer
    return (await _records("id = $1", customer.id))[0]


async def erase_customer(caller: Caller, *, customer_id: str) -> CustomerView:
    """Destroy the customer's personal data for good (NDPA 2023 s.34); keep the record.

    The ciphertexts, the blind index and the search tokens are set to NULL, not
    re-encrypted or kept aside; id, business, balance and createdAt stay for the
    books.  Erasing twice changes nothing.  The row lock orders it with updates,
    and key rotation and reindexing compare before they write, so neither can
    bring a value back.
    """
    require_write(caller)
    async with transaction() as conn:
        customer = await _locked(caller, customer_id, conn)
        if customer is None:
            raise _not_found()
        await erase_locked(conn, customer, events.actor_of(caller))
    statistics.analyze_soon(Customer._meta.db_table)  # sampled values leave pg_statistic
    return await _shown(customer)


async def erase_locked(conn: Any, customer: Customer, actor: str) -> None:
    """Erase a customer row-locked in the open transaction `conn` (eraseCustomer, and a
    shop's redaction request), with its ERASED event; nothing if already erased.
    After the commit, the caller refreshes the statistics (``statistics.analyze_soon``)."""
    if customer.erased_at is not None:
        return
    now = datetime.now(UTC)
    await conn.execute_query(_ERASE, [customer.id, ERASED_NAME, ERASED_NAME.lower(), now])
    await events.record(
        conn, [events.Change(customer.business_id, customer.id, events.ERASED, actor)]
    )
    customer.erased_at = now


async def erased_between(start: datetime, end: datetime) -> list[tuple[str, str, datetime]]:
    """(customer id, business id, erased at) of erasures in [start, end): a DPO's record."""
    rows = await fetch(
        "SELECT id, business_id, erased_at FROM customer "
        "WHERE erased_at >= $1 AND erased_at < $2 ORDER BY erased_at, id",
        start,
        end,
    )
    return [(row["id"], row["business_id"], row["erased_at"]) for row in rows]
