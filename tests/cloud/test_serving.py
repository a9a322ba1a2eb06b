"""The cloud's workers accept connections with TCP_NODELAY, as a single uvicorn process does, and share a
burst of new connections between them.

uvicorn's multi-worker path binds its listener with `proto` 0 and asyncio then leaves Nagle on for every
accepted socket (Kludex/uvicorn#3149): each keep-alive response after the first waits ~40 ms. The latency
itself is in the benchmark table (`bench_cloud`); here the socket options are checked directly.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import uvicorn

from cloud.serving import TcpNoDelayConfig
from tests.support.live_server import free_port


def _accepted_nodelay(listener: socket.socket) -> int:
    async def accept_one() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(accept_one())


def test_uvicorn_alone_binds_a_listener_that_loses_tcp_nodelay() -> None:
    # The defect this module works around; if uvicorn fixes it, TcpNoDelayConfig becomes a no-op.
    sock = uvicorn.Config("cloud.app:create_app", host="127.0.0.1", port=0).bind_socket()
    if sock.proto == socket.IPPROTO_TCP:  # fixed upstream: nothing left to prove
        sock.close()
        return
    assert _accepted_nodelay(sock) == 0


def test_workers_listener_accepts_with_tcp_nodelay() -> None:
    sock = TcpNoDelayConfig("cloud.app:create_app", host="127.0.0.1", port=0, workers=2).bind_socket()
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.get_inheritable()  # the supervisor hands it to the worker processes
    assert _accepted_nodelay(sock) != 0


def _spread_server(port: int) -> subprocess.Popen[bytes]:
    code = (
        "from cloud.serving import serve; "
        f"serve('tests.support.pid_app:app', host='127.0.0.1', port={port}, workers=2, log_level='warning')"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2])


def _pids_of_connections(port: int, connections: int) -> list[int]:
    """Opens `connections` keep-alive connections at once and asks each which worker answers it."""

    async def ask() -> list[int]:
        async def one() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                return int(await asyncio.wait_for(reader.readexactly(length), 10))
            finally:
                writer.close()

        return list(await asyncio.gather(*(one() for _ in range(connections))))

    return asyncio.run(ask())


def _wait_for_workers(port: int, workers: int, deadline_s: float = 60) -> set[int]:
    deadline = time.monotonic() + deadline_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        try:
            seen = set(_pids_of_connections(port, 16))
        except OSError:
            seen = set()
        if len(seen) >= workers:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{workers} workers did not answer within {deadline_s} s (saw {seen})")


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreads connections on Linux only")
def test_a_burst_of_connections_is_spread_over_the_workers() -> None:
    # On one shared listener the first worker to wake accepted the whole burst (all 16 on one worker in
    # some benchmark runs). 16 connections all on one of two SO_REUSEPORT sockets: p = 2 / 65 536.
    port = free_port()
    server = _spread_server(port)
    try:
        _wait_for_workers(port, 2)
        pids = _pids_of_connections(port, 16)
        assert len(set(pids)) == 2, pids
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreads connections on Linux only")
def test_a_killed_worker_takes_no_new_connection_with_it() -> None:
    # The supervisor closes its copy of each worker's socket: otherwise a dead worker's socket stays in the
    # kernel's group and its share of new connections waits for ever.
    port = free_port()
    server = _spread_server(port)
    try:
        victim, survivor = sorted(_wait_for_workers(port, 2))
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.1)
        pids = _pids_of_connections(port, 24)  # each waits at most 10 s for its answer
        assert victim not in pids
        assert survivor in pids
        assert len(_wait_for_workers(port, 2)) == 2  # and the supervisor starts a new one
    finally:
        server.terminate()
        server.wait(30)
