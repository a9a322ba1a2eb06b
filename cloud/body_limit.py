"""Every request body is limited as it streams, before anything parses or authenticates it.

The limit depends on the route (`limit_for`): a register's receipt batch may be large, a provider's callback
or a heartbeat is small. A `Content-Length` over the limit is answered 413 before one byte is read; a
chunked body is counted as it arrives and refused the moment it passes the limit, so memory stays bounded
by the limit whatever the sender streams (300 MB to a callback cost the cloud +590 MB RSS before this).
`GzipRequestMiddleware` (inside this one) takes the same limit for the inflated size.

The 413 is `{"detail", "code": "payload_too_large"}` like every error of the cloud: raised inside the app
(`BodyTooLarge` is an HTTPException, so FastAPI's body reading passes it on to the one error handler), or
answered here when it surfaces outside the routes (while the gzip layer inflates).
"""

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KB = 1024
MB = 1024 * KB
SCOPE_KEY = "echeck.body_limit"  # where the gzip layer finds the route's limit

# (path pattern, limit in bytes), first match wins. A 1000-receipt batch is ~1.5 MB of JSON; receipts with
# hundreds of items make it larger, so the batch keeps the room the gzip layer always allowed.
ROUTE_LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^/v1/stores/[^/]+/receipts/batch$"), 32 * MB),
    (re.compile(r"^/v1/delivery/callbacks/"), 64 * KB),  # one provider report document
    (re.compile(r"^/v1/delivery/app/events$"), 256 * KB),
    (re.compile(r"^/v1/registers/heartbeat$"), 64 * KB),
    (re.compile(r"^/v1/enroll$"), 4 * KB),
    (re.compile(r"^/t/[^/]+/collect$"), 64 * KB),  # the tracker's batches are ≤ 40 KB (sendBeacon: 64 KB)
)
DEFAULT_LIMIT = 1 * MB


def limit_for(path: str) -> int:
    for pattern, limit in ROUTE_LIMITS:
        if pattern.match(path):
            return limit
    return DEFAULT_LIMIT


def too_large_detail(limit: int) -> str:
    return f"the request body is larger than this endpoint takes ({limit} bytes)"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Callable[[str], int] = limit_for) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_error(send, 413, too_large_detail(limit), "payload_too_large")
            return
        scope[SCOPE_KEY] = limit
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            if started:
                raise
            await send_error(send, 413, str(exc.detail), "payload_too_large")


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def send_error(send: Send, status: int, detail: str, code: str) -> None:
    """An error answer in the cloud's one shape, from below the app's exception handlers."""
    body = json.dumps({"detail": detail, "code": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
