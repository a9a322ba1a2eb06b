"""A small asyncio TCP proxy between the agent and the cloud that misbehaves on purpose (no Toxiproxy here).

Each new connection gets a fate from `chooser` (seeded by the test): passed through, or one fault —
dropped at once, reset (RST) after the request, delayed, truncated mid-answer (after the cloud committed),
held until the client gives up (a slow cloud), or answered by the "cloud" with 500, 503 or 429 plus
Retry-After without reaching it. `paused` holds new connections' requests back (a dead uplink) so that
a backlog builds up. Faults are counted by kind.
"""

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

FAULTS = ("drop", "reset", "delay", "truncate", "hold", "http500", "http503", "http429")
_HTTP = {
    "http500": b"HTTP/1.1 500 Internal Server Error\r\n",
    "http503": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n",
    "http429": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n",
}


def random_faults(rng: random.Random, rate: float, kinds: tuple[str, ...] = FAULTS) -> Callable[[], str]:
    return lambda: rng.choice(kinds) if rng.random() < rate else "pass"


@dataclass
class FaultProxy:
    upstream_port: int
    chooser: Callable[[], str] = lambda: "pass"
    delay_s: float = 0.5  # "delay": under the agent's timeout; "hold": past it
    hold_s: float = 30.0
    paused: bool = False
    injected: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    def start(self) -> "FaultProxy":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _while_paused(self) -> None:
        # Polled: `paused` is flipped from the test's thread, and an asyncio.Event is not thread-safe.
        while self.paused:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._while_paused()
            fate = self.chooser()
            if fate == "pass":
                await self._pipe(reader, writer)
                return
            self._count(fate)
            if fate == "drop":
                return
            if fate == "reset":
                await reader.read(65536)
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if fate == "hold":
                await reader.read(65536)
                await asyncio.sleep(self.hold_s)
                return
            if fate in _HTTP:
                await _read_request(reader)
                body = b'{"detail":"injected by the fault proxy"}'
                writer.write(
                    _HTTP[fate] + b"Content-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
                return
            if fate == "delay":
                await asyncio.sleep(self.delay_s)
                await self._pipe(reader, writer)
                return
            if fate == "truncate":
                await self._pipe(reader, writer, cut=True)
                return
            raise ValueError(f"unknown fate {fate!r}")
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut: bool = False
    ) -> None:
        """One request and its answer, then the connection closes: every request meets its own fate
        (the agent keeps connections alive, so a per-connection fate would hit only the first)."""
        request = await _read_request(reader)
        await self._while_paused()  # a dead uplink holds the request back
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            up_writer.write(request)
            await up_writer.drain()
            answer = await _read_response(up_reader)
        finally:
            up_writer.close()
        if cut:  # part of the answer, after the cloud committed: the agent must resend, the cloud dedupe
            answer = answer[: random.randint(5, min(100, len(answer) - 1))]
        writer.write(answer)
        await writer.drain()


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """An HTTP/1.1 message with a Content-Length body (what httpx and uvicorn send here)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await _read_message(reader)


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    return await _read_message(reader)
