"""Compiled plans answer exactly as the general path: byte for byte, errors included.

Each operation is sent twice to one view: the first request runs through
Strawberry (and compiles a plan when the document is a covered shape), the
second is answered from the plan, or, when the plan hands back (an error, a null
in a non-null field), again the general way.  Operations come from
hypothesis-graphql over the real schema, with their ids pointed at real data of
the caller's business, plus hand-written shapes; FINORA_COMPILED_EXAMPLES sets
how many are generated.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from graphql import ArgumentNode, StringValueNode, parse, print_ast, visit
from graphql.language import Visitor
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis_graphql import from_schema

from app.http.app import create_web_app
from schema.http import GraphQLView
from schema.schema import build_schema
from schema.sdl import sdl
from tests.test_api import create

EXAMPLES = int(os.environ.get("FINORA_COMPILED_EXAMPLES", "300"))
QUERY_FIELDS = ["customer", "customers", "customerConnection", "searchCustomers"]
ALL = """id businessId name email phone address tin companyName accountBalanceKobo
         accountBalance isActive createdAt updatedAt"""
SHAPES = [
    f"query One($id: ID!) {{ customer(id: $id) {{ {ALL} }} }}",
    f"query($b: ID!) {{ customers(businessId: $b, limit: 100) {{ {ALL} }} }}",
    """query($b: ID!) { a: customers(businessId: $b, limit: 3) { k: id ...F __typename }
       b: customer(id: $id0) { name } __typename } fragment F on Customer { name email }""",
    """query($b: ID!) { customerConnection(businessId: $b, first: 2) {
       edges { cursor node { id name } } pageInfo { hasNextPage endCursor } totalCount } }""",
    'query($b: ID!) { searchCustomers(businessId: $b, q: "ada") { count customers { id } } }',
    "query($b: ID!, $yes: Boolean!) { customers(businessId: $b) { id email @include(if: $yes) } }",
    'query { customers(businessId: "biz_other") { id } }',
    "query($b: ID!) { customers(businessId: $b, limit: 0) { id } }",
    "query($b: ID!) { customers(businessId: $b, limit: $big) { id } }",
    "query($id: ID!) { customer(id: $id) { id } }",
]


class _PointAtData(Visitor):
    """Generated ids name nothing: point them at the caller's business and a customer."""

    def __init__(self, business_id: str, customer_id: str) -> None:
        super().__init__()
        self.values = {"businessId": business_id, "id": customer_id}

    def enter_argument(self, node: ArgumentNode, *_: Any) -> ArgumentNode | None:
        value = self.values.get(node.name.value)
        if value is None or not isinstance(node.value, StringValueNode):
            return None
        return ArgumentNode(name=node.name, value=StringValueNode(value=value))


def _answer(response: httpx.Response) -> tuple[int, str, bytes]:
    return response.status_code, response.headers["content-type"], response.content


async def test_plans_answer_like_the_general_path(settings, app, gql, tenant):
    first = await create(
        gql, tenant, name="Ada Obi", email="ada@example.com", phone="08012345678", tin="1234567890"
    )
    for n in range(4):
        await create(gql, tenant, name=f"Person {n}", email=f"p{n}@example.ng")
    view = GraphQLView(build_schema(), graphql_ide=None, allow_queries_via_get=True)
    web = create_web_app(settings, view)
    point = _PointAtData(tenant.business_id, first["id"])
    variables = {"b": tenant.business_id, "id": first["id"], "id0": first["id"], "yes": True}
    loop = asyncio.get_running_loop()
    mismatches: list[str] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://t", headers=tenant.headers
    ) as http:

        async def twice(query: str, get: bool, accept: str) -> None:
            headers = {"accept": accept}
            answers = []
            for _ in range(2):
                if get:
                    params = {"query": query, "variables": __import__("json").dumps(variables)}
                    response = await http.get("/graphql", params=params, headers=headers)
                else:
                    body = {"query": query, "variables": variables}
                    response = await http.post("/graphql", json=body, headers=headers)
                answers.append(_answer(response))
            if answers[0] != answers[1]:
                mismatches.append(f"{query[:300]}\n{answers[0]}\n{answers[1]}")

        for n, shape in enumerate(SHAPES):
            accept = "application/graphql-response+json" if n % 2 else "application/json"
            await twice(shape, get=bool(n % 3 == 0), accept=accept)

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(from_schema(sdl(), fields=QUERY_FIELDS))
        def check(query: str) -> None:
            query = print_ast(visit(parse(query), point))
            done = asyncio.run_coroutine_threadsafe(
                twice(query, get=len(query) % 2 == 0, accept="application/json"), loop
            )
            done.result()

        await asyncio.to_thread(check)

    assert mismatches == [], mismatches[:3]
    compiled = [plan for _, (plan, _) in view.plans._items.items() if plan is not None]
    assert len(compiled) >= 20, len(compiled)
