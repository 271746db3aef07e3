"""PII as a ``read_masked`` key sees it.

The masks keep what a till or a report needs to tell people apart (the
first letter and the domain of an email, the country code and last digits of
a phone, the last digits of a TIN) and never the rest.  A masked record opens
a column only when that field is read, then masks it, and never opens the
address at all: a masked list costs no more than a clear one.

Names are in clear, except one that shows its email's local part (the default
name of find-or-create, ``name_from_email``): in clear it would give back
what the email's mask hides, so it is masked as that local part is.
"""

from __future__ import annotations

from typing import Any

from app.models.records import SELECT, CustomerRecord, Opened

STAR = "*"
#: A phone shows its first 4 and last 3 characters (+234*******678) ...
PHONE_HEAD, PHONE_TAIL = 4, 3
#: ... and always hides at least this many, so a short number is never shown whole.
PHONE_HIDDEN_MIN = 4
TIN_TAIL = 4


def mask_local(local: str) -> str:
    """jane -> j***: an email's local part, or a name that is one (its first character)."""
    return f"{local[0]}***" if local else STAR * 3


def mask_email(email: str) -> str:
    """jane@example.com -> j***@example.com (the first character of any local part)."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return STAR * 3
    return f"{mask_local(local)}@{domain}"


def name_hidden(name_from_email: bool | None) -> bool:
    """Whether a masked key must not see a name: one that is its email's local part,
    or may be (NULL: not decided yet, app.jobs.reindex).  Masked search leaves the
    same rows out in SQL (app.services.search: ``name_from_email IS FALSE``)."""
    return name_from_email is not False


def mask_phone(phone: str) -> str:
    """+2348012345678 -> +234*******678; shorter numbers reveal less, never all."""
    head, tail = PHONE_HEAD, PHONE_TAIL
    if len(phone) - head - tail < PHONE_HIDDEN_MIN:
        tail = 0
        head = max(0, min(head, len(phone) - PHONE_HIDDEN_MIN))
    return phone[:head] + STAR * (len(phone) - head - tail) + phone[len(phone) - tail :]


def mask_tin(tin: str) -> str:
    """12345678-0001 -> *********0001 (the last 4 characters)."""
    shown = min(TIN_TAIL, max(0, len(tin) - TIN_TAIL))
    return STAR * (len(tin) - shown) + tin[len(tin) - shown :]


class _Hidden:
    """Never opened, never shown."""

    def __get__(self, record: MaskedCustomerRecord | None, owner: type) -> Any:
        return self if record is None else None


#: The record's own slot for the name (the stored value), under the masking descriptor.
_NAME_SLOT = CustomerRecord.__dict__["name"]


class _Name:
    """The name, masked like the email's local part when it is one (``name_hidden``).

    A descriptor rather than a mask in each reader: GraphQL, the compiled row
    builders (schema/rows.py read ``obj.name``) and REST all read the attribute.
    """

    def __get__(self, record: MaskedCustomerRecord | None, owner: type) -> Any:
        if record is None:
            return self
        name = _NAME_SLOT.__get__(record, owner)
        return mask_local(name) if name_hidden(record.name_from_email) else name

    def __set__(self, record: MaskedCustomerRecord, value: str) -> None:
        _NAME_SLOT.__set__(record, value)


class MaskedCustomerRecord(CustomerRecord):
    __slots__ = ()

    #: The address is never read from the database, let alone opened.
    select = SELECT.replace('"address"', 'NULL AS "address"')

    email = Opened("email", missing="", shown=mask_email)
    phone = Opened("phone", shown=mask_phone)
    tin = Opened("tin", shown=mask_tin)
    address = _Hidden()
    name = _Name()

    def __repr__(self) -> str:
        return f"<MaskedCustomerRecord {self.id}>"
