"""PII as a ``read_masked`` key sees it.

The masks keep what a till or a report needs to tell people apart (the
first letter and the domain of an email, the country code and last digits of
a phone, the last digits of a TIN) and never the rest.  A masked record opens
a column only when that field is read, then masks it, and never opens the
address at all: a masked list costs no more than a clear one.
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


def mask_email(email: str) -> str:
    """jane@example.com -> j***@example.com (the first character of any local part)."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return STAR * 3
    return f"{local[0]}***@{domain}"


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


class MaskedCustomerRecord(CustomerRecord):
    __slots__ = ()

    #: The address is never read from the database, let alone opened.
    select = SELECT.replace('"address"', 'NULL AS "address"')

    email = Opened("email", missing="", shown=mask_email)
    phone = Opened("phone", shown=mask_phone)
    tin = Opened("tin", shown=mask_tin)
    address = _Hidden()

    def __repr__(self) -> str:
        return f"<MaskedCustomerRecord {self.id}>"
