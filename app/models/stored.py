"""A new customer row as plain column values, and the one statement that inserts them.

Writes that create customers (createCustomer, findOrCreateCustomer, their bulk
form and imports through it) do not build Tortoise models: a
model's construction and save cost more than the insert itself.  The row
(``customers.new_row``: the id is made before anything is sealed, since the AAD
binds each value to it; the blind index; the search tokens) gets the model's
defaults and timestamps here, its PII sealed by the model's own encrypted
field, and travels as one array per column, so one statement inserts one row
or 500 alike.  The layout is read from the model, so a new column cannot be
forgotten here.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.crypto.datakeys import Generation
from app.models import Customer, keyring, records
from app.models.encrypted import EncryptedField
from app.models.records import CustomerRecord


@dataclass(frozen=True)
class _Layout:
    """How the model stores a new row, read from its fields once Tortoise is initialised."""

    fields: tuple[str, ...]  # in column order
    sealed: frozenset[str]  # encrypted fields
    arrays: frozenset[str]  # array columns: sent as text literals (see insert_sql)
    stamped: frozenset[str]  # set to the time of the write
    defaults: dict[str, Any]  # everything else a new row does not say
    sql_types: dict[str, str]


@functools.cache
def _layout() -> _Layout:
    fields_map = Customer._meta.fields_map
    fields = tuple(Customer._meta.fields_db_projection)
    sql_types = {n: fields_map[n].get_for_dialect("postgres", "SQL_TYPE") for n in fields}
    stamped = frozenset(
        n
        for n in fields
        if getattr(fields_map[n], "auto_now", False)
        or getattr(fields_map[n], "auto_now_add", False)
    )
    return _Layout(
        fields=fields,
        sealed=frozenset(n for n in fields if isinstance(fields_map[n], EncryptedField)),
        arrays=frozenset(n for n in fields if sql_types[n].endswith("[]")),
        stamped=stamped,
        defaults={n: fields_map[n].default for n in fields if n not in stamped},
        sql_types=sql_types,
    )


def as_stored(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new row (customers.new_row) with the model's defaults and timestamps, in plaintext."""
    layout = _layout()
    return {**layout.defaults, **dict.fromkeys(layout.stamped, now), **row}


@dataclass(frozen=True)
class Columns:
    """How a call's new rows travel: an array per column a row gives itself, one value
    for the columns every row of the call shares (its business, its time, the defaults)."""

    own: tuple[str, ...]
    shared: tuple[str, ...]
    #: per column of `own`: sealed (bound to the row id), array (a text literal) or as is
    kinds: tuple[tuple[str, str], ...]


_AS_IS, _SEALED, _ARRAY = "as is", "sealed", "array"
_PER_CALL = ("business_id", "key_id")


@functools.cache
def columns_of(given: frozenset[str]) -> Columns:
    """The columns of new rows that give the fields `given` (customers.new_row's keys)."""
    layout = _layout()
    # The business and its writing key are one per call (the guard checks the key).
    shared = tuple(n for n in layout.fields if n in _PER_CALL or n not in given)
    assert not set(shared) & (layout.sealed | layout.arrays), shared  # none is per row
    own = tuple(n for n in layout.fields if n not in shared)
    kinds = tuple(
        (n, _SEALED if n in layout.sealed else _ARRAY if n in layout.arrays else _AS_IS)
        for n in own
    )
    return Columns(own, shared, kinds)


def db_values(columns: Columns, stored: dict[str, Any], generation: Generation) -> list[Any]:
    """A row's own column values: encrypted fields sealed by the model's own field under
    `generation` (the row's ``key_id``), bound to the row id; arrays as text literals
    (see insert_sql)."""
    fields_map, row_id, values = Customer._meta.fields_map, stored["id"], []
    for name, kind in columns.kinds:
        value = stored[name]
        if value is not None and kind is not _AS_IS:
            if kind is _SEALED:
                value = fields_map[name].seal_for(generation, row_id, value)  # AAD: row id
            else:  # "{1, 2}" from the list's repr: in C, a third cheaper than a join
                value = f"{{{repr(list(value))[1:-1]}}}"
        values.append(value)
    return values


@functools.cache
def insert_sql(columns: Columns) -> str:
    """One statement for any number of rows: each of their own columns is a parameter
    holding its array, each shared column a parameter holding its one value.

    PostgreSQL has no ragged arrays of arrays, so an array column travels as
    text literals and is cast back; the types are the model's own.  Nothing is
    inserted unless the rows' key still writes for their business (keyring.guard).
    """
    layout, projection = _layout(), Customer._meta.fields_db_projection
    number = {name: n for n, name in enumerate((*columns.own, *columns.shared), start=1)}
    arrays, selected = [], []
    for name in layout.fields:
        sql_type, column = layout.sql_types[name], f'"{projection[name]}"'
        if name in columns.shared:
            selected.append(f"${number[name]}::{sql_type}")
        elif name in layout.arrays:
            arrays.append(f"${number[name]}::text[]")
            selected.append(f"{column}::{sql_type}")
        else:
            arrays.append(f"${number[name]}::{sql_type}[]")
            selected.append(column)
    every = ", ".join(f'"{projection[name]}"' for name in layout.fields)
    guard = keyring.guard(f"${number['business_id']}", f"${number['key_id']}")
    own = ", ".join(f'"{projection[name]}"' for name in columns.own)
    return (
        f"INSERT INTO customer ({every}) SELECT {', '.join(selected)} "
        f"FROM unnest({', '.join(arrays)}) AS row ({own}) "
        f"WHERE {guard} "
        "ON CONFLICT DO NOTHING RETURNING id, business_id"
    )


#: A stored row's values in the order of a record's columns, as a tuple (in C).
_record_values = operator.itemgetter(*records.COLUMNS)


def record_of(stored: dict[str, Any]) -> CustomerRecord:
    """A row we wrote, served from its plaintext (nothing to decrypt)."""
    return CustomerRecord(_record_values(stored))


# Changes -------------------------------------------------------------------


@functools.cache
def model_select() -> str:
    """Every column of a customer, and the row version its update is checked against.
    ``xmin`` (the transaction that wrote this version of the row) changes with any
    write by anyone, so an update made from a stale read matches nothing.  Read once
    Tortoise is initialised (the business_id column comes from the relation)."""
    columns = ", ".join(f'"{c}"' for c in Customer._meta.fields_db_projection.values())
    return f"xmin::text AS row_version, {columns}"


def model_of(row: Any) -> tuple[Customer, str]:
    """A customer read by model_select(), as Tortoise's own reads build it, and its version."""
    values = dict(row)
    version = values.pop("row_version")
    return Customer._init_from_db(**values), version


@functools.cache
def update_sql(fields: tuple[str, ...]) -> str:
    """``UPDATE`` of these fields of one customer, at the version it was read:
    $1 the id, $2 the version, then the fields in order; the id back, or no row.
    An update that writes ``key_id`` (whatever is sealed or indexed) also needs that
    key to still write for the business (keyring.guard)."""
    projection = Customer._meta.fields_db_projection
    sets = ", ".join(f'"{projection[name]}" = ${n}' for n, name in enumerate(fields, start=3))
    guarded = ""
    if "key_id" in fields:
        key = f"${fields.index('key_id') + 3}"
        guarded = f" AND {keyring.guard('customer.business_id', key)}"
    return (
        f"UPDATE customer SET {sets} WHERE id = $1 AND xmin = $2::text::xid{guarded} "
        "RETURNING id, business_id"
    )


def update_values(customer: Customer, fields: tuple[str, ...], generation: Generation) -> list[Any]:
    """The new values of these fields, as the model's fields store them (PII sealed under
    `generation`, bound to the row id)."""
    fields_map = Customer._meta.fields_map
    values = []
    for name in fields:
        value = getattr(customer, name)
        field = fields_map[name]
        if value is not None and isinstance(field, EncryptedField):
            value = field.seal_for(generation, customer.id, value)
        values.append(value)
    return values
