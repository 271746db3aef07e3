"""CSV records, one per customer, each with the line it starts on.

The separator is the one the header uses most (``,``, ``;`` or tab; Excel
writes ``;`` where the comma is the decimal mark, and may put a ``sep=;`` line
first).  A quoted cell may hold newlines (Shopify's notes do).

A quote that is never closed would take every following line into one cell,
and the rows in it would vanish.  So a record is parsed strictly, and one that
spans several lines is kept only if it parses cleanly into as many cells as
the header has; otherwise its first line is reported unreadable and reading
resumes on the line after it, which is usually the next good row.  A record is
also bounded (MAX_RECORD characters), so an unclosed quote costs at most that.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.imports.errors import ImportFileError

MAX_RECORD = 1 << 20  # characters, over all its lines
DELIMITERS = (",", ";", "\t")
_QUOTED = re.compile(r'"[^"]*"')
_EXCEL_SEP = re.compile(r"^sep=(.)\r?\n?$")

#: Why a record is unreadable.
UNCLOSED_QUOTE = "UNCLOSED_QUOTE"
MALFORMED = "MALFORMED"
EXTRA_CELLS = "EXTRA_CELLS"
TOO_LONG = "TOO_LONG"


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    cells: list[str] | None  # None: unreadable
    problem: str | None = None


class _TooLong(Exception):
    pass


def delimiter_of(header: str) -> str:
    """The separator the header line uses most, outside quotes (``,`` when none)."""
    bare = _QUOTED.sub("", header)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Splitter:
    """Records from numbered lines; a record that fails gives its first line back as
    unreadable and its other lines to be read again."""

    def __init__(self, lines: Iterator[tuple[int, str]], delimiter: str, width: int) -> None:
        self._lines = lines
        self._delimiter = delimiter
        self._width = width
        self._again: deque[tuple[int, str]] = deque()
        self._taken: list[tuple[int, str]] = []
        self._size = 0

    def _feed(self) -> Iterator[str]:
        while True:
            if self._again:
                item = self._again.popleft()
            else:
                item = next(self._lines, None)
                if item is None:
                    return
            self._taken.append(item)
            self._size += len(item[1])
            if self._size > MAX_RECORD:
                raise _TooLong
            yield item[1]

    def _fail(self, problem: str) -> Record:
        first, *rest = self._taken
        self._again.extendleft(reversed(rest))
        self._taken, self._size = [], 0
        return Record(first[0], None, problem)

    def __iter__(self) -> Iterator[Record]:
        width = self._width
        while True:
            reader = csv.reader(self._feed(), delimiter=self._delimiter, strict=True)
            try:
                for cells in reader:
                    if not any(cells):  # a blank line, or Excel's row of separators
                        self._taken, self._size = [], 0
                        continue
                    spans = len(self._taken) > 1
                    if spans and len(cells) != width:
                        yield self._fail(UNCLOSED_QUOTE)
                        break  # read its other lines again, with a new reader
                    if len(cells) > width and any(cells[width:]):
                        yield self._fail(EXTRA_CELLS)
                        continue
                    line = self._taken[0][0]
                    self._taken, self._size = [], 0
                    yield Record(line, cells)
                else:
                    return
            except csv.Error:
                yield self._fail(UNCLOSED_QUOTE if len(self._taken) > 1 else MALFORMED)
            except _TooLong:
                yield self._fail(TOO_LONG)


def header_and_records(
    lines: Iterator[tuple[int, str]], file_name: str
) -> tuple[list[str], Iterator[Record]]:
    """The header's names and the records after it."""
    first = next(lines, None)
    while first is not None and not first[1].strip():
        first = next(lines, None)
    if first is None:
        raise ImportFileError(f"{file_name} is empty")
    excel = _EXCEL_SEP.match(first[1])
    if excel:
        delimiter = excel.group(1)
        first = next(lines, None)
        if first is None:
            raise ImportFileError(f"{file_name} has no header line")
    else:
        delimiter = delimiter_of(first[1])
    try:
        header: Sequence[str] = next(csv.reader([first[1]], delimiter=delimiter, strict=True))
    except csv.Error:
        raise ImportFileError(
            f"the header (line {first[0]}) of {file_name} is not valid CSV"
        ) from None
    names = [name.strip() for name in header]
    return names, iter(_Splitter(lines, delimiter, len(names)))
