"""What the read benchmark asks of both sides, and the check that both answer alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    pass

from bench.rawhttp import fetch, get_request, graphql_request
from bench.servers import Server

FIELDS = (
    "id",
    "businessId",
    "name",
    "email",
    "phone",
    "address",
    "tin",
    "companyName",
    "accountBalanceKobo",
    "accountBalance",
    "isActive",
    "createdAt",
    "updatedAt",
)
LIST_QUERY = (
    "query List($businessId: ID!, $limit: Int!) "
    "{ customers(businessId: $businessId, limit: $limit) { %s } }"
)
ONE_QUERY = "query One($id: ID!) { customer(id: $id) { %s } }"
#: How many ids scenario (b) asks for in turn (the first ones in list order).
BY_ID_COUNT = 100


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    fields: tuple[str, ...]
    #: The list size, or None for the by-id scenario.
    limit: int | None

    def service_requests(self, port: int, target: Target) -> list[bytes]:
        selection = " ".join(self.fields)
        if self.limit is None:
            return [
                graphql_request(port, target.token, ONE_QUERY % selection, {"id": i})
                for i in target.ids
            ]
        variables = {"businessId": target.business_id, "limit": self.limit}
        return [graphql_request(port, target.token, LIST_QUERY % selection, variables)]

    def floor_requests(self, port: int, target: Target) -> list[bytes]:
        if self.limit is None:
            return [get_request(port, "/customer?" + urlencode({"id": i})) for i in target.ids]
        query = urlencode({"businessId": target.business_id, "limit": self.limit})
        return [get_request(port, "/customers?" + query)]


SCENARIOS = {
    s.key: s
    for s in (
        Scenario("a", "customers(limit: 100), every field", FIELDS, 100),
        Scenario("b", "customer(id), every field", FIELDS, None),
        Scenario("c", "customers(limit: 10), every field", FIELDS, 10),
        Scenario("d", "customers(limit: 100) { id name }", ("id", "name"), 100),
    )
}


@dataclass
class Target:
    """What the requests name: the business, its key, and customer ids for (b)."""

    business_id: str
    token: str
    ids: list[str] = field(default_factory=list)


# Equality of the two sides ------------------------------------------------------


def _data(name: str, status: int, body: bytes) -> Any:
    document = json.loads(body)
    if status != 200 or "errors" in document:
        raise SystemExit(f"{name} answered {status}: {body[:300]!r}")
    return document["data"]


async def both_sides(
    scenario: Scenario, service: Server, floor: Server, target: Target
) -> list[tuple[Any, Any]]:
    """Every request of a scenario, sent to each side: the two `data` objects, pairwise."""
    pairs = []
    for to_service, to_floor in zip(
        scenario.service_requests(service.port, target),
        scenario.floor_requests(floor.port, target),
        strict=True,
    ):
        pairs.append(
            (
                _data("service", *await fetch(service.port, to_service)),
                _data("floor", *await fetch(floor.port, to_floor)),
            )
        )
    return pairs


def difference(got: list[Any], want: list[Any]) -> str | None:
    """Where two customer lists first differ (field names only), or None."""
    if len(got) != len(want):
        return f"{len(got)} vs {len(want)} customers"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g != w:
            if g is None or w is None:
                return f"customer {i}: {'service' if g is None else 'floor'} has none"
            fields = sorted(k for k in g.keys() | w.keys() if g.get(k) != w.get(k))
            return f"customer {i} ({w['id']}) differs in {', '.join(fields)}"
    return None


async def verify(service: Server, floor: Server, target: Target, expected: int) -> None:
    """Every scenario, both sides: the same customers in the same order, field for field.

    The floor is only a fair floor if it does the same work, so a mismatch stops
    the run before any timing.  Scenario (a) also picks the ids that (b) asks for.
    """
    for scenario in SCENARIOS.values():
        for service_data, floor_data in await both_sides(scenario, service, floor, target):
            if scenario.limit is None:
                got, full = [service_data["customer"]], [floor_data["customer"]]
            else:
                got, full = service_data["customers"], floor_data["customers"]
                if len(full) != min(scenario.limit, expected):
                    raise SystemExit(f"({scenario.key}) the floor returned {len(full)} customers")
            want = [None if c is None else {k: c[k] for k in scenario.fields} for c in full]
            if (problem := difference(got, want)) is not None:
                raise SystemExit(f"({scenario.key}) service and floor differ: {problem}")
            if scenario.key == "a":
                target.ids = [c["id"] for c in full[:BY_ID_COUNT]]
