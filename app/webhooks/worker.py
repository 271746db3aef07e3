"""`finora worker`: delivers webhook deliveries, in event order per endpoint.

A few sender tasks share one wake-up signal.  A listener connection sets it on
every ``NOTIFY`` (sent by PostgreSQL when a transaction that wrote deliveries
commits), and each sender also polls every `poll_s` as a fallback (retries
that come due, a lost notification, a reconnecting listener, a business whose
delivery budget refills).  A sender takes one due endpoint of a business that
may have one (app.webhooks.fairness, app.webhooks.store), sends its pending
deliveries in event order, records each outcome as it comes, and lets go after
the delivery that ends `batch_s` or the business's budget.  A failed attempt
stops the endpoint's batch: its later deliveries wait for the retry, so nothing
overtakes it.  Pings (webhook.ping) are sent first, each on its own: they are
outside the event order, so they neither wait behind nor hold back an event.
The worker also prunes old events hourly (and old pings, and what shop
deliveries leave behind: app.services.shop_sync.prune).

Both the listener and the senders' pool need sessions (a LISTEN, and endpoint
locks held across many statements: app.webhooks.store), so `run` is given the
direct URL (FINORA_DATABASE_DIRECT_URL) when DATABASE_URL is a transaction
pooler's; `finora worker` refuses to start behind a pooler without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from app import crypto
from app.db import connect
from app.models import WebhookEndpoint, keyring
from app.services import events, shop_sync
from app.settings import Settings
from app.webhooks import payload, store
from app.webhooks.addresses import Policy, Refused
from app.webhooks.fairness import Shares
from app.webhooks.sender import Outcome, Session

log = logging.getLogger("finora.webhooks")

#: Endpoints looked at per claim; a few, in case others hold the first ones.
CANDIDATES = 10
PRUNE_EVERY_S = 3600.0
#: How long a stopping worker lets its senders finish the request in flight.
DRAIN_S = 16.0
#: Successes are recorded after this many, or this long, whichever comes first.
MARK_EVERY = 50
MARK_EVERY_S = 0.05
_SECRET = WebhookEndpoint._meta.fields_map["secret"]
_PREVIOUS = WebhookEndpoint._meta.fields_map["previous_secret"]
#: What a database hiccup looks like to the loop: log, wait, carry on.
TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


@dataclass(frozen=True)
class Config:
    schedule: tuple[float, ...]
    policy: Policy
    keep_days: int
    #: Deliveries a second per business in this worker, and its burst (app.webhooks.fairness).
    business_rate: float
    business_burst: int
    concurrency: int = 4
    batch: int = 100
    #: An endpoint is let go after the delivery that ends this long, so one busy
    #: endpoint holds a sender for this plus one request at most (not a batch of them).
    batch_s: float = 5.0
    poll_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float) -> Config:
        return cls(
            schedule=settings.webhook_retry_seconds,
            policy=Policy.from_settings(settings, unset_is_production=True),
            keep_days=settings.events_keep_days,
            business_rate=settings.webhook_business_rate,
            business_burst=settings.webhook_business_burst,
            **overrides,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class _Keys:
    """The endpoint's secret, and the one before it while a rotation's overlap lasts."""

    secret: str
    previous: tuple[str, ...] = ()

    @classmethod
    def of(cls, endpoint: asyncpg.Record) -> _Keys:
        secret = _SECRET.open_for(endpoint["id"], endpoint["secret"])
        if endpoint["previous_secret"] is None:
            return cls(secret)
        return cls(secret, (_PREVIOUS.open_for(endpoint["id"], endpoint["previous_secret"]),))


@dataclass(frozen=True)
class _Turn:
    """One sender's turn at one endpoint: what sending and recording need."""

    conn: asyncpg.Connection
    session: Session
    keys: _Keys
    endpoint_id: str
    business_id: str
    config: Config
    stop: asyncio.Event
    shares: Shares
    #: time.monotonic() after which the endpoint is let go (after the request in flight)
    deadline: float

    def over(self) -> bool:
        """Time to let the endpoint go: shutting down, or its `batch_s` is up."""
        return self.stop.is_set() or time.monotonic() > self.deadline

    async def send(self, delivery: asyncpg.Record, body: bytes) -> tuple[Outcome, datetime]:
        """One attempt, and when it started."""
        at = datetime.now(UTC)
        keys = self.keys
        outcome = await self.session.send(keys.secret, delivery["id"], body, previous=keys.previous)
        return outcome, at

    async def failed(self, delivery: asyncpg.Record, outcome: Outcome, at: datetime) -> None:
        await _failed(self.conn, self.endpoint_id, delivery, outcome.status, self.config, at)


async def serve_endpoint(
    conn: asyncpg.Connection,
    endpoint_id: str,
    business_id: str,
    config: Config,
    stop: asyncio.Event,
    shares: Shares,
) -> None:
    """Send the endpoint's due pings, then its due deliveries in event order (the
    caller holds its lock).

    Pings go first and apart: a ping is not held behind an event delivery that
    waits for its retry, and a failing ping holds no event back.
    """
    endpoint = await store.claimed(conn, endpoint_id)
    if endpoint is None:
        return  # deleted or disabled meanwhile
    pings = await store.due_pings(conn, endpoint_id, config.batch)
    deliveries = await _due(conn, endpoint_id, config)
    if not pings and not deliveries:
        return  # another worker got there first
    try:
        await keyring.of(business_id)  # the secrets are under the business's data key
    except keyring.KeysGone:
        return  # offboarded meanwhile: nothing of it is sent
    keys = _Keys.of(endpoint)
    try:
        session = await Session.open(endpoint["url"], config.policy)
    except Refused:
        for delivery in [*pings, *deliveries[:1]]:
            await _failed(conn, endpoint_id, delivery, None, config, datetime.now(UTC))
        log.warning("address refused", extra={"fields": {"endpoint": endpoint_id}})
        return
    async with session:
        deadline = time.monotonic() + config.batch_s
        turn = _Turn(conn, session, keys, endpoint_id, business_id, config, stop, shares, deadline)
        if await _send_pings(turn, pings):
            await _send_events(turn, deliveries)


async def _send_pings(turn: _Turn, pings: list[asyncpg.Record]) -> bool:
    """Send each due ping once and record its outcome; False when the endpoint is
    done for now (it answered 410, time is up, or the business is out of tokens)."""
    for ping in pings:
        if turn.over() or not turn.shares.spend(turn.business_id):
            return False
        outcome, at = await turn.send(ping, payload.ping_body(ping))
        if outcome.delivered:
            await store.delivered(turn.conn, [(ping["delivery_id"], outcome.status or 0, at)])
            continue
        await turn.failed(ping, outcome, at)
        if outcome.gone:
            return False  # disabled: nothing more goes to it
    return True


async def _send_events(turn: _Turn, deliveries: list[asyncpg.Record]) -> None:
    """Send event deliveries in event order, recording each outcome as it comes.

    The endpoint is kept while there is work, until the delivery that ends
    `batch_s` (checked after each one: a receiver that answers just under the
    timeout must not keep the sender for a whole batch) or until the business
    has no delivery token left.  Successes are recorded a few at a time (one
    statement); a worker killed before recording them sends those again, which
    at-least-once allows.
    """
    done: list[store.Delivered] = []
    flushed = time.monotonic()
    let_go = False
    while deliveries and not let_go:
        for delivery in deliveries:
            if not turn.shares.spend(turn.business_id):
                let_go = True  # out of tokens: the rest wait, in order, for the refill
                break
            outcome, at = await turn.send(delivery, payload.body(delivery))
            if not outcome.delivered:
                await store.delivered(turn.conn, done)
                await turn.failed(delivery, outcome, at)
                return  # later deliveries wait: they must not overtake this one
            done.append((delivery["delivery_id"], outcome.status or 0, at))
            if turn.over():
                let_go = True  # shutting down, or time's up: record what went out
                break
            if len(done) >= MARK_EVERY or time.monotonic() - flushed > MARK_EVERY_S:
                await store.delivered(turn.conn, done)
                done, flushed = [], time.monotonic()
        await store.delivered(turn.conn, done)
        done = []
        if not let_go:
            deliveries = await _due(turn.conn, turn.endpoint_id, turn.config)


async def _due(conn: asyncpg.Connection, endpoint_id: str, config: Config) -> list[asyncpg.Record]:
    """The next pending deliveries, or none when the first of them waits for a retry."""
    deliveries = await store.pending(conn, endpoint_id, config.batch)
    if deliveries and deliveries[0]["next_attempt_at"] > datetime.now(UTC):
        return []
    return deliveries


async def _failed(
    conn: asyncpg.Connection,
    endpoint_id: str,
    delivery: asyncpg.Record,
    status: int | None,
    config: Config,
    at: datetime,
) -> None:
    """Record a failed attempt (started `at`); a 410 also disables the endpoint."""
    attempts = delivery["attempts"] + 1
    gone = status == 410
    await store.failed_attempt(
        conn,
        delivery["delivery_id"],
        attempts=attempts,
        status=status,
        schedule=config.schedule,
        at=at,
        final=gone,
    )
    # `id` is the webhook-id: the event's public id, or a ping's delivery id.
    fields = {"endpoint": endpoint_id, "message": delivery["id"], "status": status}
    if gone:
        await store.disable(conn, endpoint_id)
        log.warning("endpoint answered 410: disabled", extra={"fields": fields})
    else:
        log.info("delivery failed", extra={"fields": fields | {"attempt": attempts}})


async def serve_one(
    pool: asyncpg.Pool, config: Config, stop: asyncio.Event, shares: Shares
) -> bool:
    """Serve one due endpoint no other worker holds, of a business that may have
    one more sender; False when there is none."""
    async with pool.acquire() as conn:
        candidates = await store.due_endpoints(
            conn, CANDIDATES, barred=shares.barred(), held=shares.held
        )
        for endpoint_id, business_id in candidates:
            if not shares.may_take(business_id):
                continue  # another sender took its share while this one looked
            with shares.hold(business_id):  # counted from before the lock: no await between
                if not await store.try_lock(conn, endpoint_id):
                    continue
                try:
                    await serve_endpoint(conn, endpoint_id, business_id, config, stop, shares)
                finally:
                    # If this fails the connection is broken (its locks die with it) or
                    # the pool's reset on release runs pg_advisory_unlock_all().
                    await store.unlock(conn, endpoint_id)
            return True
    return False


async def _sender(
    pool: asyncpg.Pool, wake: asyncio.Event, config: Config, stop: asyncio.Event, shares: Shares
) -> None:
    while not stop.is_set():
        wake.clear()
        try:
            served = await serve_one(pool, config, stop, shares)
        except TRANSIENT as exc:
            log.warning("database error", extra={"fields": {"error": type(exc).__name__}})
            served = False
        if not served:  # until a notification, the next poll, or a budget that refills
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(config.poll_s, shares.resumes_in()))


async def _listener(url: str, wake: asyncio.Event, config: Config) -> None:
    """Keep a LISTEN connection; after each (re)connection, look for missed work."""
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(**connect.arguments(url), timeout=5)
            await conn.add_listener(events.CHANNEL, lambda *_: wake.set())
            wake.set()
            while not conn.is_closed():
                await asyncio.sleep(config.poll_s)
                await conn.execute("SELECT 1")  # notices a dead connection
        except TRANSIENT:
            await asyncio.sleep(config.poll_s)
        finally:
            if conn is not None:
                conn.terminate()


async def _pruner(pool: asyncpg.Pool, config: Config) -> None:
    while True:
        try:
            async with pool.acquire() as conn:
                removed = await events.prune(conn, keep_days=config.keep_days)
                removed += await store.prune_pings(conn, keep_days=config.keep_days)
                removed += await shop_sync.prune(conn)  # shops' delivery memory, problems
            if removed:
                log.info("pruned old events", extra={"fields": {"removed": removed}})
        except TRANSIENT as exc:
            log.warning("prune failed", extra={"fields": {"error": type(exc).__name__}})
        await asyncio.sleep(PRUNE_EVERY_S)


async def _parent_gone(parent: int, poll_s: float) -> None:
    """Returns when the process that started this worker has gone (`finora dev`)."""
    while os.getppid() == parent:
        await asyncio.sleep(poll_s)


async def run(url: str, config: Config, stop: asyncio.Event) -> None:
    """Deliver until `stop` is set (or a job fails, or the parent of `finora dev` goes);
    `url` must keep sessions (PostgreSQL itself, not a transaction pooler).

    On stop, senders finish the request in flight and record it (up to one
    request timeout); whatever is cut short after that is sent again later.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it would log URLs
    crypto.current()  # the keys must be installed: secrets are encrypted
    pool = await asyncpg.create_pool(
        **connect.arguments(url),
        min_size=1,
        max_size=config.concurrency + 1,
        timeout=5,
        command_timeout=30,
    )
    wake = asyncio.Event()
    shares = Shares(config.concurrency, config.business_rate, config.business_burst)
    senders = [
        asyncio.ensure_future(_sender(pool, wake, config, stop, shares))
        for _ in range(config.concurrency)
    ]
    others = [
        asyncio.ensure_future(_listener(url, wake, config)),
        asyncio.ensure_future(_pruner(pool, config)),
        asyncio.ensure_future(stop.wait()),
    ]
    parent = int(os.environ.get("FINORA_WORKER_PARENT", "0") or 0)
    if parent:
        others.append(asyncio.ensure_future(_parent_gone(parent, config.poll_s)))
    log.info("worker started", extra={"fields": {"senders": config.concurrency}})
    try:
        done, _ = await asyncio.wait([*senders, *others], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        wake.set()
        await asyncio.wait(senders, timeout=DRAIN_S)
    finally:
        for task in [*senders, *others]:
            task.cancel()
        await asyncio.gather(*senders, *others, return_exceptions=True)
        await pool.close()
    failed = [task.exception() for task in done if not task.cancelled() and task.exception()]
    if failed:
        raise failed[0]  # type: ignore[misc]
    log.info("worker stopped")
