"""The server's log of a whole session holds no PII, even for failing requests,
and a request cannot forge a line of it."""

from __future__ import annotations

import asyncio
import json
import os
import re

import httpx
import pytest

from tests.conftest import running_server
from tests.test_api import CREATE, FIND_OR_CREATE, SEARCH, UPDATE
from tests.test_cli import production_env

PII = {
    "email": "Kemi.Adeyemi@Secret-Mail.ng",
    "phone": "08035550142",
    "address": "3 Hidden Close, Asokoro, Abuja",
    "tin": "34567890-0003",
}


async def test_server_log_has_no_pii(settings, app, tenant, raw_db):
    async with (
        running_server(production_env()) as server,
        httpx.AsyncClient(base_url=server.url, headers=tenant.headers) as http,
    ):

        async def post(query: str, variables: dict) -> dict:
            body = {"query": query, "variables": variables}
            return (await http.post("/graphql", json=body)).json()

        b = tenant.business_id
        created = await post(CREATE, {"b": b, "input": {"name": "Kemi", **PII}})
        customer_id = created["data"]["createCustomer"]["customer"]["id"]
        await post(CREATE, {"b": b, "input": {"name": "Kemi", **PII}})  # TAKEN
        bad = {
            "name": "",
            "email": PII["email"] + "@",
            "phone": PII["address"],
            "tin": PII["email"],
        }
        await post(CREATE, {"b": b, "input": bad})
        await post(FIND_OR_CREATE, {"b": b, "input": {"email": PII["email"], "phone": "1"}})
        await post(UPDATE, {"id": customer_id, "input": {"email": PII["tin"]}})
        await post(SEARCH, {"b": b, "q": PII["email"]})
        await post(SEARCH, {"b": "biz_other", "q": PII["email"]})  # FORBIDDEN
        await post("query($n: Int!) { x(n: $n) }", {"n": PII["email"]})  # invalid
        await post(CREATE, {"b": b, "input": {"name": 5, "email": PII["email"]}})  # bad type
        # A masked internal error: the row's ciphertext moved to another row.
        other = await post(CREATE, {"b": b, "input": {"name": "Other", "email": "o@x.ng"}})
        await raw_db.execute(
            "UPDATE customer SET email = (SELECT email FROM customer WHERE id = $1) WHERE id = $2",
            customer_id,
            other["data"]["createCustomer"]["customer"]["id"],
        )
        failed = await post(SEARCH, {"b": b, "q": "o@x"})
        assert failed["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    log = server.log
    assert '"path":"/graphql"' in log and "resolver failed" in log  # the log is really there
    for value in (*PII.values(), "+2348035550142", PII["email"].lower()):
        assert value.lower() not in log.lower()


FORGED = [
    "/graphql%0AINFO    finora: request forged=1",  # a line feed
    "/v1/x%0D%0Aforged",  # CR LF
    "/x%1B%5B2K%0Dforged",  # an escape sequence that would erase the line on a terminal
    "/x%E2%80%A8forged",  # U+2028, a line separator to some readers (Python's splitlines)
    "/x%C2%85forged",  # U+0085, NEL, another
    "/x%20status=200%20forged",  # a fake field
]


@pytest.mark.parametrize("env", ["development", "production"])
async def test_a_path_cannot_forge_a_log_line(settings, app, env):
    environ = production_env() if env == "production" else dict(os.environ)
    async with running_server(environ) as server, httpx.AsyncClient(base_url=server.url) as http:
        for path in FORGED:
            await http.get(path)
    lines = [line for line in server.log.splitlines() if "forged" in line]
    assert len(lines) == len(FORGED), lines  # one line per request, each whole
    for line in lines:
        assert not any(ord(c) < 32 or c in "\u2028\u2029\x7f\x85" for c in line), line
        if env == "production":
            entry = json.loads(line)
        else:
            head, fields = line.split(": request ", 1)
            assert head == "INFO    finora"
            entry = text_fields(fields)
        assert "forged" in entry["path"] and entry["status"] in (404, "404")
        assert "forged" not in entry


TEXT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)(?: |$)')


def text_fields(text: str) -> dict[str, str]:
    """Parses `key=value key="quoted"` fields, refusing anything else."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = TEXT_FIELD.match(text, position)
        assert match, text[position:]
        key, value = match.groups()
        assert key not in fields, key
        fields[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    return fields


async def test_two_workers_on_one_pipe_write_every_request_line_whole(settings, app, tenant):
    """Request lines are written in batches (app.http.logs.LineBatch): under load, two
    worker processes sharing one pipe still write one whole JSON line per request."""
    import subprocess
    import sys
    import threading
    from pathlib import Path

    from tests.conftest import ROOT, free_port, wait_until_up

    port = free_port()
    finora = str(Path(sys.executable).parent / "finora")
    process = subprocess.Popen(
        [finora, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env={
            **production_env(),
            "FINORA_RATE_LIMIT_PER_SECOND": "100000",  # the load is the point, not the limit
            "FINORA_RATE_LIMIT_BURST": "100000",
        },
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(process.stdout.readline, b"")))
    reader.start()
    sent = 0
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=tenant.headers
        ) as http:
            await wait_until_up(f"http://127.0.0.1:{port}", process)
            query = {"query": "{ __typename }"}
            for _ in range(10):
                answers = await asyncio.gather(
                    *(http.post("/graphql", json=query) for _ in range(60))
                )
                assert all(a.status_code == 200 for a in answers)
                sent += len(answers)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
        reader.join(10)
    lines = [json.loads(line) for line in chunks if line.startswith(b"{")]  # JSON only
    requests = [
        entry for entry in lines if entry["msg"] == "request" and entry["path"] == "/graphql"
    ]
    assert len(requests) == sent  # none lost, none torn: each one parsed whole
    assert len({entry["request_id"] for entry in requests}) == sent
    assert {entry["status"] for entry in requests} == {200}


async def test_a_line_batch_writes_whole_lines_at_most_pipe_buf_at_the_end_of_the_turn():
    import io
    import select

    from app.http.logs import LineBatch

    class Raw(io.RawIOBase):
        def __init__(self) -> None:
            self.writes: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            self.writes.append(bytes(data))
            return len(data)

    raw = Raw()
    stream = io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=1 << 16), line_buffering=True)
    batch = LineBatch(stream)
    lines = [(f'{{"n":{n},"pad":"' + "x" * (n % 300) + '"}\n').encode() for n in range(200)]
    stream.write("before\n")  # a line logged the usual way keeps its place
    for line in lines:
        batch.add(line)
    assert b"".join(raw.writes).count(b"\n") < 1 + len(lines)  # not all written yet
    await asyncio.sleep(0)  # the turn ends: the rest goes out
    written = b"".join(raw.writes)
    assert written == b"before\n" + b"".join(lines)
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in raw.writes)
    assert len(raw.writes) < len(lines) / 4  # batched, not a write per line


async def test_a_client_gone_mid_request_is_logged_as_499_not_500(tenant):
    """wrk closing its connections at the end of a run left 500s in the log with no
    error line.  A client that leaves before its answer began is a 499 (nginx's
    convention), in the log line and the metrics, and nothing is logged as failed."""
    import socket

    token = "metrics-token-for-the-499-test"
    async with running_server(production_env(FINORA_METRICS_TOKEN=token)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        head = (
            "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {tenant.key}\r\nContent-Length: 5000\r\n\r\n"
        )
        for _ in range(3):  # half a body, then gone
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(head.encode() + b'{"query": "{ __typename }", "vari')
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=server.url) as http:
            auth = {"Authorization": f"Bearer {token}"}
            metrics = (await http.get("/metrics", headers=auth)).text
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    graphql = [e for e in lines if e.get("msg") == "request" and e.get("path") == "/graphql"]
    assert [e["status"] for e in graphql] == [499, 499, 499]
    assert not [e for e in lines if e.get("level") in ("error", "ERROR")], lines
    assert "Exception in ASGI application" not in server.log
    assert 'status="499"' in metrics
