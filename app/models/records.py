"""Read-only customer rows, without the cost of Tortoise model instances.

A list of 100 customers through Tortoise models costs about 2.5 ms of Python;
the same rows fetched by asyncpg and wrapped here cost about 0.5 ms.  Reads that
only serve them back (lists, pages, search results, one customer by id) use
these; writes keep the models.  PII is opened lazily, on first access, by the
model's own encrypted field (same keys, same AAD), so a query that does not
select ``email`` never decrypts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

from app import crypto, meter
from app.models import Customer

ENCRYPTED = ("email", "phone", "address", "tin")
PLAIN = (
    "id",
    "business_id",
    "name",
    "name_lower",
    "name_from_email",
    "company_name",
    "account_balance_kobo",
    "is_active",
    "created_at",
    "updated_at",
    "deleted_at",
    "erased_at",
)
#: The columns a record reads, in the order ``from_row`` expects.
COLUMNS = PLAIN + ENCRYPTED
SELECT = ", ".join(f'"{column}"' for column in COLUMNS)


class CustomerView(Protocol):
    """What the API layers read from a customer: a model or a record."""

    id: str
    business_id: str
    name: str
    name_lower: str
    name_from_email: bool | None
    email: str
    phone: str | None
    address: str | None
    tin: str | None
    company_name: str | None
    account_balance_kobo: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


class Opened:
    """A lazily decrypted column of a record: opened on first read, then kept.

    ``missing`` is what a NULL reads as: an erased customer's email is "".
    ``shown`` turns a non-empty value into what is served (a mask), on every read,
    in the same descriptor call: masking must not cost a second one.

    Compiled row builders (schema/rows.py) do what ``__get__`` and ``open`` do
    inline, from ``slot``, ``missing``, ``table``, ``column`` and ``shown``: a
    change to how a value is opened or counted is made in both places.
    """

    __slots__ = ("column", "missing", "read", "shown", "slot", "table")

    def __init__(
        self,
        column: str,
        missing: str | None = None,
        shown: Callable[[str], str] | None = None,
    ) -> None:
        field = Customer._meta.fields_map[column]
        self.column = field.source_field or column
        self.table = Customer._meta.db_table
        self.slot = f"_{column}"
        self.read = attrgetter(self.slot)  # every PII value served passes here
        self.missing = missing
        self.shown = shown

    def __get__(self, record: CustomerRecord | None, owner: type) -> Any:
        if record is None:
            return self
        value = self.read(record)
        if value is None:
            return self.missing
        if value.__class__ is bytes:
            value = self.open(record, value)
        if self.shown is not None and value:
            return self.shown(value)
        return value

    def open(self, record: CustomerRecord, sealed: bytes) -> str:
        """Decrypt the sealed value, count it, and keep the plaintext in the record."""
        value = crypto.current().cipher.open(self.table, self.column, record.id, sealed)
        meter.decrypted(1)
        setattr(record, self.slot, value)
        return value


class CustomerRecord:
    #: The SELECT list this kind of record is built from (see ``from_row``'s order).
    select = SELECT
    __slots__ = (*PLAIN, *(f"_{column}" for column in ENCRYPTED))

    email = Opened("email", missing="")
    phone = Opened("phone")
    address = Opened("address")
    tin = Opened("tin")

    def __init__(self, row: Sequence[Any]) -> None:
        # One unpacking statement: the order of COLUMNS (PLAIN, then ENCRYPTED).
        (
            self.id,
            self.business_id,
            self.name,
            self.name_lower,
            self.name_from_email,
            self.company_name,
            self.account_balance_kobo,
            self.is_active,
            self.created_at,
            self.updated_at,
            self.deleted_at,
            self.erased_at,
            self._email,
            self._phone,
            self._address,
            self._tin,
        ) = row

    def __repr__(self) -> str:
        return f"<CustomerRecord {self.id}>"
