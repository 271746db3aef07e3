"""One error shape: every top-level error carries ``extensions.code``.

Known service errors keep their message; everything else is masked to
"Internal server error" and logged by type only (an exception's text may hold
SQL, ciphertext or PII).  Parse and validation failures are refused with HTTP
400 before execution; field suggestions ("Did you mean") are off in the config.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from app.models import keyring
from app.services.errors import Forbidden, InvalidInput, ServiceError, UserError
from app.services.health import is_unavailable

log = logging.getLogger("finora.graphql")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"
RATE_LIMITED = "RATE_LIMITED"
MASKED_MESSAGE = "Internal server error"
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable"


@strawberry.enum
class UserErrorCode(Enum):
    BLANK = "BLANK"
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    TAKEN = "TAKEN"
    NOT_FOUND = "NOT_FOUND"
    ERASED = strawberry.enum_value(
        "ERASED",
        description="The customer was erased; its personal data can no longer be changed.",
    )


@strawberry.type(name="UserError")
class UserErrorType:
    field: list[str] | None
    message: str
    code: UserErrorCode

    @classmethod
    def from_service(cls, error: UserError) -> UserErrorType:
        return cls(
            field=list(error.field) if error.field is not None else None,
            message=error.message,
            code=UserErrorCode(error.code),
        )


def user_errors(exc: InvalidInput) -> list[UserErrorType]:
    """A mutation's refused input, as its payload's userErrors (every problem at once)."""
    return [UserErrorType.from_service(error) for error in exc.errors]


class TagValidationErrors(SchemaExtension):
    """Marks errors found while validating, so they are told apart from
    variable-coercion errors, which also come without an original exception."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if error.extensions is None or "code" not in error.extensions:
                error.extensions = {**(error.extensions or {}), "code": VALIDATION_FAILED}


_VARIABLE = re.compile(r"^Variable '\$(\w+)' (?:got|has) invalid value")
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_ECHO = re.compile(r"[,;.]?\s*(?:[Ff]ound:?|value:)\s.*$", re.S)


def _without_values(message: str) -> str:
    """A graphql-core message without echoed input (it may be PII) or suggestions."""
    if match := _VARIABLE.match(message):
        return f"Variable '${match.group(1)}' got an invalid value."
    message = _SUGGESTION.sub("", message)
    cut = _ECHO.sub("", message)
    return cut if cut == message else cut.rstrip(" .,;:") + "."


def classify(error: GraphQLError) -> tuple[str, str]:
    """(code, public message) of one error."""
    original = error.original_error
    if isinstance(error, GraphQLSyntaxError):
        # The token limit stops the parser; it is a limit, not a syntax error.
        code = VALIDATION_FAILED if "Parsing aborted" in error.message else PARSE_FAILED
        return code, _without_values(error.message)
    if isinstance(original, ServiceError) and original.code != INTERNAL:
        return original.code, original.message
    if isinstance(original, keyring.KeysGone):  # offboarded since this key was checked
        gone = Forbidden()
        return gone.code, gone.message
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return original.extensions["code"], original.message  # a limit raised after parsing
    if error.path is None:  # refused before execution: validation or variables
        code = (error.extensions or {}).get("code")
        if code != VALIDATION_FAILED:
            code = BAD_USER_INPUT
        return code, _without_values(error.message)
    if is_unavailable(original):
        return UNAVAILABLE, UNAVAILABLE_MESSAGE
    return INTERNAL, MASKED_MESSAGE


def format_error(error: GraphQLError) -> dict[str, Any]:
    code, message = classify(error)
    formatted: dict[str, Any] = {"message": message}
    if error.locations:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path is not None:
        formatted["path"] = error.path
    formatted["extensions"] = {"code": code}
    return formatted


def log_errors(errors: list[GraphQLError]) -> None:
    """Log what went wrong without its text: type, code and place only."""
    for error in errors:
        code, _ = classify(error)
        if code in (INTERNAL, UNAVAILABLE):
            original = error.original_error
            log.error(
                "resolver failed",
                extra={
                    "fields": {
                        "code": code,
                        "error_type": type(original).__name__ if original else "GraphQLError",
                        "path": ".".join(str(p) for p in error.path or ()),
                    }
                },
            )
