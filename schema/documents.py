"""Parsed and validated documents, kept per process, bounded in memory as well as count.

A document is parsed and validated once and then served from here (Strawberry's
own caches count entries only, so 200 documents of 900 KB, a long comment each,
grew a worker by 300 MiB and kept it).  What is kept is bounded three ways:

- ``MAX_QUERY_CHARS``: a longer document is refused before it is parsed (400,
  GRAPHQL_VALIDATION_FAILED).  Parsing costs about 0.15 s per 900 KB of loop
  time, and every limit on tokens (2,000) leaves no use for more text;
- every entry is weighed by what its syntax tree really holds: its text, plus
  ``BYTES_PER_TOKEN`` for each token (measured: about 350 bytes a token for the
  tree and its tokens), and the store holds at most ``MAX_BYTES`` of them and
  ``MAX_ENTRIES`` (least recently used out first);
- a document holding a string literal is kept nowhere (here, nor as a compiled
  plan or a persisted query): a literal may be an email, and what the service
  keeps, an erasure could not reach.  Clients send values as variables.

The compiled plans and the persisted queries use the same weight (``weight``),
so one rule decides what the process keeps of a client's documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, TokenKind, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.bounded import BoundedStore
from schema.errors import VALIDATION_FAILED

MAX_QUERY_CHARS = 50_000
MAX_ENTRIES = 256
MAX_BYTES = 32 * 1024 * 1024
BYTES_PER_TOKEN = 400
_STRINGS = (TokenKind.STRING, TokenKind.BLOCK_STRING)
_UNVALIDATED: Any = object()


def weight(query: str, document: DocumentNode) -> int | None:
    """The bytes keeping ``document`` costs, or None when it is not to be kept."""
    loc = document.loc
    token = loc.start_token if loc is not None else None
    tokens = 0
    while token is not None:
        if token.kind in _STRINGS:
            return None
        tokens += 1
        token = token.next
    return len(query) + BYTES_PER_TOKEN * tokens


class _Entry:
    __slots__ = ("document", "errors")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.errors: list[GraphQLError] | Any = _UNVALIDATED


#: One store for the process: every schema shares it, as Strawberry's caches did.
DOCUMENTS: BoundedStore[_Entry] = BoundedStore(MAX_ENTRIES, MAX_BYTES)


def too_long() -> GraphQLError:
    return GraphQLError(
        f"The document is longer than {MAX_QUERY_CHARS:,} characters.",
        extensions={"code": VALIDATION_FAILED},
    )


class DocumentCache(SchemaExtension):
    """Parsing and validation served from ``DOCUMENTS`` (in place of Strawberry's
    ParserCache and ValidationCache)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and context.graphql_document is None:
            if len(query) > MAX_QUERY_CHARS:
                raise too_long()
            entry = DOCUMENTS.get(query)
            if entry is None:
                document = parse(query, **context.parse_options)
                entry = _Entry(document)
                size = weight(query, document)
                if size is not None:
                    DOCUMENTS.put(query, entry, size)
            context.graphql_document = entry.document
            self._entry = entry
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry: _Entry | None = getattr(self, "_entry", None)
        if entry is not None and entry.document is context.graphql_document:
            if entry.errors is _UNVALIDATED:
                entry.errors = validate_document(
                    context.schema._schema, entry.document, context.validation_rules
                )
            context.pre_execution_errors = entry.errors
        yield
