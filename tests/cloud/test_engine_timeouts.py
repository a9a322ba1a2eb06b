"""PostgreSQL connections wait for a silent server only so long: libpq's connect timeout and TCP keepalives
are on by default, and the database URL's own parameters win."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from cloud.db import make_engine
from cloud.db.engine import POSTGRES_TIMEOUTS


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that completes TCP handshakes (the kernel's backlog) and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


class Captured(Exception):
    pass


def _connect_params(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    seen: dict[str, Any] = {}

    def capture(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        seen.update(params)
        raise Captured  # no server needed

    sa.event.listen(engine, "do_connect", capture)
    with pytest.raises(Captured):
        engine.connect()
    engine.dispose()
    return seen


def test_postgresql_connections_have_bounded_waits_by_default() -> None:
    params = _connect_params("postgresql://u@127.0.0.1:1/db")
    assert {k: params[k] for k in POSTGRES_TIMEOUTS} == POSTGRES_TIMEOUTS


def test_the_url_s_own_parameters_win() -> None:
    params = _connect_params("postgresql://u@127.0.0.1:1/db?connect_timeout=3&keepalives_idle=5")
    assert params["connect_timeout"] == "3"
    assert params["keepalives_idle"] == "5"
    assert params["keepalives_count"] == POSTGRES_TIMEOUTS["keepalives_count"]


def test_a_server_that_never_answers_fails_the_connection_instead_of_hanging(silent_server: int) -> None:
    engine = make_engine(f"postgresql://u@127.0.0.1:{silent_server}/db?connect_timeout=1")
    try:
        with pytest.raises(exc.OperationalError, match="timeout"):
            engine.connect()
    finally:
        engine.dispose()
