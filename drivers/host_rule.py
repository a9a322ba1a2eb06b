"""Which `Host` header names this till: the defence against DNS rebinding, for every port the agent serves.

A web page on `rebind.attacker.example` can make its name resolve to 127.0.0.1 and then call the till's
ports (the agent's local API, the ATOL proxy) from the buyer's or cashier's browser; the browser still
sends `Host: rebind.attacker.example`. So a request is answered only when it is addressed by a name the
till knows: loopback names, an IP address literal (a page can only be same-origin with an address by
being served from it), this machine's host name, the listen address, and the names store IT configured
(`allowed_hosts` in agent.toml). Pure rule, no I/O but the host name: the agent's ASGI guard and the
ATOL relay (h11) both apply it.
"""

import ipaddress
import socket
from collections.abc import Iterable

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


def refusal(header: str | None) -> str:
    """The 403's sentence for store IT (or whoever reads the refused client's log)."""
    return (
        f"Host {header!r} is not this till's: call it as 127.0.0.1 or localhost, or add the name to "
        "allowed_hosts in agent.toml"
    )
