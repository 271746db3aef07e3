"""Configuration, read once from the environment.

Secrets are wrapped in :class:`Secret` so that printing the settings (in a log
line, a traceback, a debugger) shows stars instead of key material.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(Exception):
    """A configuration problem, explained in one line for the operator."""


class Secret:
    """A string that never shows itself in repr() or str()."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


ENVIRONMENTS = ("development", "production")


@dataclass(frozen=True)
class ConnectionLimits:
    """Bounds on a connection before the app sees it (enforced in app.http.protocol)."""

    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    #: From the connection (or a kept-alive request's first byte) to the end of its headers.
    header_timeout_s: float = 10.0
    #: From the end of the headers to the end of the body: with a 1 MB body limit,
    #: at least 33 KB/s on average for the largest body.
    body_timeout_s: float = 30.0
    #: Open connections per worker process, idle and stalled ones included.
    max_connections: int = 1000


CONNECTION_LIMIT_VARIABLES = {
    "max_url_bytes": "FINORA_MAX_URL_BYTES",
    "max_header_bytes": "FINORA_MAX_HEADER_BYTES",
    "header_timeout_s": "FINORA_HEADER_TIMEOUT_S",
    "body_timeout_s": "FINORA_BODY_TIMEOUT_S",
    "max_connections": "FINORA_MAX_CONNECTIONS",
}
#: Delays between webhook attempts, each counted from the previous attempt (the contract's).
WEBHOOK_RETRY_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
#: Change events are kept at least this long (the contract's floor).
EVENTS_KEEP_DAYS_MIN = 30
#: FINORA_DATABASE_POOLER's values: nothing, or a pooler in transaction mode.
POOLERS = ("none", "pgbouncer")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: Secret | None
    encryption_keys: Secret | None
    index_key: Secret | None
    graphiql: bool
    host: str
    port: int
    data_dir: Path
    max_body_bytes: int = 1_000_000
    #: Per API key, per process: sustained requests per second and burst size.
    rate_per_second: float = 50.0
    rate_burst: int = 100
    #: Per client address, per process: failed key lookups a second, and burst.
    unknown_keys_per_second: float = 2.0
    unknown_keys_burst: int = 20
    connections: ConnectionLimits = ConnectionLimits()
    #: Bearer token of GET /metrics; without one, production refuses metrics and
    #: development serves them to loopback clients only.
    metrics_token: Secret | None = None
    #: Whether FINORA_ENV was set, rather than defaulted to development.
    env_explicit: bool = False
    #: Rows read plus values decrypted charged as one more rate-limit token.
    work_per_token: float = 1000.0
    #: Per business, per process: requests running, waiting, and the longest wait.
    business_in_flight: int = 4
    business_queue: int = 100
    business_wait_s: float = 10.0
    webhook_retry_seconds: tuple[float, ...] = WEBHOOK_RETRY_SECONDS
    #: http and private addresses allowed for webhook URLs (tests, private networks).
    webhook_allow_private: bool = False
    events_keep_days: int = EVENTS_KEEP_DAYS_MIN
    #: Per business, per worker process: webhook deliveries a second, and burst (0: no limit).
    webhook_business_rate: float = 100.0
    webhook_business_burst: int = 500
    #: Where this service is reached from outside (shops' webhook URLs); "" means the
    #: address it listens on.
    public_url: str = ""
    #: Per shop connection, per process: deliveries a second, and burst (0: no limit).
    shop_rate: float = 50.0
    shop_burst: int = 200
    #: Redis holding the limits every worker and host shares (app.shared); None: each
    #: process keeps its own, as the embedded default does.
    redis_url: Secret | None = None
    #: Longest wait for Redis before a request falls back to its process's own limits.
    redis_timeout_s: float = 0.05
    #: The start of every key the service writes in Redis (several deployments, one Redis).
    redis_prefix: str = "finora:"
    #: A direct PostgreSQL URL, for what needs a session (LISTEN, session advisory
    #: locks, migrations) when DATABASE_URL points at PgBouncer in transaction mode.
    database_direct_url: Secret | None = None
    #: "pgbouncer" when DATABASE_URL leads to a transaction pooler (PgBouncer with
    #: pool_mode = transaction, or any pooler that may give each transaction another
    #: server connection): statements go unnamed and only application_name is sent at
    #: login (app.db.connect), and the worker and migrations refuse to start without
    #: FINORA_DATABASE_DIRECT_URL.  "none": DATABASE_URL is PostgreSQL itself.
    database_pooler: str = "none"
    #: How long a process trusts the data keys it loaded (app.models.keyring): the
    #: longest a new key takes to reach every process, so every process must agree.
    data_key_cache_s: float = 30.0

    @property
    def session_database_url(self) -> Secret | None:
        """Where sessions go: FINORA_DATABASE_DIRECT_URL, else DATABASE_URL."""
        return self.database_direct_url or self.database_url

    @property
    def origin(self) -> str:
        """FINORA_PUBLIC_URL without a trailing slash, else http://HOST:PORT."""
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        explicit = env.get("FINORA_ENV", "").strip().lower()
        name = explicit or "development"
        if name not in ENVIRONMENTS:
            raise ConfigError(f"FINORA_ENV must be one of {', '.join(ENVIRONMENTS)}, not {name!r}")
        graphiql_default = "0" if name == "production" else "1"
        port_text = env.get("PORT", "8000").strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError("PORT must be a number between 1 and 65535")
        return cls(
            env=name,
            database_url=_database_url(env, "DATABASE_URL"),
            encryption_keys=_secret(env.get("FINORA_ENCRYPTION_KEYS")),
            index_key=_secret(env.get("FINORA_INDEX_KEY")),
            graphiql=_flag(env.get("FINORA_GRAPHIQL", graphiql_default)),
            host=env.get("HOST", "127.0.0.1").strip() or "127.0.0.1",
            port=int(port_text),
            data_dir=Path(env.get("FINORA_DATA_DIR", ".finora")).resolve(),
            rate_per_second=_number(env, "FINORA_RATE_LIMIT_PER_SECOND", 50.0),
            rate_burst=int(_number(env, "FINORA_RATE_LIMIT_BURST", 100)),
            unknown_keys_per_second=_number(env, "FINORA_UNKNOWN_KEYS_PER_SECOND", 2.0),
            unknown_keys_burst=int(_number(env, "FINORA_UNKNOWN_KEYS_BURST", 20)),
            connections=_connection_limits(env),
            metrics_token=_secret(env.get("FINORA_METRICS_TOKEN")),
            env_explicit=bool(explicit),
            work_per_token=_number(env, "FINORA_RATE_LIMIT_WORK_PER_TOKEN", 1000),
            business_in_flight=int(_number(env, "FINORA_BUSINESS_IN_FLIGHT", 4)),
            business_queue=int(_number(env, "FINORA_BUSINESS_QUEUE", 100)),
            business_wait_s=_number(env, "FINORA_BUSINESS_QUEUE_WAIT", 10),
            webhook_retry_seconds=_retry_schedule(env.get("FINORA_WEBHOOK_RETRY_SECONDS", "")),
            webhook_allow_private=_flag(env.get("FINORA_WEBHOOK_ALLOW_PRIVATE", "")),
            events_keep_days=_keep_days(env),
            webhook_business_rate=_number(env, "FINORA_WEBHOOK_BUSINESS_RATE", 100),
            webhook_business_burst=int(_number(env, "FINORA_WEBHOOK_BUSINESS_BURST", 500)),
            public_url=_public_url(env.get("FINORA_PUBLIC_URL", "")),
            shop_rate=_number(env, "FINORA_SHOP_RATE", 50),
            shop_burst=int(_number(env, "FINORA_SHOP_BURST", 200)),
            redis_url=_redis_url(env.get("FINORA_REDIS_URL", "")),
            redis_timeout_s=_number(env, "FINORA_REDIS_TIMEOUT_MS", 50) / 1000,
            redis_prefix=env.get("FINORA_REDIS_PREFIX", "").strip() or "finora:",
            database_direct_url=_database_url(env, "FINORA_DATABASE_DIRECT_URL"),
            database_pooler=_pooler(env.get("FINORA_DATABASE_POOLER", "")),
            data_key_cache_s=_number(env, "FINORA_DATA_KEY_CACHE_S", 30),
        )


def _connection_limits(env: Mapping[str, str]) -> ConnectionLimits:
    defaults = ConnectionLimits()
    values: dict[str, float] = {}
    for field_name, variable in CONNECTION_LIMIT_VARIABLES.items():
        default = getattr(defaults, field_name)
        value = _number(env, variable, default)
        if value == 0:
            raise ConfigError(f"{variable} must be greater than 0")
        values[field_name] = type(default)(value)
    return ConnectionLimits(**values)  # type: ignore[arg-type]


def _public_url(text: str) -> str:
    """FINORA_PUBLIC_URL: an absolute http(s) URL, an origin or a path prefix under one."""
    text = text.strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError("FINORA_PUBLIC_URL must be an http(s) URL, e.g. https://api.example.ng")
    return text.rstrip("/")


def _database_url(env: Mapping[str, str], name: str) -> Secret | None:
    """A PostgreSQL URL setting, checked early so that a typo fails with a clear message."""
    url = env.get(name, "").strip()
    if not url:
        return None
    try:
        parse_database_url(url)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("DATABASE_URL", name, 1)) from None
    return Secret(url)


def _pooler(text: str) -> str:
    """FINORA_DATABASE_POOLER: what stands between the service and DATABASE_URL's server."""
    name = text.strip().lower() or "none"
    if name not in POOLERS:
        choices = ", ".join(POOLERS)
        raise ConfigError(f"FINORA_DATABASE_POOLER must be one of {choices}, not {name!r}")
    return name


def _redis_url(text: str) -> Secret | None:
    """FINORA_REDIS_URL: redis://, rediss:// (TLS) or unix:// (a socket)."""
    text = text.strip()
    if not text:
        return None
    if urlsplit(text).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("FINORA_REDIS_URL must start with redis://, rediss:// or unix://")
    return Secret(text)


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _retry_schedule(text: str) -> tuple[float, ...]:
    """FINORA_WEBHOOK_RETRY_SECONDS: "1,1,2" means 4 attempts, 1 s, 1 s and 2 s apart."""
    if not text.strip():
        return WEBHOOK_RETRY_SECONDS
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError("FINORA_WEBHOOK_RETRY_SECONDS must be a comma list of seconds") from None
    if any(not 0 <= delay <= 7 * 86400 for delay in delays):
        raise ConfigError("FINORA_WEBHOOK_RETRY_SECONDS: each delay is 0 to 604800 seconds")
    return delays


def _keep_days(env: Mapping[str, str]) -> int:
    days = int(_number(env, "FINORA_EVENTS_KEEP_DAYS", EVENTS_KEEP_DAYS_MIN))
    if days < EVENTS_KEEP_DAYS_MIN:
        raise ConfigError(f"FINORA_EVENTS_KEEP_DAYS must be at least {EVENTS_KEEP_DAYS_MIN}")
    return days


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _secret(value: str | None) -> Secret | None:
    value = (value or "").strip()
    return Secret(value) if value else None


def parse_database_url(url: str) -> dict[str, object]:
    """Turn a postgres:// URL into asyncpg connection arguments.

    Tortoise's own URL parser does not handle Unix-socket URLs such as the
    embedded server's (``postgresql://postgres:@/postgres?host=/tmp/x``), so we
    parse it ourselves and hand Tortoise a credentials dict.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError("DATABASE_URL must start with postgres:// or postgresql://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.pop("host", None) or parts.hostname or "127.0.0.1"
    try:
        port = parts.port or int(query.pop("port", 5432))
    except ValueError as exc:
        raise ConfigError("DATABASE_URL has a port that is not a number") from exc
    database = unquote(parts.path.lstrip("/")) or "postgres"
    params: dict[str, object] = {
        "host": unquote(host),
        "port": port,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "database": database,
    }
    if "sslmode" in query:  # asyncpg takes libpq's modes (PGSSLROOTCERT for verify-*)
        mode = query.pop("sslmode")
        if mode not in SSL_MODES:
            raise ConfigError(f"DATABASE_URL sslmode must be one of {', '.join(SSL_MODES)}")
        params["ssl"] = mode
    if query:  # never drop a setting silently (a TLS option, say)
        raise ConfigError(
            f"DATABASE_URL has parameters this service does not use: {', '.join(sorted(query))}"
        )
    return params
