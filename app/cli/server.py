"""Subcommands that run long-lived processes: ``serve``, ``dev`` and ``worker``.

They hold what Uvicorn is started with.  The app is named as a string
(``ASGI_FACTORY``), the way Uvicorn loads apps, so that ``app/`` never imports
``schema/``; the refusal to serve development off loopback lives here too.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import subprocess
import sys

from app.cli.common import fail, with_keys
from app.cli.data import cmd_migrate
from app.settings import ConfigError, Settings
from app.startup import bootstrap
from app.startup.demo import ensure_demo, env_lines, read_demo, seed_demo_data

ASGI_FACTORY = "schema.asgi:create_app"
HTTP_PROTOCOL = "app.http.protocol:BoundedHttpToolsProtocol"
GRACEFUL_SHUTDOWN_S = 20


def is_loopback(host: str) -> bool:
    """Names are not resolved: any name but ``localhost`` counts as public, to be safe."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str) -> None:
    """Development by default must not mean development on the network.

    Development serves GraphiQL without a key and writes text logs: fine on a
    laptop, not on 0.0.0.0 because someone forgot FINORA_ENV.
    """
    if not settings.env_explicit and not is_loopback(host):
        raise ConfigError(
            f"FINORA_ENV is not set and {host} is not a loopback address: "
            "set FINORA_ENV=production (or FINORA_ENV=development to serve development there)"
        )


def _run_server(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    asyncio.run(bootstrap.start_checks(settings))
    uvicorn.run(
        ASGI_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HTTP_PROTOCOL,  # httptools with size, time and connection bounds
        ws="none",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    check_exposure(settings, host)
    return _run_server(settings, host, args.port or settings.port, args.workers)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Deliver webhooks until SIGTERM or Ctrl-C (any number may run, on any host)."""
    import signal

    from app.http import logs
    from app.webhooks import worker

    logs.configure(json_lines=settings.is_production)
    config = worker.Config.from_settings(settings, concurrency=args.concurrency)

    async def work(_: str) -> None:
        # Its LISTEN and endpoint locks need a session: the direct URL, never a pooler's.
        session = await bootstrap.session_url(settings, "finora worker")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await worker.run(session, config, stop)

    asyncio.run(with_keys(settings, work))
    return 0


def _start_dev_worker() -> subprocess.Popen[bytes]:
    """`finora worker` beside the dev server; it also stops if this process dies."""
    # Told it is development: a worker left to its defaults applies production's URL rules.
    env = {**os.environ, "FINORA_WORKER_PARENT": str(os.getpid()), "FINORA_ENV": "development"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(GRACEFUL_SHUTDOWN_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    """Development: embedded database, migrations, a demo key, a webhook worker, then serve."""
    if settings.is_production:
        return fail("`finora dev` is for development; use `finora migrate` and `finora serve`")
    if args.print_env:
        demo = read_demo(settings)
        if demo is None:
            return fail("no demo yet: run `make run` (finora dev) first")
        print("\n".join(env_lines(demo)))
        return 0
    host, port = args.host or settings.host, args.port or settings.port
    check_exposure(settings, host)
    cmd_migrate(settings, args)

    async def demo_with_data(url: str) -> dict[str, str]:
        demo = await ensure_demo(settings)  # with the keys installed: a data key too
        if not args.no_demo_data:
            await seed_demo_data(url, demo["businessId"])
        return demo

    demo = asyncio.run(with_keys(settings, demo_with_data))
    shell = "\n".join(f"  {line}" for line in env_lines(demo))
    print(
        f"\nGraphiQL: http://{host}:{port}/graphql\n"
        f"Demo business: {demo['businessId']}\n"
        f'Headers to paste:\n  {{"Authorization": "Bearer {demo["key"]}"}}\n'
        f'In another shell (or: eval "$(.venv/bin/finora dev --print-env)"):\n{shell}\n'
        "Webhooks: a worker runs beside the server. Start a receiver\n"
        "  (.venv/bin/python -m tests.receiver 9000 /tmp/hooks.jsonl), register\n"
        "  http://127.0.0.1:9000/hooks with createWebhookEndpoint, change a customer,\n"
        "  and the delivery lands in /tmp/hooks.jsonl within a second (README: webhooks).\n",
        flush=True,
    )
    worker = _start_dev_worker()
    try:
        return _run_server(settings, host, port, 1)
    finally:
        _stop(worker)
