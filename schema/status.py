"""The HTTP status of a GraphQL answer, by the media type it is written in.

GraphQL over HTTP gives each media type its own rules:

- ``application/graphql-response+json``: a document that was never executed
  (it did not parse, did not validate, or its variables did not coerce) is a
  request error, 400, and its answer has no ``data``; once execution started the
  answer is 200, field errors and a null ``data`` included.  One exception: 503
  when the database was unreachable and nothing could be answered, so that load
  balancers and clients retry.
- Both: 429 when the request was refused for what its key owes (RATE_LIMITED,
  before execution), as the HTTP layers answer it.
- ``application/json``: 400 for parse, validation and limit failures (the
  choice DESIGN.md made: a document refused before execution is the client's
  error, and proxies and dashboards count it as one); 503 when the database was
  unreachable; 200 otherwise, as the spec asks, bad variable values and
  out-of-range arguments (BAD_USER_INPUT) included.
"""

from __future__ import annotations

from graphql import GraphQLError

from app.http.media import GRAPHQL_RESPONSE
from schema.errors import PARSE_FAILED, RATE_LIMITED, UNAVAILABLE, VALIDATION_FAILED

_REFUSED = {PARSE_FAILED, VALIDATION_FAILED}


def executed(data: object, errors: list[GraphQLError] | None) -> bool:
    """Whether execution started: it left data, or an error at a field's path.

    Errors raised before execution (parsing, validation, variable coercion)
    have no path; a null ``data`` after execution always comes with a field
    error that has one (the null propagated from that field).
    """
    return data is not None or any(error.path is not None for error in errors or ())


def status_of(codes: set[str], *, ran: bool, has_data: bool, media: str) -> int:
    if RATE_LIMITED in codes and not ran:
        return 429
    if media == GRAPHQL_RESPONSE:
        if not ran:
            return 400
        return 503 if UNAVAILABLE in codes and not has_data else 200
    if codes & _REFUSED:
        return 400
    return 503 if UNAVAILABLE in codes else 200
