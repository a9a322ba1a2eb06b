"""Cloud database engines: SQLite by default (a file in the user data directory), PostgreSQL by URL."""

import os
import time
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

DATABASE_URL_ENV = "ECHECK_DATABASE_URL"


def default_database_url() -> str:
    """`ECHECK_DATABASE_URL` if set, else `cloud.db` in the platform's user data directory."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    path = Path(platformdirs.user_data_dir("echeck")) / "cloud.db"
    return f"sqlite:///{path}"


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (SQLAlchemy would otherwise pick psycopg2, not installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer; busy_timeout: concurrent writers (several uvicorn workers)
    # wait for the lock instead of failing with "database is locked"; SQLite leaves FKs off by default.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode except on power loss of the server
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


# A pooled connection back in the pool for less than this is handed out again without a ping (HikariCP's
# `aliveBypassWindowMs`, 500 ms by default, for the same reason): under load a connection is reused within
# milliseconds, and a ping before each use was a round trip of every request, ~4 % of an e-receipt page's
# CPU. A connection idle longer is pinged first, as SQLAlchemy's `pool_pre_ping` does for every one; one
# the server closed within the window fails its statement, and SQLAlchemy then drops the whole pool.
PING_AFTER_IDLE_S = 0.5
_CHECKED_IN = "echeck_checked_in_at"


def _remember_check_in(_dbapi_conn: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Pre-ping the engine's connections that sat in the pool longer than `idle_s` (SQLAlchemy's custom
    pessimistic disconnect handling: a `DisconnectionError` at checkout makes the pool open a new one)."""

    def ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is not None and time.monotonic() - checked_in < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise exc.DisconnectionError() from error
        if not alive:
            raise exc.DisconnectionError()

    sa.event.listen(engine, "connect", _remember_check_in)  # a connection just opened needs no ping
    sa.event.listen(engine, "checkin", _remember_check_in)
    sa.event.listen(engine, "checkout", ping)


# libpq's waits, each bounded (a URL's own query parameters win): opening a connection to a server that
# accepts TCP but never answers, and a server or network that dies under an open connection. Without them
# a request or job waited on a silent PostgreSQL for as long as the kernel's TCP retries (15 min and more),
# holding its pooled connection; with them, within about a minute, it fails and the pool opens a new one.
POSTGRES_TIMEOUTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms of sent data unacknowledged, e.g. a statement to a vanished server
}

# Connections an app process keeps beyond its request threads: the in-process background worker's.
BACKGROUND_CONNECTIONS = 4


def make_engine(url: str | None = None, *, request_threads: int | None = None, **kwargs: Any) -> Engine:
    """An engine for `url`. With `request_threads` (an app process), a PostgreSQL pool holds a connection
    for each request thread plus the background worker's, and never opens short-lived overflow sessions:
    16 concurrent requests through pool 5 + overflow 10 opened 328 PostgreSQL sessions in 8 s."""
    url = normalize_url(url or default_database_url())
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    timeouts = {k: v for k, v in POSTGRES_TIMEOUTS.items() if k not in parsed.query}
    kwargs["connect_args"] = {**timeouts, **kwargs.get("connect_args", {})}
    if request_threads is not None:
        kwargs.setdefault("pool_size", request_threads + BACKGROUND_CONNECTIONS)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 30)
    ping = kwargs.setdefault("pool_pre_ping", True)
    if ping:
        kwargs["pool_pre_ping"] = False  # every checkout's ping, replaced by the idle one below
    engine = sa.create_engine(url, **kwargs)
    if ping:
        ping_when_idle(engine)
    return engine
