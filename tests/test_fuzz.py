"""Fuzzing a running service with queries and mutations generated from its schema.

As business A, with business B seeded: no 5xx, no unmasked error (traceback,
SQL, PostgreSQL or driver text, file paths, or PII in any message), and no id or
value of business B anywhere in any answer.  FINORA_FUZZ_EXAMPLES sets the
number of generated operations (2,000 by default; more for a soak).

schemathesis drives the REST API against its OpenAPI document (test_rest.py);
its GraphQL check (ST113) counts every top-level error as a server error, which
the contract's FORBIDDEN and BAD_USER_INPUT answers are not, so the GraphQL
fuzzing here is hypothesis-graphql's, with our own checks.
"""

from __future__ import annotations

import asyncio
import os
import re

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis_graphql import from_schema

from schema.sdl import sdl
from tests.conftest import running_server
from tests.test_api import create
from tests.test_cli import production_env

EXAMPLES = int(os.environ.get("FINORA_FUZZ_EXAMPLES", "2000"))
LEAKS = re.compile(
    r"Traceback|File \"|/work/|site-packages|SELECT |INSERT |UPDATE |asyncpg|tortoise|psycopg"
    r"|postgres|violates|constraint|relation \"|syntax error at|DETAIL",
    re.I,
)
SECRET_A = "fuzz.a.secret@victim.ng"


async def test_fuzzed_operations_never_fail_or_leak(settings, app, gql, tenant, other, tmp_path):
    await create(gql, tenant, name="Fuzz A", email=SECRET_A, phone="08035550100")
    b_values = [other.business_id]
    for n in range(3):
        made = await create(
            gql,
            other,
            name=f"Other {n}",
            email=f"b{n}.private@other.ng",
            phone="08095550111",
            tin="11112222-0003",
            address="9 Secret Lane",
        )
        b_values += [made["id"], made["email"], made["phone"], made["tin"], made["address"]]
    env = production_env(FINORA_RATE_LIMIT_PER_SECOND="0")
    problems: list[str] = []
    async with running_server(env) as server:
        with httpx.Client(base_url=server.url, headers=tenant.headers, timeout=30) as http:

            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(from_schema(sdl()))
            def check(query: str) -> None:
                response = http.post("/graphql", json={"query": query})
                text = response.text
                if response.status_code >= 500:
                    problems.append(f"{response.status_code}: {query[:200]}")
                for error in response.json().get("errors", []):
                    if LEAKS.search(error["message"]) or SECRET_A in error["message"]:
                        problems.append(f"unmasked: {error['message'][:200]}")
                for value in b_values:
                    if value in text:
                        problems.append(f"business B leaked: {query[:200]}")

            await asyncio.to_thread(check)

    assert problems == [], problems[:5]
    assert "Traceback" not in server.log and SECRET_A not in server.log
