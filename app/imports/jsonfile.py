"""JSON records: JSON Lines (one value a line), or one JSON array, read as a stream.

A JSON Lines file resumes after a line that does not parse (that line is
reported unreadable).  An array has no such resynchronisation point: one that
does not parse is refused whole before anything is written, naming the element.
An array is decoded element by element from a bounded buffer, so a 2 GB export
of ``GET /wp-json/wc/v3/customers`` pages costs the memory of one element.  Its
records are numbered by position (1 = the first element), since a compact array
is one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.imports.errors import ImportFileError
from app.imports.text import MAX_LINE, wrong_encoding

MAX_ELEMENT = MAX_LINE
_CHUNK = 1 << 16
_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"
UNREADABLE = "UNREADABLE"


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    value: object  # the parsed value; None with a problem when unreadable
    problem: str | None = None


def json_lines(lines: Iterator[tuple[int, str]]) -> Iterator[Record]:
    for number, text in lines:
        if not text.strip():
            continue
        try:
            yield Record(number, json.loads(text))
        except ValueError:
            yield Record(number, None, UNREADABLE)


class _Stream:
    """A window on the file's text: what is not consumed yet, refilled by chunks."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self.buffer = ""
        self.at = 0
        self.eof = False

    def more(self) -> bool:
        chunk = self._handle.read(_CHUNK)
        if "\x00" in chunk:
            raise _Binary
        self.buffer, self.at = self.buffer[self.at :] + chunk, 0
        self.eof = not chunk
        return bool(chunk)

    def next_char(self) -> str:
        """The next character that is not white space ("" at the end of the file)."""
        while True:
            while self.at < len(self.buffer) and self.buffer[self.at] in _SPACE:
                self.at += 1
            if self.at < len(self.buffer) or not self.more():
                return self.buffer[self.at : self.at + 1]

    def value(self) -> object:
        """The JSON value that starts here, reading on until it is whole."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.at)
            except ValueError:
                if len(self.buffer) - self.at > MAX_ELEMENT or not self.more():
                    raise
                continue
            if end == len(self.buffer) and self.more():
                continue  # a number may go on in the next chunk
            self.at = end
            return value


class _Binary(Exception):
    pass


def json_array(path: Path, encoding: str) -> Iterator[Record]:
    """The elements of the array that is the whole file."""
    name = path.name
    try:
        with path.open(encoding=encoding) as handle:
            stream = _Stream(handle)
            if stream.next_char() != "[":
                raise ImportFileError(f"{name} does not start with a JSON array")
            stream.at += 1
            index = 0
            while True:
                char = stream.next_char()
                if char == "]" and index == 0:
                    stream.at += 1
                    break
                try:
                    value = stream.value()
                except ValueError:
                    raise ImportFileError(
                        f"element {index + 1} of the JSON array in {name} is not valid JSON "
                        f"(or is longer than {MAX_ELEMENT >> 20} MiB)"
                    ) from None
                index += 1
                yield Record(index, value)
                char = stream.next_char()
                stream.at += 1
                if char == "]":
                    break
                if char != ",":
                    raise ImportFileError(
                        f"the JSON array in {name} is broken after element {index} "
                        "(a ',' or ']' is missing)"
                    )
            if stream.next_char():
                raise ImportFileError(f"{name} has more text after its JSON array")
    except UnicodeDecodeError:
        raise wrong_encoding(path, encoding) from None
    except _Binary:
        raise ImportFileError(f"{name} is not a text file (a NUL byte)") from None
