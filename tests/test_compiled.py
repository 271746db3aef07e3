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
import json
import os
from dataclasses import replace
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


def _answer(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, every header in order but the request id, and the body."""
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"x-request-id"]
    return response.status_code, headers, response.content


async def test_plans_answer_like_the_general_path(settings, app, gql, tenant):
    first = await create(
        gql, tenant, name="Ada Obi", email="ada@example.com", phone="08012345678", tin="1234567890"
    )
    for n in range(4):
        await create(gql, tenant, name=f"Person {n}", email=f"p{n}@example.ng")
    view = GraphQLView(build_schema(), graphql_ide=None, allow_queries_via_get=True)
    web = create_web_app(replace(settings, rate_per_second=0), view)  # no 429s mid-test
    point = _PointAtData(tenant.business_id, first["id"])
    variables = {"b": tenant.business_id, "id": first["id"], "id0": first["id"], "yes": True}
    loop = asyncio.get_running_loop()
    mismatches: list[str] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://t", headers=tenant.headers
    ) as http:

        async def twice(
            query: str, get: bool, accept: str, variables: dict[str, Any] = variables
        ) -> None:
            headers = {"accept": accept}
            answers = []
            for _ in range(2):
                if get:
                    params = {"query": query, "variables": json.dumps(variables)}
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
        # Variables that do not coerce, are missing, null, or of the wrong kind.
        typed = (
            "query($b: ID!, $n: Int, $s: String) { customers(businessId: $b, limit: $n) { id } }"
        )
        for n, sent in enumerate(
            [
                {"b": tenant.business_id},
                {"b": tenant.business_id, "n": None},
                {"b": tenant.business_id, "n": 2, "s": None},
                {"b": tenant.business_id, "n": "2"},
                {"b": tenant.business_id, "n": 2.5},
                {"b": tenant.business_id, "n": 2**40},
                {"b": tenant.business_id, "n": True},
                {"b": 7, "n": 1},
                {"b": None},
                {},
                {"b": ["x"]},
                {"b": tenant.business_id, "s": 5},
            ]
        ):
            for accept in ("application/json", "application/graphql-response+json"):
                await twice(typed, get=bool(n % 2), accept=accept, variables=sent)

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
    # Documents holding a string literal are never compiled (schema/documents.py), and
    # the generated ones often do (ids pointed at real data): 17 to 20 here at 300.
    assert len(compiled) >= 12, len(compiled)


async def test_a_compiled_answer_is_counted_and_named_like_any_other(client, gql, tenant, caplog):
    """Metrics and the log line see the same operation name on both paths."""
    from tests.test_metrics import count

    query = "query Named($b: ID!) { customers(businessId: $b, limit: 1) { id } } # metrics"
    before = (await client.get("/metrics")).text
    with caplog.at_level("INFO", logger="finora"):
        for _ in range(3):  # the general path, then the plan twice
            response = await gql(tenant, query, {"b": tenant.business_id})
            assert response.status_code == 200 and "errors" not in response.json()
    after = (await client.get("/metrics")).text
    label = "graphql.query.customers"
    assert count(after, label, "200") == count(before, label, "200") + 3
    lines = [r for r in caplog.records if getattr(r, "fields", {}).get("operation") == label]
    assert len(lines) >= 3
    assert {r.fields["business_id"] for r in lines[-3:]} == {tenant.business_id}


async def test_documents_without_a_plan_still_skip_parsing_and_validation(gql, tenant, monkeypatch):
    """A shape plans do not cover (an async field below the root: externalIds, read
    through a DataLoader) is served from the document cache instead."""
    from schema import documents

    calls = {"parse": 0, "validate": 0}
    for name in calls:
        real = getattr(documents, name if name == "parse" else "validate_document")

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(documents, name if name == "parse" else "validate_document", counted)
    query = "query($id: ID!) { customer(id: $id) { id externalIds { id } } } # cache"
    for _ in range(4):
        response = await gql(tenant, query, {"id": "cust_missing"})
        assert response.json() == {"data": {"customer": None}}
    assert calls == {"parse": 1, "validate": 1}


def test_root_resolvers_are_called_directly_only_when_the_wrapper_would_only_rename():
    """schema.direct: fields whose arguments are leaves or input objects of leaves go
    straight to their function; a list of input objects keeps the wrapper."""
    from schema.direct import direct_call
    from schema.schema import schema

    query = schema._schema.query_type
    mutation = schema._schema.mutation_type
    assert direct_call(query.fields["customer"], schema) is not None
    assert direct_call(query.fields["customers"], schema) is not None
    assert direct_call(mutation.fields["createCustomer"], schema) is not None  # of leaves
    assert direct_call(mutation.fields["updateCustomer"], schema) is not None
    assert direct_call(mutation.fields["findOrCreateCustomers"], schema) is None  # a list of them


async def test_row_builders_open_count_and_keep_values_as_the_records_do(gql, tenant):
    """The builder decrypts inline instead of through the descriptor: the same
    plaintexts (masked ones too), each value counted once by the meter, and kept in
    the record so a second read neither decrypts nor counts again."""
    from app import meter
    from app.services import customers as service
    from app.services.access import Caller, Scope
    from schema.rows import Column, RowBuilder

    await create(gql, tenant, name="Ada Rows", email="ada.rows@example.com", phone="+2348031234567")
    await create(gql, tenant, name="Bo Rows", email="bo.rows@example.com")
    pii = ("email", "phone", "address", "tin")
    builder = RowBuilder([Column(key=name, attribute=name, coerce=str, passthrough=str)
                          for name in pii])  # fmt: skip
    for scope in (Scope.WRITE, Scope.READ_MASKED):
        caller = Caller(tenant.business_id, "fin_rows", scope)
        rows = await service.list_customers(caller, business_id=tenant.business_id, limit=100)
        sealed = sum(1 for row in rows for name in pii if getattr(row, f"_{name}") is not None)
        with meter.metered() as work:
            built = [builder(row) for row in rows]
            again = [builder(row) for row in rows]
        assert work.decrypted == sealed > 0
        fresh = await service.list_customers(caller, business_id=tenant.business_id, limit=100)
        assert built == again == [{name: getattr(row, name) for name in pii} for row in fresh]
        emails = {row["email"] for row in built}
        assert ("ada.rows@example.com" in emails) is (scope is Scope.WRITE)


def test_argument_readers_give_graphql_core_s_arguments_or_hand_back():
    """Arguments read by a plan are graphql-core's, for variables given, omitted and
    null, defaults and literals; where graphql-core raises, the reader hands back."""
    import pytest
    from graphql.execution.values import get_argument_values, get_variable_values

    from schema.arguments import argument_reader

    schema = build_schema()._schema
    documents = [
        "query($b: ID!, $n: Int) { customers(businessId: $b, limit: $n) { id } }",
        "query($b: ID!, $n: Int!) { customers(businessId: $b, limit: $n) { id } }",
        'query { customers(businessId: "biz_lit", limit: 7) { id } }',
        "query($b: ID!) { customers(businessId: $b) { id } }",
        "query($b: ID!, $f: Int, $a: String) { customerConnection(businessId: $b, first: $f,"
        " after: $a) { totalCount } }",
        "query($b: ID!) { customerConnection(businessId: $b, after: null) { totalCount } }",
    ]
    variable_sets = [
        {"b": "biz_1", "n": 3, "f": 2, "a": "c"},
        {"b": "biz_1"},
        {"b": "biz_1", "n": None, "f": None, "a": None},
        {},
    ]
    compared = 0
    for text in documents:
        operation = parse(text).definitions[0]
        node = operation.selection_set.selections[0]
        field_def = schema.query_type.fields[node.name.value]
        reader = argument_reader(field_def, node)
        assert reader is not None, text
        for variables in variable_sets:
            definitions = operation.variable_definitions or ()
            values = get_variable_values(schema, definitions, variables)
            if isinstance(values, list):
                continue  # the variables themselves are refused before any argument
            try:
                expected = get_argument_values(field_def, node, values)
            except Exception:
                with pytest.raises(Exception):  # noqa: B017 - Fallback or graphql-core's
                    reader(values)
                continue
            assert reader(values) == expected, (text, variables)
            compared += 1
    assert compared >= 12
