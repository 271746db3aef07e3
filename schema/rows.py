"""Row builders generated as Python source, one per selection of an object type.

A compiled plan (``schema.compiled``) turns each object it returns into a dict.
Done with a loop over columns, every field costs a few calls (getter, null
check, coercion); a list of 100 customers of 13 fields is 1,300 of them.  Here
the loop is unrolled once per selection into straight-line code: an attribute
read (``obj.email``, through the object, so descriptors such as lazy decryption
or masking still apply) or the field's own sync resolver, the null check, the
scalar's output coercion unless the value already has the type it returns
unchanged, then one dict display.  Whatever needs an error raises ``Fallback``
and the request goes the general way.

Each builder is also made again per class of object it meets (a few at most):
there, an attribute that is a lazily decrypted column (app.models.records.Opened)
is read inline, from its slot: the cipher is called directly (the descriptor's
table and column as AAD, the plaintext kept in the slot, as ``Opened.open`` does)
and the row's decryptions are counted once for the meter, then the mask applied.
Two calls per value (descriptor, ``open``) plus a meter call are a tenth of a
list's cost per row.

The source holds only generated names (``v0``, ``g0``) and attribute names that
are Python identifiers of the schema's own fields; response keys and every other
value are passed in the namespace, never written into the text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import Undefined

from app import crypto, meter
from app.models.records import Opened


class Fallback(Exception):
    """The value needs the general path's error handling."""


class _Never:
    """No value has this type: a column without a passthrough type always coerces."""


@dataclass(frozen=True)
class Column:
    """One response key of an object: where its value comes from and how it is completed."""

    key: str
    #: The constant of ``__typename``, when that is what the column is.
    typename: str | None = None
    #: An attribute to read, or else a function of the object (a sync resolver).
    attribute: str | None = None
    function: Callable[[Any], Any] | None = None
    #: A leaf: its output coercion, the type it passes unchanged, and nullability.
    coerce: Callable[[Any], Any] | None = None
    passthrough: type | None = None
    nullable: bool = True
    #: Not a leaf: the completer of the value (it checks nulls itself).
    complete: Callable[[Any], Any] | None = None


def _opened(cls: type | None, attribute: str | None) -> Opened | None:
    """The lazily decrypted column behind ``cls.attribute``, if that is what it is."""
    if cls is None or attribute is None:
        return None
    found = inspect.getattr_static(cls, attribute, None)
    return found if isinstance(found, Opened) else None


def _source(n: int, column: Column, cls: type | None, namespace: dict[str, Any]) -> list[str]:
    opened = _opened(cls, column.attribute)
    if opened is not None and opened.slot.isidentifier():
        # A row that opens values: the cipher found once, the openings counted once.
        namespace["current"], namespace["decrypted"] = crypto.current, meter.decrypted
        namespace[f"m{n}"] = opened.missing
        namespace[f"a{n}"] = opened.table
        namespace[f"b{n}"] = opened.column
        lines = [
            f"v{n} = obj.{opened.slot}",
            f"if v{n} is None: v{n} = m{n}",
            f"elif v{n}.__class__ is bytes:",
            "    if op is None: op = current().cipher.open",
            f"    v{n} = obj.{opened.slot} = op(a{n}, b{n}, obj.id, v{n})",
            "    opened += 1",
        ]
        if opened.shown is not None:
            namespace[f"h{n}"] = opened.shown
            lines.append(f"if v{n}: v{n} = h{n}(v{n})")
        return lines
    if column.attribute is not None and column.attribute.isidentifier():
        return [f"v{n} = obj.{column.attribute}"]
    namespace[f"g{n}"] = column.function
    return [f"v{n} = g{n}(obj)"]


def _leaf_lines(n: int, column: Column, namespace: dict[str, Any]) -> list[str]:
    namespace[f"c{n}"] = column.coerce
    namespace[f"p{n}"] = column.passthrough or _Never
    coerce = [
        f"if type(v{n}) is not p{n}:",
        f"    v{n} = c{n}(v{n})",
        f"    if v{n} is None or v{n} is Undefined: raise Fallback",
    ]
    if column.nullable:
        return [f"if v{n} is not None:", *("    " + line for line in coerce)]
    return [f"if v{n} is None: raise Fallback", *coerce]


def _generate(columns: list[Column], cls: type | None) -> Callable[[Any], dict[str, Any]]:
    """The function from an object (of ``cls``, when given) to its response dict."""
    namespace: dict[str, Any] = {"Fallback": Fallback, "Undefined": Undefined}
    body: list[str] = []
    entries: list[str] = []
    for n, column in enumerate(columns):
        namespace[f"k{n}"] = column.key
        entries.append(f"k{n}: v{n}")
        if column.typename is not None:
            namespace[f"t{n}"] = column.typename
            body.append(f"v{n} = t{n}")
            continue
        body.extend(_source(n, column, cls, namespace))
        if column.complete is not None:
            namespace[f"s{n}"] = column.complete
            body.append(f"v{n} = s{n}(v{n})")
        else:
            body.extend(_leaf_lines(n, column, namespace))
    if "decrypted" in namespace:  # some column opens values (_source)
        body = ["op = None", "opened = 0", *body, "if opened: decrypted(opened)"]
    source = "def build(obj):\n" + "".join(f"    {line}\n" for line in body)
    source += "    return {" + ", ".join(entries) + "}\n"
    exec(compile(source, "<schema.rows>", "exec"), namespace)
    return namespace["build"]  # type: ignore[no-any-return]


#: Classes one builder is specialised for; any further class gets the general builder.
MAX_CLASSES = 8


class RowBuilder:
    """The row builder of one selection: ``builder(obj)``, or ``builder.of(cls)`` to get
    the function for objects of exactly ``cls`` once and call it per row."""

    __slots__ = ("_by_class", "columns", "general")

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self.general = _generate(columns, None)
        self._by_class: dict[type, Callable[[Any], dict[str, Any]]] = {}

    def of(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        build = self._by_class.get(cls)
        if build is None:
            if len(self._by_class) >= MAX_CLASSES:
                return self.general
            build = self._by_class[cls] = _generate(self.columns, cls)
        return build

    def __call__(self, obj: Any) -> dict[str, Any]:
        return self.of(obj.__class__)(obj)
