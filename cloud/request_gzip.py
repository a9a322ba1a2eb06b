"""Accept request bodies sent with `Content-Encoding: gzip` (the agents' receipt batches).

Starlette's GZipMiddleware compresses responses only, and FastAPI's documented way for requests (a custom
`APIRoute` class) would have to be set on every capability's router; this small ASGI middleware does it
once for the whole app. It inflates the body before anything reads it, and it is bounded: a body that
inflates past `max_bytes` is refused with 413 (a gzip bomb costs us `max_bytes` of memory, no more).
Requests without the header pass through untouched.
"""

import json
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # a 1000-receipt batch is ~1.5 MB of JSON; leave ample room


class _TooLarge(Exception):
    pass


class GzipRequestMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        encoding = next((v for k, v in headers if k == b"content-encoding"), b"").strip().lower()
        if encoding in (b"", b"identity"):
            await self.app(scope, receive, send)
            return
        if encoding != b"gzip":
            await _problem(send, 415, "unsupported Content-Encoding: send gzip or plain JSON")
            return
        try:
            body = await self._inflate(receive)
        except _TooLarge:
            await _problem(send, 413, f"the inflated body is larger than {self.max_bytes} bytes")
            return
        except zlib.error as exc:
            await _problem(send, 400, f"the body is not valid gzip: {exc}")
            return
        kept = [(k, v) for k, v in headers if k not in (b"content-encoding", b"content-length")]
        scope = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for the disconnect as usual
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _inflate(self, receive: Receive) -> bytes:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: the gzip container, not raw zlib
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise zlib.error("the client went away before the body was complete")
            more = message.get("more_body", False)
            chunk = inflater.decompress(message.get("body", b""), self.max_bytes - size + 1)
            size += len(chunk)
            if size > self.max_bytes or inflater.unconsumed_tail:
                raise _TooLarge
            parts.append(chunk)
        tail = inflater.flush()
        if size + len(tail) > self.max_bytes:
            raise _TooLarge
        if not inflater.eof:
            raise zlib.error("truncated gzip stream")
        return b"".join([*parts, tail])


async def _problem(send: Send, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
