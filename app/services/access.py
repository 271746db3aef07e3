"""Who is calling: the business an API key belongs to, and what it may do there.

A key has one scope.  ``write`` may do everything; ``read`` may only query;
``read_masked`` may only query and sees PII masked (app.services.masking), so
a till or a reporting tool never holds a shopper's contact details in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.services.errors import Forbidden


class Scope(StrEnum):
    WRITE = "write"
    READ = "read"
    READ_MASKED = "read_masked"


@dataclass(frozen=True)
class Caller:
    business_id: str
    key_prefix: str
    scope: Scope = Scope.WRITE

    @property
    def masked(self) -> bool:
        return self.scope is Scope.READ_MASKED


def require_business(caller: Caller, business_id: str) -> str:
    """A businessId argument must be the caller's own: anything else is FORBIDDEN."""
    if business_id != caller.business_id:
        raise Forbidden()
    return business_id


def require_write(caller: Caller) -> None:
    """Every change starts here, before anything is read: read-only keys are FORBIDDEN."""
    if caller.scope is not Scope.WRITE:
        raise Forbidden("This API key may only read")


def require_clear(caller: Caller) -> None:
    """What only shows unmasked data (secrets, endpoints) is closed to masked keys."""
    if caller.masked:
        raise Forbidden("This API key sees masked data only")
