"""An export as numbered lines of text, with the guards every reader needs.

- Encoding: a BOM decides (UTF-8, UTF-16 as Excel's "Unicode Text" saves);
  otherwise UTF-8, and a file that is not UTF-8 is read as Windows-1252, what
  Excel's plain "CSV (Comma delimited)" writes on Windows, unless ``--encoding``
  says otherwise.  The choice is made before anything is written (the job reads
  the whole file once first) and said in the summary.
- A binary file (a NUL character, a ZIP such as an .xlsx) is refused with what to
  do instead.
- No line may exceed MAX_LINE characters: a 1 GB line is refused after 1 MiB has
  been read, so memory stays bounded whatever the file holds.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from app.imports.errors import ImportFileError

MAX_LINE = 1 << 20  # characters
UTF8, WINDOWS_1252 = "utf-8", "cp1252"
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # the old .xls


class WrongEncoding(ImportFileError):
    """The file does not decode with the codec tried (sources may try another)."""


def encoding_of(path: Path, chosen: str | None) -> str:
    """The codec to read `path` with: the user's, the BOM's, else UTF-8."""
    with path.open("rb") as raw:
        start = raw.read(1 << 16)
    if start.startswith((_ZIP, _OLE)):
        raise ImportFileError(
            f"{path.name} is an Excel workbook, not a text export: in Excel use "
            "File > Save As > CSV UTF-8 (Comma delimited), then import that file"
        )
    if chosen:
        try:
            return codecs.lookup(chosen).name
        except LookupError:
            raise ImportFileError(f"unknown encoding {chosen!r} (e.g. utf-8, cp1252)") from None
    for bom, codec in _BOMS:
        if start.startswith(bom):
            return codec
    if b"\x00" in start:
        raise ImportFileError(
            f"{path.name} is not a text file (it holds NUL bytes): "
            "export the customers as CSV or JSON"
        )
    return UTF8


def lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text with its line ending) from 1, each at most MAX_LINE long."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            number = 0
            while text := handle.readline(MAX_LINE + 1):
                number += 1
                if len(text) > MAX_LINE:
                    raise ImportFileError(
                        f"line {number} of {path.name} is longer than {MAX_LINE >> 20} MiB: "
                        "this is not a customer export"
                    )
                if "\x00" in text:
                    raise ImportFileError(
                        f"{path.name} is not a text file (a NUL byte on line {number}): "
                        "export the customers as CSV or JSON"
                    )
                yield number, text
    except UnicodeDecodeError:
        raise wrong_encoding(path, encoding) from None


def wrong_encoding(path: Path, encoding: str) -> WrongEncoding:
    return WrongEncoding(
        f"{path.name} is not {encoding} text; pass --encoding with the file's encoding "
        "(Excel's plain CSV on Windows is cp1252), or save it as CSV UTF-8"
    )
