"""The one place that decides a customer's fields from a shopper's parts.

Shops split what the directory keeps whole: a name is First + Last, an address
is five cells, a phone may sit on the customer or on its address.  The rules,
shared by file imports and shop webhooks:

- name: first + " " + last, else a whole name given as one; else the first
  address's names (first + last, else its whole name); else the company; else
  none, and the service defaults it from the email;
- phone: the customer's phone, else the first address's phone;
- address: one line, the parts of the first address that has any (line 1,
  line 2, city, region, postcode, country), comma separated, empty parts dropped;
- companyName: the customer's company, else the first address's.

"First address" is the shop's order of preference: Shopify's default address,
WooCommerce's billing before shipping.  A part is text; anything else a file
holds there (a JSON list, a boolean) is passed on as it is, so that validation
reports it INVALID instead of this module guessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: What a part may hold: text, nothing, or a value of the wrong type (reported INVALID).
Part = object


@dataclass(frozen=True, slots=True)
class Address:
    first_name: Part = None
    last_name: Part = None
    name: Part = None
    company: Part = None
    line1: Part = None
    line2: Part = None
    city: Part = None
    region: Part = None
    postcode: Part = None
    country: Part = None
    phone: Part = None

    def line(self) -> Part:
        return _joined(
            (self.line1, self.line2, self.city, self.region, self.postcode, self.country), ", "
        )

    def person(self) -> Part:
        return _joined((self.first_name, self.last_name), " ") or text(self.name)


@dataclass(frozen=True, slots=True)
class Shopper:
    email: Part = None
    first_name: Part = None
    last_name: Part = None
    name: Part = None
    phone: Part = None
    company: Part = None
    tin: Part = None
    addresses: Sequence[Address] = ()
    #: The shop's own id of the customer (Shopify's ``id``/``Customer ID``, WooCommerce's
    #: ``id``), which links it on a shop connection; not a field of the customer.
    external_id: Part = None


def text(value: Part) -> Part:
    """A cell as the rules read it: stripped text or None; a number as its digits.

    JSON numbers are written out (an id, a phone stored as a number); booleans,
    lists and objects are kept, for validation to refuse.
    """
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def phone_text(value: Part) -> Part:
    """A phone cell without what spreadsheets add to keep it text: Shopify's leading
    apostrophe (``'+2348031234567``) and Excel's formula quoting (``="0803..."``)."""
    value = text(value)
    if isinstance(value, str):
        if value.startswith('="') and value.endswith('"'):
            value = value[2:-1].strip()
        value = value.removeprefix("'").strip()
    return value or None


#: Longest shop customer id kept (the link column's size).
SHOP_ID_MAX = 64


#: What an id may hold: printable ASCII without spaces (a NUL would fail in SQL,
#: on every retry of the shop).
_SHOP_ID = re.compile(f"[!-~]{{1,{SHOP_ID_MAX}}}")
#: Shopify's GraphQL ids name the same customer as the REST number.
_SHOPIFY_GID = "gid://shopify/Customer/"


def shop_id(value: Part) -> str | None:
    """A shop customer id as exact text (Shopify's exceed 2^53: never a float), from a
    JSON number, a string, Shopify's ``gid://shopify/Customer/N`` or an export's cell
    (``'7210448301122``); None for none, a guest's 0, or anything that is no id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value > 0 else None
    value = phone_text(value)
    if not isinstance(value, str):
        return None
    value = value.removeprefix(_SHOPIFY_GID)
    if value == "0" or not _SHOP_ID.fullmatch(value):
        return None
    return value


def _joined(parts: Sequence[Part], separator: str) -> Part:
    """The non-empty parts joined; a part of the wrong type is returned alone (INVALID)."""
    kept = []
    for part in parts:
        part = text(part)
        if part is None:
            continue
        if not isinstance(part, str):
            return part
        kept.append(part)
    return separator.join(kept) or None


def _first(*candidates: Part) -> Part:
    for candidate in candidates:
        if candidate is not None:
            return candidate
    return None


def values(shopper: Shopper) -> dict[str, object]:
    """The customer's fields (service names) by the rules above; None where the
    shopper gives nothing.  Nothing is checked here: validation does that."""
    addresses = shopper.addresses
    address = next((line for a in addresses if (line := a.line()) is not None), None)
    return {
        "email": text(shopper.email),
        "name": _first(
            _joined((shopper.first_name, shopper.last_name), " "),
            text(shopper.name),
            *(a.person() for a in addresses),
            text(shopper.company),
            *(text(a.company) for a in addresses),
        ),
        "phone": _first(phone_text(shopper.phone), *(phone_text(a.phone) for a in addresses)),
        "address": address,
        "company_name": _first(text(shopper.company), *(text(a.company) for a in addresses)),
        "tin": text(shopper.tin),
    }
