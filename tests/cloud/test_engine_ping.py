"""A PostgreSQL connection that sat idle in the pool is pinged before use (and replaced if the server
closed it); one reused within `PING_AFTER_IDLE_S` is not (cloud.db.engine.ping_when_idle)."""

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cloud.db import make_engine
from cloud.db.engine import PING_AFTER_IDLE_S
from tests.support.databases import fresh_database, postgres_admin_url


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(admin_url: str, pid: int) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


@pytest.fixture
def postgres(tmp_path: Path) -> tuple[str, str]:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("ECHECK_TEST_DATABASE_URL is not set: the pool's ping is PostgreSQL's")
    return admin_url, str(tmp_path)


def test_a_connection_the_server_closed_while_idle_is_replaced(postgres: tuple[str, str]) -> None:
    admin_url, tmp = postgres
    with fresh_database("postgres", Path(tmp)) as url:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            first = _backend(engine)
            _terminate(admin_url, first)  # what a database restart does to the pooled connection
            time.sleep(PING_AFTER_IDLE_S + 0.1)
            second = _backend(engine)  # pinged, found dead, replaced: the statement never sees it
            assert second != first
            assert _backend(engine) == second  # reused at once: the same connection, no ping needed
        finally:
            engine.dispose()


def test_a_connection_reused_at_once_is_not_pinged(postgres: tuple[str, str]) -> None:
    _admin_url, tmp = postgres
    with fresh_database("postgres", Path(tmp)) as url:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        pings: list[int] = []
        original = engine.dialect.do_ping

        def counted(dbapi_conn: Any) -> bool:
            pings.append(1)
            return original(dbapi_conn)

        engine.dialect.do_ping = counted  # type: ignore[method-assign, assignment]
        try:
            for _ in range(20):
                _backend(engine)
            assert pings == []  # a new connection, then reused within the window: never pinged
            time.sleep(PING_AFTER_IDLE_S + 0.1)
            _backend(engine)
            assert pings == [1]
        finally:
            engine.dispose()
