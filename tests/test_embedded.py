"""`finora dev` on the embedded PostgreSQL: a quiet start, and a stop (SIGTERM, as a
process manager or `docker stop` sends) that stops the database too, even after an
earlier run was killed outright and left its pid behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from app.db.embedded import HOLDERS_FILE, drop_dead_holders
from tests.conftest import ROOT, free_port

FINORA = str(Path(sys.executable).parent / "finora")


def _dev_env(data_dir: Path, port: int) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    return env | {"FINORA_DATA_DIR": str(data_dir), "PORT": str(port)}


def _postmaster(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return pid if psutil.pid_exists(pid) else None


def _gone(pid: int, within_s: float = 10) -> bool:
    """The process has ended (a zombie counts: nothing reaps daemons in some sandboxes)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _start_dev(data_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    port = free_port()
    log = data_dir.parent / f"dev-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [FINORA, "dev", "--host", "127.0.0.1", "--port", str(port)],
            env=_dev_env(data_dir, port),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90  # the first start runs initdb
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process, log
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "finora dev did not start"
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(30)


def _webhook_round_trip(process: subprocess.Popen[bytes], log: Path) -> int:
    """The dev worker delivers: register a receiver with the printed demo key, change a
    customer, see the delivery arrive.  Returns the worker's pid."""
    from tests.receiver import Receiver

    text = log.read_text()
    key = re.search(r"Bearer (\S+?)\"", text).group(1)  # type: ignore[union-attr]
    business = re.search(r"Demo business: (\S+)", text).group(1)  # type: ignore[union-attr]
    port = process.args[-1]  # type: ignore[index]
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
    )
    receiver = Receiver().start()
    try:
        created = api.post(
            "/graphql",
            json={
                "query": "mutation($b: ID!, $u: String!) { createWebhookEndpoint(businessId: $b,"
                " url: $u) { secret } }",
                "variables": {"b": business, "u": receiver.url},
            },
        ).json()
        receiver.control(secret=created["data"]["createWebhookEndpoint"]["secret"])
        api.post(
            "/graphql",
            json={
                "query": "mutation($b: ID!) { createCustomer(businessId: $b,"
                ' input: {name: "Dev", email: "dev-hook@x.ng"}) { customer { id } } }',
                "variables": {"b": business},
            },
        )
        deadline = time.monotonic() + 20
        while not receiver.got():
            assert time.monotonic() < deadline, "no delivery from the dev worker"
            time.sleep(0.1)
        assert receiver.got()[0].verified
        assert receiver.got()[0].body["type"] == "customer.created"
    finally:
        receiver.stop()
        api.close()
    workers = [
        child.pid for child in psutil.Process(process.pid).children() if "worker" in child.cmdline()
    ]
    assert len(workers) == 1
    return workers[0]


def _demo_has_its_customers_once(process: subprocess.Popen[bytes], data_dir: Path) -> None:
    """The first run seeded the demo business (DEMO_CUSTOMERS), the second did not again;
    `finora dev --print-env` prints the lines the README's tour pastes."""
    from app.startup.demo import DEMO_CUSTOMERS

    port = process.args[-1]  # type: ignore[index]
    printed = subprocess.run(
        [FINORA, "dev", "--print-env"],
        env=_dev_env(data_dir, int(port)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", printed, re.M))
    assert {"PATH", "FINORA_API_KEY", "BID"} <= exports.keys(), printed
    query = "query($b: ID!) { customerConnection(businessId: $b, first: 1) { totalCount } }"
    answer = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        headers={"Authorization": f"Bearer {exports['FINORA_API_KEY']}"},
        json={"query": query, "variables": {"b": exports["BID"]}},
    ).json()
    assert answer["data"]["customerConnection"]["totalCount"] == DEMO_CUSTOMERS, answer


def test_sigterm_stops_the_embedded_database_even_after_a_killed_run(pg_tmp):
    data_dir = pg_tmp / "data"
    pgdata = data_dir / "pgdata"

    # A run killed outright leaves its pid in pgserver's list of holders.
    killed, _ = _start_dev(data_dir)
    postmaster = _postmaster(pgdata)
    assert postmaster is not None
    killed.kill()
    killed.wait(10)
    assert killed.pid in json.loads((pgdata / HOLDERS_FILE).read_text())

    # The next run cleans up after it, starts quietly, and stops everything on SIGTERM.
    process, log = _start_dev(data_dir)
    _demo_has_its_customers_once(process, data_dir)
    worker = _webhook_round_trip(process, log)
    assert _stop(process) == 128 + signal.SIGTERM
    assert _gone(worker)  # the worker stopped with the server
    output = log.read_text()
    assert "Warning" not in output and "Traceback" not in output, output
    assert "Finished server process" in output
    assert _postmaster(pgdata) is None  # the database stopped with it
    assert _gone(postmaster)
    assert json.loads((pgdata / HOLDERS_FILE).read_text()) == []


def test_dead_holders_are_dropped_and_live_ones_kept(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    (tmp_path / HOLDERS_FILE).write_text(json.dumps([os.getpid(), finished.pid]))
    assert drop_dead_holders(tmp_path) == [os.getpid()]
    assert json.loads((tmp_path / HOLDERS_FILE).read_text()) == [os.getpid()]
    assert drop_dead_holders(tmp_path / "absent") == []
