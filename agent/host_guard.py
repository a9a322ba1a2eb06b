"""Refuse requests whose Host header names a stranger: the local API's defence against DNS rebinding.

A web page on `rebind.attacker.example` can make its name resolve to 127.0.0.1 and then call the agent
from the buyer's or cashier's browser; the browser still sends `Host: rebind.attacker.example`. So the
agent answers only requests addressed to it by a name it knows: loopback names, an IP address literal
(a page can only be same-origin with an address by being served from it), this machine's host name, the
listen address, and the names store IT configured (`allowed_hosts`).
"""

import ipaddress
import json
import logging
import socket
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def allowed_names(listen_host: str, configured: Iterable[str]) -> frozenset[str]:
    names = set(LOOPBACK_NAMES) | {name.strip().lower().rstrip(".") for name in configured if name.strip()}
    if listen_host not in WILDCARDS:
        names.add(listen_host.lower())
    hostname = socket.gethostname().lower()
    names |= {hostname, f"{hostname}.local"}  # zeroconf advertises the agent under <hostname>.local
    return frozenset(names)


def host_name(header: str) -> str:
    """`Host` without the port, lower-case; IPv6 literals lose their brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_allowed(header: str | None, names: frozenset[str]) -> bool:
    if not header:
        return False
    name = host_name(header).rstrip(".")
    if name in names:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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
        detail = (
            f"Host {header!r} is not this agent's: call it as 127.0.0.1 or localhost, or add the name to "
            "allowed_hosts in agent.toml"
        )
        body = json.dumps({"detail": detail}).encode()
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
