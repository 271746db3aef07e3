"""Custom scalars: DateTime (UTC, milliseconds, Z) and BigInt (64-bit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.http.responses import format_instant

BigInt = NewType("BigInt", int)

_INT64 = (-(2**63), 2**63 - 1)


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime needs a time zone, e.g. Z")
    return parsed.astimezone(UTC)


def parse_bigint(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not _INT64[0] <= value <= _INT64[1]:
        raise ValueError("BigInt must be a 64-bit integer")
    return value


SCALARS: dict[object, ScalarDefinition] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "An instant in UTC, ISO-8601 with milliseconds and a Z, e.g. 2026-03-20T09:15:00.000Z."
        ),
        serialize=format_instant,
        parse_value=parse_datetime,
    ),
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A 64-bit signed integer. Serialized as a JSON number.",
        serialize=int,
        parse_value=parse_bigint,
    ),
}
