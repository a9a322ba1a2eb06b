"""Refuse requests whose Host header names a stranger: the local API's defence against DNS rebinding.

The rule itself (which names are this till's, and why) is `drivers.host_rule`, shared with the ATOL
proxy's relay.
"""

import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from drivers.host_rule import WILDCARDS, allowed_names, is_allowed, refusal

__all__ = ["WILDCARDS", "HostGuard", "allowed_names"]
log = logging.getLogger(__name__)


class HostGuard:
    """ASGI middleware: 403 with a sentence for a foreign Host, before any endpoint (or /docs) runs."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(b"host")
        header = raw.decode("latin-1") if raw is not None else None
        if is_allowed(header, self.names):
            await self.app(scope, receive, send)
            return
        log.warning("request with a foreign Host refused", extra={"host": (header or "")[:100]})
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": refusal(header)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
