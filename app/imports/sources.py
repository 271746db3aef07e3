"""An export recognised: its syntax, its layout, and each record as a customer's fields.

``--format auto`` decides from the content: JSON when the text starts with
``[`` or ``{`` (an array, or JSON Lines), else CSV; then the layout from the
CSV header (Shopify's export, WooCommerce Analytics', else the generic names)
or from the keys of the first JSON object (WooCommerce's or Shopify's customer
objects, else flat objects read like a CSV header).  A named format forces
the layout, and is refused when the file is not of it.

Opening reads the whole file once: every problem of the file as a whole
(binary, a broken JSON array, a 1 GB line, no email column) is raised before
the job writes anything, and the record count gives the progress bar its end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.imports import csvfile, jsonfile, text
from app.imports.errors import ImportFileError
from app.shoppers import columns, platforms, rules

FORMATS = ("auto", "shopify", "woocommerce", "csv", "jsonl")
#: Why a record is no customer at all (the report's "unreadable" outcome).
NOT_AN_OBJECT = "NOT_AN_OBJECT"
_UNUSED_MAX = 50
_LAYOUTS_MAX = 256

_LABELS = {
    ("csv", "shopify"): "a Shopify customer export",
    ("csv", "woocommerce"): "a WooCommerce Analytics customers export",
    ("csv", None): "a CSV file",
    ("json", "shopify"): "Shopify customer objects (JSON)",
    ("json", "woocommerce"): "WooCommerce customer objects (JSON)",
    ("json", None): "JSON objects",
}
_CSV_PLATFORM_HEADERS = {
    "shopify": columns.SHOPIFY_HEADER,
    "woocommerce": columns.WOOCOMMERCE_HEADER,
}


@dataclass(frozen=True, slots=True)
class Item:
    """One record of the file: its customer's fields (service names), or why it has none."""

    line: int
    values: dict[str, object] | None
    problem: str | None = None
    #: The shop's id of the customer, when the file gives one (linked with --connection).
    external_id: str | None = None

    @classmethod
    def of(cls, line: int, shopper: rules.Shopper) -> Item:
        return cls(line, rules.values(shopper), external_id=rules.shop_id(shopper.external_id))


@dataclass
class Source:
    path: Path
    encoding: str
    syntax: str  # "csv" or "json"
    platform: str | None  # shopify, woocommerce, or None for generic names
    maps: Mapping[str, str | None]
    total: int = 0
    #: Header names or JSON keys that no field was read from, in order of appearance.
    unused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Whether the shop's customer ids are linked (--connection); else they are unused.
    linking: bool = False

    @property
    def label(self) -> str:
        return _LABELS[(self.syntax, self.platform)]

    def _note_unused(self, names: list[str]) -> None:
        for name in names:
            if name not in self.unused and len(self.unused) < _UNUSED_MAX:
                self.unused.append(name[:64])

    def _csv(self) -> tuple[columns.Layout, Iterator[csvfile.Record]]:
        """The CSV's layout (its unused columns noted) and its records."""
        lines = text.lines(self.path, self.encoding)
        header, records = csvfile.header_and_records(lines, self.path.name)
        layout = columns.Layout.of(header, self.maps)
        self._note_unused(list(layout.unused))
        if not self.linking:
            self._note_unused(
                [
                    header[at]
                    for part, ats in layout.positions
                    for at in ats
                    if part == "external_id"
                ]
            )
        return layout, records

    def items(self) -> Iterator[Item]:
        """Every record in file order, read afresh from the file."""
        if self.syntax == "csv":
            layout, records = self._csv()
            for record in records:
                if record.cells is None:
                    yield Item(record.line, None, record.problem)
                else:
                    yield Item.of(record.line, layout.shopper(record.cells))
            return
        read = self._json_reader()
        for record in _json_records(self.path, self.encoding):
            if record.problem is not None:
                yield Item(record.line, None, record.problem)
            elif not isinstance(record.value, dict):
                yield Item(record.line, None, NOT_AN_OBJECT)
            else:
                yield Item.of(record.line, read(record.value))

    def has_external_ids(self) -> bool:
        """Whether records carry the shop's customer ids: a platform's JSON objects do,
        a CSV does when a column holds them (Shopify's Customer ID)."""
        if self.syntax != "csv":
            return self.platform is not None
        return self._csv()[0].has("external_id")

    def count(self) -> int:
        """The file's records, read through once; a CSV's without mapping each row (its
        header names the unused columns), a JSON file's keys noted on the way."""
        if self.syntax != "csv":
            return sum(1 for _ in self.items())
        return sum(1 for _ in self._csv()[1])

    def _json_reader(self) -> Callable[[dict[str, object]], rules.Shopper]:
        if self.platform is not None:
            platform, reader = self.platform, platforms.READERS[self.platform]

            def read(value: dict[str, object]) -> rules.Shopper:
                ids = [] if self.linking or "id" not in value else ["id"]
                self._note_unused([*ids, *platforms.unread_keys(platform, value)])
                return reader(value)

            return read
        layouts: dict[tuple[str, ...], columns.Layout] = {}

        def read_flat(value: dict[str, object]) -> rules.Shopper:
            keys = tuple(value)
            layout = layouts.get(keys)
            if layout is None:
                layout = columns.Layout.of(keys, self.maps, every_map_used=False)
                if len(layouts) < _LAYOUTS_MAX:
                    layouts[keys] = layout
                self._note_unused(list(layout.unused))
            return layout.shopper(list(value.values()))

        return read_flat


def _first_char(path: Path, encoding: str) -> str:
    """The first character that is not white space, read from a bounded window (a
    compact JSON array is one line of any length)."""
    try:
        with path.open(encoding=encoding) as handle:
            while chunk := handle.read(1 << 16):
                if chunk.strip():
                    return chunk.strip()[0]
    except UnicodeDecodeError:
        raise text.wrong_encoding(path, encoding) from None
    return ""


def _inspect(path: Path, encoding: str, format: str, maps: Mapping[str, str | None]) -> Source:
    """The file's syntax and layout, refused when `format` names another."""
    first = _first_char(path, encoding)
    if not first:
        raise ImportFileError(f"{path.name} is empty")
    is_json = first in "[{" if format in ("auto", "shopify", "woocommerce") else format == "jsonl"
    if is_json:
        platform = format if format in platforms.READERS else None
        if format == "auto":
            first_object = _first_object(path, encoding)
            platform = platforms.platform_of(first_object) if first_object is not None else None
        return Source(path, encoding, "json", platform, maps)
    header, _ = csvfile.header_and_records(text.lines(path, encoding), path.name)
    keys = {columns.key(name) for name in header}
    detected = next((p for p, needed in _CSV_PLATFORM_HEADERS.items() if needed <= keys), None)
    if format in _CSV_PLATFORM_HEADERS and detected != format:
        missing = sorted(_CSV_PLATFORM_HEADERS[format] - keys)
        raise ImportFileError(
            f"{path.name} is not a {format} customer export: its header lacks "
            f"{len(missing)} of the export's columns; use --format csv to read it by column names"
        )
    layout = columns.Layout.of(header, maps)
    if not layout.has("email"):
        raise ImportFileError(
            f"no column of {path.name} holds the emails: the first line must be a header, "
            "with a column named e.g. Email, E-mail or Email Address, "
            "or name it with --map 'COLUMN=email'"
        )
    return Source(path, encoding, "csv", detected, maps)


def _json_records(path: Path, encoding: str) -> Iterator[jsonfile.Record]:
    """A JSON file's records: the elements of its array, else its lines."""
    if _first_char(path, encoding) == "[":
        return jsonfile.json_array(path, encoding)
    return jsonfile.json_lines(text.lines(path, encoding))


def _first_object(path: Path, encoding: str) -> dict[str, object] | None:
    for record in _json_records(path, encoding):
        if isinstance(record.value, dict):
            return record.value
    return None


def open_source(
    path: Path,
    *,
    format: str = "auto",
    encoding: str | None = None,
    maps: Mapping[str, str | None] | None = None,
    linking: bool = False,
) -> Source:
    """The export at `path`, read through once (see the module's docstring); with
    `linking`, the shop's customer ids are read to be linked."""
    if format not in FORMATS:
        raise ImportFileError(f"--format must be one of {', '.join(FORMATS)}")
    codec = text.encoding_of(path, encoding)

    def read_with(codec: str) -> Source:
        source = _inspect(path, codec, format, maps or {})
        source.linking = linking
        source.total = source.count()
        return source

    try:
        return read_with(codec)
    except text.WrongEncoding:
        if encoding or codec != text.UTF8:
            raise
    source = read_with(text.WINDOWS_1252)  # what Excel's plain CSV is on Windows
    source.notes.append(
        "read as Windows-1252 (cp1252), since it is not UTF-8; --encoding names another encoding"
    )
    return source
