"""Which media type a GraphQL answer is written in, from the request's Accept header.

GraphQL over HTTP defines two: ``application/json`` (the legacy one, which every
client understands) and ``application/graphql-response+json`` (whose status
codes a client can trust, since no proxy writes it).  The choice, in the
spirit of RFC 9110's content negotiation:

- no Accept header, or only wildcards (``*/*``, ``application/*``):
  ``application/json``, so clients written before the new type keep their
  answers exactly (the spec's later default, the new type, would change them);
- otherwise the type with the highest ``q``, where the most specific range that
  names a type sets its ``q`` (``application/json;q=0, */*`` refuses JSON); when
  both are named with equal ``q``, ``application/graphql-response+json``;
- nothing acceptable (``text/html`` alone, ``q=0`` on both): ``None``, which the
  endpoint answers with 406 Not Acceptable.
"""

from __future__ import annotations

from starlette.types import Scope

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
#: The Content-Type header of each: the legacy one exactly as it always was.
CONTENT_TYPES = {JSON: JSON, GRAPHQL_RESPONSE: f"{GRAPHQL_RESPONSE}; charset=utf-8"}
#: The most specific range wins: an exact type over ``application/*`` over ``*/*``.
_EXACT, _SUBTYPE_WILDCARD, _WILDCARD = 2, 1, 0
#: A long Accept header is cut here: no client names hundreds of types.
MAX_RANGES = 32


def _ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, q) pairs; a malformed q counts as 0 (not acceptable)."""
    ranges = []
    for part in accept.split(",")[:MAX_RANGES]:
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def _quality(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The q the most specific matching range gives ``media``, and that range's rank."""
    kind = media.split("/", 1)[0]
    best: tuple[int, float] | None = None
    for candidate, q in ranges:
        if candidate == media:
            rank = _EXACT
        elif candidate == f"{kind}/*":
            rank = _SUBTYPE_WILDCARD
        elif candidate == "*/*":
            rank = _WILDCARD
        else:
            continue
        if best is None or rank > best[0] or (rank == best[0] and q > best[1]):
            best = (rank, q)
    return (0.0, -1) if best is None else (best[1], best[0])


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither."""
    if accept is None or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    json_q, _ = _quality(JSON, ranges)
    new_q, new_rank = _quality(GRAPHQL_RESPONSE, ranges)
    if max(json_q, new_q) <= 0:
        return None
    if new_q > json_q or (new_q == json_q and new_rank == _EXACT):
        return GRAPHQL_RESPONSE
    return JSON


def accept_header(scope: Scope) -> str | None:
    """The Accept header of an ASGI request (several are joined, as RFC 9110 allows)."""
    values = [value for name, value in scope.get("headers", ()) if name == b"accept"]
    return b",".join(values).decode("latin-1") if values else None


def media_of(scope: Scope) -> str:
    """The negotiated media type, JSON when nothing is acceptable (for errors only)."""
    return negotiate(accept_header(scope)) or JSON
