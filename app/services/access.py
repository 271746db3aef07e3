"""Who is calling: the business an API key belongs to, and what it may touch."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.errors import Forbidden


@dataclass(frozen=True)
class Caller:
    business_id: str
    key_prefix: str


def require_business(caller: Caller, business_id: str) -> str:
    """A businessId argument must be the caller's own: anything else is FORBIDDEN."""
    if business_id != caller.business_id:
        raise Forbidden()
    return business_id
