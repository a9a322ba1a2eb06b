"""An HTTP/1.1 relay on asyncio streams: whole messages read with h11, forwarded as the bytes that came.

Why not uvicorn + Starlette + httpcore (what the proxy was built on first): a request the proxy does not
touch must reach the ATOL web server byte for byte, headers included, and each hop sits on the till's
critical path. Those layers parse, re-build and re-serialize every message and cost ≈ 2 ms of CPU per hop
(docs/performance.md, "Drivers"); h11 only frames the message here, and the raw bytes go on unchanged.

One POS connection gets one keep-alive connection to the web server; requests on it are handled in order
(the POS waits for each answer). A handler sees the whole request and returns the whole reply; what it
must do after the POS has the answer (record the receipt) goes in `Reply.then`.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

import h11

from drivers.host_rule import is_allowed, refusal

log = logging.getLogger(__name__)
MAX_MESSAGE = 16 * 1024 * 1024  # a receipt task is a few KiB; this is far beyond any real one
READ_CHUNK = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class UpstreamError(Exception):
    """The web server did not answer (refused, closed, timed out, or spoke garbage)."""


class _Stale(Exception):
    """The connection ended before any byte of the answer."""


@dataclass(frozen=True)
class Message:
    raw: bytes  # exactly as it crossed the wire
    head: h11.Request | h11.Response
    body: bytes  # de-chunked
    keep_alive: bool

    @property
    def method(self) -> bytes:
        return self.head.method if isinstance(self.head, h11.Request) else b""

    @property
    def path(self) -> str:
        target = self.head.target if isinstance(self.head, h11.Request) else b""
        return target.split(b"?", 1)[0].decode("latin-1")

    @property
    def status(self) -> int:
        return self.head.status_code if isinstance(self.head, h11.Response) else 0


@dataclass
class Reply:
    raw: bytes
    close: bool = False
    then: Callable[[], object] | None = None  # runs once the POS has the answer


def keeps_alive(head: h11.Request | h11.Response) -> bool:
    tokens = {
        token.strip().lower()
        for name, value in head.headers
        if name == b"connection"
        for token in value.split(b",")
    }
    if b"close" in tokens:
        return False
    return head.http_version != b"1.0" or b"keep-alive" in tokens


def response(
    status: int,
    body: bytes = b"",
    *,
    close: bool = False,
    content_type: str = "application/json",
) -> bytes:
    """A reply of the proxy's own (an error, or the truth about a receipt the register printed)."""
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {len(body)}"]
    if body:
        head.append(f"Content-Type: {content_type}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def with_body(request: Message, body: bytes) -> bytes:
    """The same request with another body: the POS's head kept (names, case, order), the length set anew."""
    assert isinstance(request.head, h11.Request)
    headers = [
        (name, value)
        for name, value in request.head.headers.raw_items()
        if name.lower() not in (b"content-length", b"transfer-encoding")
    ]
    headers.append((b"Content-Length", str(len(body)).encode()))
    writer = h11.Connection(h11.CLIENT)
    head = h11.Request(
        method=request.head.method,
        target=request.head.target,
        headers=headers,
        http_version=request.head.http_version,
    )
    return (
        (writer.send(head) or b"")
        + (writer.send(h11.Data(data=body)) or b"")
        + (writer.send(h11.EndOfMessage()) or b"")
    )


class MessageReader:
    """Reads whole messages off one direction of a connection, keeping the bytes as they came."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        role: type[h11.CLIENT] | type[h11.SERVER],
        on_expect_continue: Callable[[], object] = lambda: None,
    ) -> None:
        self._reader = reader
        self._role = role
        self._carry = b""  # bytes read past the end of the last message (a pipelining client)
        self._on_expect_continue = on_expect_continue

    async def request(self) -> Message | None:
        """The next request; None when the peer closed between requests."""
        return await self._read(h11.Connection(h11.SERVER))

    async def response(self, method: bytes) -> Message:
        parser = h11.Connection(h11.CLIENT)
        # h11 frames a response by the request it answers (HEAD has no body): tell it which it was
        parser.send(h11.Request(method=method, target=b"/", headers=[(b"Host", b"upstream")]))
        parser.send(h11.EndOfMessage())
        message = await self._read(parser)
        if message is None:
            raise _Stale()
        return message

    async def _read(self, parser: h11.Connection) -> Message | None:
        raw = bytearray(self._carry)
        if self._carry:  # (an empty receive_data means "the peer closed" to h11)
            parser.receive_data(self._carry)
        self._carry = b""
        head: h11.Request | h11.Response | None = None
        body = bytearray()
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                chunk = await self._reader.read(READ_CHUNK)
                if not chunk and not raw:
                    return None
                raw += chunk
                if len(raw) > MAX_MESSAGE:
                    raise h11.RemoteProtocolError("message too large", error_status_hint=413)
                parser.receive_data(chunk)
            elif isinstance(event, h11.Request | h11.Response):
                head = event
                if parser.they_are_waiting_for_100_continue:  # .NET's default for every POST
                    self._on_expect_continue()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                leftover, _ = parser.trailing_data
                self._carry = bytes(leftover)
                end = len(raw) - len(leftover)
                assert head is not None
                # a response framed by the end of the connection cannot be kept alive
                alive = keeps_alive(head) and parser.their_state is not h11.MUST_CLOSE
                return Message(bytes(raw[:end]), head, bytes(body), alive)
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("connection closed in the middle of a message")
            # InformationalResponse (100 Continue): its bytes are in `raw` and go on with the answer


class Upstream:
    """One keep-alive connection to the web server, opened when first needed and again after a close."""

    def __init__(self, host: str, port: int, timeout_s: float, connect_timeout_s: float = 5.0) -> None:
        self._address = (host, port)
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter, MessageReader] | None = None

    async def exchange(self, raw: bytes, method: bytes) -> Message:
        """Send one request as it is and read its whole answer; UpstreamError when there is none.

        A kept-alive connection the server closed while idle is found out only by using it: when such a
        reused connection ends before any byte of the answer, the request goes once more on a new one. The
        server cannot have acted on it (it closed without reading); for ATOL a task's uuid makes a
        repeated POST a 409, never a second receipt.
        """
        reused = self._streams is not None
        try:
            return await self._exchange_once(raw, method)
        except _Stale:
            if not reused:
                raise UpstreamError("the web server closed the connection without an answer") from None
            log.debug("kept-alive connection to the web server was closed; sending again on a new one")
        try:
            return await self._exchange_once(raw, method)
        except _Stale:
            raise UpstreamError("the web server closed the connection without an answer") from None

    async def _exchange_once(self, raw: bytes, method: bytes) -> Message:
        try:
            _, writer, messages = await self._connected()
            writer.write(raw)
            async with asyncio.timeout(self._timeout_s):
                await writer.drain()
                answer = await messages.response(method)
        except (_Stale, ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            raise _Stale() from exc
        except (OSError, TimeoutError, h11.ProtocolError, UpstreamError) as exc:
            self.close()
            raise UpstreamError(str(exc) or type(exc).__name__) from exc
        if not answer.keep_alive:
            self.close()
        return answer

    async def _connected(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, MessageReader]:
        if self._streams is not None:
            reader, writer, _ = self._streams
            if reader.at_eof() or writer.is_closing():  # the server closed it while idle
                self.close()
        if self._streams is None:
            async with asyncio.timeout(self._connect_timeout_s):
                reader, writer = await asyncio.open_connection(*self._address)
            self._streams = (reader, writer, MessageReader(reader, h11.CLIENT))
        return self._streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


Handler = Callable[[Message, Upstream], Awaitable[Reply]]


def host_of(request: Message) -> str | None:
    """The request's Host header (h11 gives header names lower-cased)."""
    assert isinstance(request.head, h11.Request)
    for name, value in request.head.headers:
        if name == b"host":
            return value.decode("latin-1")
    return None


def foreign_host(header: str | None) -> bytes:
    """403 for a request addressed by a stranger's name (DNS rebinding): a sentence, never forwarded."""
    body = json.dumps({"error": {"code": 403, "description": refusal(header)}}, ensure_ascii=False)
    return response(403, body.encode())


class Relay:
    """Serves the POS: each connection's requests, in order, through `handler`, to its own upstream."""

    def __init__(
        self,
        handler: Handler,
        upstream: tuple[str, int],
        timeout_s: float,
        idle_timeout_s: float = 75.0,
        allowed_hosts: frozenset[str] | None = None,  # None: any Host (a relay not reachable by browsers)
    ) -> None:
        self._handler = handler
        self._allowed_hosts = allowed_hosts
        self._upstream = upstream
        self._timeout_s = timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._connections: set[asyncio.Task[None]] = set()

    async def serve(self, host: str, port: int, started: Callable[[int], None], stop: asyncio.Event) -> None:
        server = await asyncio.start_server(self._connection, host, port, limit=READ_CHUNK)
        started(server.sockets[0].getsockname()[1])
        async with server:
            await stop.wait()
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream = Upstream(*self._upstream, timeout_s=self._timeout_s)
        # the POS waits for "100 Continue" before its body (.NET waits 350 ms for it): say it at once; the
        # web server's own 100, if it sends one, reaches the POS too (more than one 1xx is allowed)
        requests = MessageReader(reader, h11.SERVER, lambda: writer.write(CONTINUE))
        try:
            while True:
                try:
                    async with asyncio.timeout(self._idle_timeout_s):
                        request = await requests.request()
                except h11.RemoteProtocolError as exc:  # garbage from the POS: said so, like any server
                    log.warning("malformed HTTP request from the POS: %s", exc)
                    status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
                    writer.write(response(status, close=True))
                    break
                if request is None:
                    break
                if self._allowed_hosts is not None and not is_allowed(
                    host := host_of(request), self._allowed_hosts
                ):
                    log.warning("request with a foreign Host refused", extra={"host": (host or "")[:100]})
                    writer.write(foreign_host(host))
                    await writer.drain()
                    if not request.keep_alive:
                        break
                    continue
                try:
                    reply = await self._handler(request, upstream)
                except Exception:  # a bug of ours must not leave the POS waiting: it hears 502 at once
                    log.exception("ATOL proxy failed on %s %s", request.method.decode(), request.path)
                    reply = Reply(response(502, close=True), close=True)
                writer.write(reply.raw)
                if reply.then is not None:
                    reply.then()
                await writer.drain()
                if reply.close or not request.keep_alive:
                    break
        except (TimeoutError, ConnectionError):
            pass  # an idle or vanished POS connection
        finally:
            self._connections.discard(task)
            upstream.close()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
