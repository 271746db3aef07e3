"""Automatic persisted queries (Apollo's APQ protocol), kept per process.

A client sends ``extensions.persistedQuery = {version: 1, sha256Hash}`` without
the query; a known hash runs the stored document, an unknown one is answered
``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``, HTTP 200), after
which the client sends hash and query together.  Then the hash is checked (a
mismatch is refused, 400) and the document is stored once it has parsed and
validated, every limit included (the view stores it when ``NameOperation``
saw it validated, or when a compiled plan for it exists).

Documents are stored per business: a hash names a document only for the
business that sent it, so another business probing a hash learns nothing
("not found" either way), not even which searches were run.  A document
holding a string literal is never stored (``schema.documents.weight``).

Each process keeps the documents it has seen, bounded by entries and by
characters (least recently used out first).  With FINORA_REDIS_URL they are
also stored in Redis (app.shared.documents), so that a document learned by one
worker or host is found by every other: a process that does not know a hash
asks Redis once, then keeps the document.  Without Redis (or while it is away),
a worker that restarts, or another worker, answers "not found" once and the
client sends the query again.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.shared.documents import SharedDocuments
from schema.bounded import BoundedStore

VERSION = 1
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
#: Defaults: documents are at most 2,000 tokens, so a few MiB holds every shape a
#: client sends, and a flood of distinct documents only evicts older ones.
MAX_ENTRIES = 1000
MAX_CHARS = 4_000_000


class PersistedQueryError(Exception):
    """The persistedQuery extension cannot be honoured: answered with its status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class PersistedStore:
    """The documents of this process, in front of the shared ones when there are."""

    def __init__(self, shared: SharedDocuments | None = None) -> None:
        self.local: BoundedStore[str] = BoundedStore(MAX_ENTRIES, MAX_CHARS)
        self.shared = shared

    async def get(self, business_id: str, digest: str) -> str | None:
        query = self.local.get((business_id, digest))
        if query is None and self.shared is not None:
            query = await self.shared.get(business_id, digest)
            if query is not None:
                self.local.put((business_id, digest), query, len(query))
        return query

    async def put(self, key: tuple[str, str], query: str) -> None:
        """Keep a validated document (stored in Redis once, when this process learns it)."""
        if key in self.local:
            self.local.get(key)  # most recently used
            return
        self.local.put(key, query, len(query))
        if self.shared is not None:
            await self.shared.put(key[0], key[1], query)


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def requested_hash(params: dict[str, Any]) -> str | None:
    """The sha256Hash a request names, or None when it uses no persisted query."""
    extensions = params.get("extensions")
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != VERSION:
        raise PersistedQueryError(400, "BAD_USER_INPUT", "Unsupported persisted query version")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise PersistedQueryError(
            400, "BAD_USER_INPUT", "persistedQuery.sha256Hash must be a SHA-256 hex digest"
        )
    return digest.lower()


async def resolve(
    params: dict[str, Any], store: PersistedStore, business_id: str
) -> tuple[str, str] | None:
    """Fills ``params["query"]`` from the business's documents; returns the key to store
    the document under after validation.

    Raises PersistedQueryError for an unknown hash or a query that does not match it.
    """
    digest = requested_hash(params)
    if digest is None:
        return None
    query = params.get("query")
    if query is None:
        stored = await store.get(business_id, digest)
        if stored is None:
            raise PersistedQueryError(200, NOT_FOUND_CODE, NOT_FOUND_MESSAGE)
        params["query"] = stored
        return None
    if isinstance(query, str) and sha256_hex(query) != digest:
        raise PersistedQueryError(
            400, "BAD_USER_INPUT", "The query does not match persistedQuery.sha256Hash"
        )
    return business_id, digest
