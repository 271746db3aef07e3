"""Which column of a flat record (a CSV row, a flat JSON object) holds which part.

Headers are matched whatever their case, spacing and punctuation (``E-mail``,
``Email Address`` and ``email`` are one), against one table of names: the
generic ones people type, Shopify's export columns and WooCommerce Analytics'.
A part that several columns hold (``Phone`` and ``Mobile``) takes the first
non-empty one in the header's order.  ``--map 'Mobile No=phone'`` names a
column by hand; ``--map 'Customer='`` leaves one out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.shoppers.rules import Address, Shopper, text

_PUNCTUATION = re.compile(r"[\W_]+")

#: Part -> the header names that hold it, normalised (see key()).
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "customeremail", "billingemail"),
    "name": ("name", "fullname", "customername", "customer", "contactname", "contact"),
    "first_name": ("firstname", "givenname", "forename", "billingfirstname"),
    "last_name": ("lastname", "surname", "familyname", "billinglastname"),
    "phone": (
        *("phone", "phonenumber", "phoneno", "mobile", "mobilenumber", "mobileno"),
        *("mobilephone", "telephone", "tel", "cell", "cellphone", "gsm", "whatsapp"),
        *("whatsappnumber", "billingphone"),
    ),
    "company": (
        *("company", "companyname", "business", "businessname", "organisation"),
        *("organization", "defaultaddresscompany", "billingcompany"),
    ),
    "tin": ("tin", "taxid", "taxidentificationnumber", "taxnumber", "tinnumber"),
    "line1": (
        *("address", "address1", "addressline1", "street", "streetaddress"),
        *("defaultaddressaddress1", "billingaddress1"),
    ),
    "line2": ("address2", "addressline2", "defaultaddressaddress2", "billingaddress2"),
    "city": ("city", "town", "defaultaddresscity", "billingcity"),
    "region": (
        *("state", "region", "province", "provincecode", "stateprovince"),
        *("defaultaddressprovincecode", "billingstate"),
    ),
    "postcode": (
        "zip",
        "zipcode",
        "postcode",
        "postalcode",
        "defaultaddresszip",
        "billingpostcode",
    ),
    "country": (
        *("country", "countrycode", "countryregion", "defaultaddresscountrycode"),
        "billingcountry",
    ),
    "address_phone": ("defaultaddressphone",),
    #: The shop's id of the customer (Shopify's export), linked with --connection.
    "external_id": ("customerid",),
}
_PART_OF = {alias: part for part, aliases in _ALIASES.items() for alias in aliases}
assert len(_PART_OF) == sum(map(len, _ALIASES.values())), "an alias names two parts"

#: --map targets: the contract's field names (and the two halves of a name).
MAP_TARGETS = {
    "name": "name",
    "firstname": "first_name",
    "lastname": "last_name",
    "email": "email",
    "phone": "phone",
    "address": "line1",
    "companyname": "company",
    "tin": "tin",
}
_ADDRESS_PARTS = ("line1", "line2", "city", "region", "postcode", "country")

#: Header names (normalised) that only these exports have together.
SHOPIFY_HEADER = frozenset(
    {"customerid", "firstname", "lastname", "email", "defaultaddressaddress1"}
)
WOOCOMMERCE_HEADER = frozenset({"name", "username", "lastactive", "dateregistered", "email"})


class MapError(ValueError):
    """A --map that cannot be applied; the message says why."""


@functools.lru_cache(maxsize=4096)
def key(header: str) -> str:
    """A header as matched: case-folded, spaces and punctuation gone."""
    return _PUNCTUATION.sub("", header.casefold())


def parse_maps(specs: Iterable[str]) -> dict[str, str | None]:
    """``COLUMN=field`` items as {column key: part, or None to leave it out}."""
    maps: dict[str, str | None] = {}
    for spec in specs:
        column, sep, target = spec.rpartition("=")
        if not sep or not key(column):
            raise MapError(f"--map takes COLUMN=field, e.g. 'Mobile No=phone' (got {spec!r})")
        if key(target) and key(target) not in MAP_TARGETS:
            raise MapError(
                f"--map {spec!r}: the field must be one of "
                "name, firstName, lastName, email, phone, address, companyName, tin "
                "(or nothing, to leave the column out)"
            )
        maps[key(column)] = MAP_TARGETS[key(target)] if key(target) else None
    return maps


@dataclass(frozen=True)
class Layout:
    """Where each part is in the records of one file: (part, cell positions) pairs."""

    positions: tuple[tuple[str, tuple[int, ...]], ...]
    unused: tuple[str, ...]

    @classmethod
    def of(
        cls,
        header: Sequence[str],
        maps: Mapping[str, str | None] | None = None,
        *,
        every_map_used: bool = True,
    ) -> Layout:
        """The layout of a header; a --map naming no column of it is refused, unless
        `every_map_used` is off (JSON objects need not all have every key)."""
        maps = maps or {}
        found: dict[str, list[int]] = {}
        unused: list[str] = []
        for position, name in enumerate(header):
            column = key(name)
            if column in maps and maps[column] is None:
                continue  # left out on purpose (--map 'COLUMN=')
            part = maps.get(column) or _PART_OF.get(column)
            if part is None:
                if name.strip():
                    unused.append(name.strip())
                continue
            found.setdefault(part, []).append(position)
        unknown = set(maps) - {key(name) for name in header}
        if unknown and every_map_used:
            raise MapError(f"--map names no column of the file: {', '.join(sorted(unknown))}")
        return cls(tuple((p, tuple(at)) for p, at in found.items()), tuple(unused))

    def has(self, part: str) -> bool:
        return any(p == part for p, _ in self.positions)

    def shopper(self, cells: Sequence[object]) -> Shopper:
        """The shopper of one record's cells (a short row's missing cells are empty)."""
        parts: dict[str, object] = {}
        width = len(cells)
        for part, at in self.positions:
            for position in at:
                value = text(cells[position]) if position < width else None
                if value is not None:
                    parts[part] = value
                    break
        address = Address(
            phone=parts.get("address_phone"), **{p: parts.get(p) for p in _ADDRESS_PARTS}
        )
        return Shopper(
            email=parts.get("email"),
            first_name=parts.get("first_name"),
            last_name=parts.get("last_name"),
            name=parts.get("name"),
            phone=parts.get("phone"),
            company=parts.get("company"),
            tin=parts.get("tin"),
            addresses=(address,),
            external_id=parts.get("external_id"),
        )
