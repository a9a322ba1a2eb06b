"""Accept request bodies sent with `Content-Encoding: gzip` (the agents' receipt batches).

Starlette's GZipMiddleware compresses responses only, and FastAPI's documented way for requests (a custom
`APIRoute` class) would have to be set on every capability's router; this small ASGI middleware does it
once for the whole app. It inflates the body before anything reads it, and it is bounded: a body that
inflates past the route's limit (`cloud.body_limit`, which also counts the compressed bytes as they arrive)
is refused with 413 (a gzip bomb costs us that limit of memory, no more). Requests without the header pass
through untouched.
"""

import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cloud.body_limit import SCOPE_KEY, send_error

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
            detail = "unsupported Content-Encoding: send gzip or plain JSON"
            await send_error(send, 415, detail, "unsupported_media_type")
            return
        max_bytes = min(self.max_bytes, scope.get(SCOPE_KEY, self.max_bytes))
        try:
            body = await self._inflate(receive, max_bytes)
        except _TooLarge:
            detail = f"the inflated body is larger than this endpoint takes ({max_bytes} bytes)"
            await send_error(send, 413, detail, "payload_too_large")
            return
        except zlib.error as exc:
            await send_error(send, 400, f"the body is not valid gzip: {exc}", "bad_request")
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

    async def _inflate(self, receive: Receive, max_bytes: int) -> bytes:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: the gzip container, not raw zlib
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise zlib.error("the client went away before the body was complete")
            more = message.get("more_body", False)
            chunk = inflater.decompress(message.get("body", b""), max_bytes - size + 1)
            size += len(chunk)
            if size > max_bytes or inflater.unconsumed_tail:
                raise _TooLarge
            parts.append(chunk)
        tail = inflater.flush()
        if size + len(tail) > max_bytes:
            raise _TooLarge
        if not inflater.eof:
            raise zlib.error("truncated gzip stream")
        return b"".join([*parts, tail])
