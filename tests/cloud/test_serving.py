"""The cloud's workers accept connections with TCP_NODELAY, as a single uvicorn process does.

uvicorn's multi-worker path binds its listener with `proto` 0 and asyncio then leaves Nagle on for every
accepted socket (Kludex/uvicorn#3149): each keep-alive response after the first waits ~40 ms. The latency
itself is in the benchmark table (`bench_cloud`); here the socket options are checked directly.
"""

import asyncio
import socket

import uvicorn

from cloud.serving import TcpNoDelayConfig


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
