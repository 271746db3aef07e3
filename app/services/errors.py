"""The service errors, one small tree.

    ServiceError              (code INTERNAL_SERVER_ERROR; never shown as is)
    ├── Forbidden             a businessId the caller does not own
    ├── BadUserInput          an argument out of range, a malformed cursor
    ├── RateLimited           the key has not paid for what it asks (it carries the wait)
    ├── Unavailable           the database cannot be reached
    └── InvalidInput          mutation input errors, carried as UserErrors

Messages never contain the offending value: it may be PII.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserError:
    field: tuple[str, ...] | None
    code: str  # BLANK, INVALID, TOO_LONG, TAKEN, NOT_FOUND
    message: str


class ServiceError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str = "Internal server error") -> None:
        super().__init__(message)
        self.message = message


class Forbidden(ServiceError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "This API key has no access to that business") -> None:
        super().__init__(message)


class BadUserInput(ServiceError):
    code = "BAD_USER_INPUT"


class RateLimited(ServiceError):
    code = "RATE_LIMITED"

    def __init__(self, retry_after: float) -> None:
        super().__init__("Too many requests for this API key")
        self.retry_after = retry_after


class Unavailable(ServiceError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str = "The service is temporarily unavailable") -> None:
        super().__init__(message)


class InvalidInput(ServiceError):
    code = "BAD_USER_INPUT"

    def __init__(self, errors: list[UserError]) -> None:
        super().__init__("Invalid input")
        self.errors = errors
