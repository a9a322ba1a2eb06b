"""Zeroconf advertisement of the agent (`_echeck-agent._tcp`), so a cashier UI on another machine finds it.

Only when the agent listens beyond localhost: an agent on 127.0.0.1 is reachable from its own machine only,
and advertising it would invite UIs that cannot connect.
"""

import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent import __version__
from agent.local_schemas import SERVICE_TYPE

if TYPE_CHECKING:
    from zeroconf import Zeroconf

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Advertisement:
    """Registers the service on start and unregisters it on stop; `interfaces` narrows it (tests)."""

    def __init__(
        self,
        port: int,
        addresses: list[str],
        name: str | None = None,
        interfaces: list[str] | None = None,
        register: str | None = None,
    ) -> None:
        # zeroconf (~3.5 MB resident) is imported only here: an agent on 127.0.0.1, the usual case, never
        # advertises, and the agent's memory target (≤ 80 MB) has no room for what it does not use.
        from zeroconf import ServiceInfo

        self._zeroconf: Zeroconf | None = None
        self._interfaces = interfaces
        instance = name or f"echeck agent on {socket.gethostname()}"
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{instance}.{SERVICE_TYPE}",
            port=port,
            parsed_addresses=addresses,
            properties={
                "version": __version__,
                "path": "/agent/v1",
                **({"register": register} if register else {}),
            },
        )

    def start(self) -> None:
        from zeroconf import IPVersion, Zeroconf

        if self._interfaces is not None:
            self._zeroconf = Zeroconf(interfaces=self._interfaces, ip_version=IPVersion.V4Only)
        else:
            self._zeroconf = Zeroconf(ip_version=IPVersion.V4Only)
        self._zeroconf.register_service(self.info)
        log.info("advertised by zeroconf", extra={"service": self.info.name, "port": self.info.port})

    def stop(self) -> None:
        if self._zeroconf is not None:
            self._zeroconf.unregister_service(self.info)
            self._zeroconf.close()
            self._zeroconf = None


def advertisement_for(host: str, port: int, register: str | None = None) -> Advertisement | None:
    """None for a loopback agent; else the addresses it is reachable at (all of this host's for 0.0.0.0)."""
    if is_loopback(host):
        return None
    if host in ("0.0.0.0", "::", ""):
        addresses = sorted(
            {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
            - {"127.0.0.1"}
        )
    else:
        addresses = [host]
    return Advertisement(port, addresses or [host], register=register) if addresses else None


def start_advertising(host: str, port: int, register: str | None = None) -> Advertisement | None:
    """Advertise a non-loopback agent; a network without multicast costs a warning, never the agent."""
    try:
        advert = advertisement_for(host, port, register)
        if advert is not None:
            advert.start()
        return advert
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("zeroconf advertisement failed: %s; cashier UIs need --agent URL", exc)
        return None


@dataclass(frozen=True, slots=True)
class FoundAgent:
    name: str  # the advertised instance, e.g. "echeck agent on till-3"
    host: str  # the machine's mDNS name
    address: str
    port: int
    version: str
    register: str  # "store 12 register 31" once enrolled, else ""


def browse(timeout_s: float = 3.0, interfaces: list[str] | None = None) -> list[FoundAgent]:
    """Every agent that answers on the LAN within `timeout_s` (`echeck-agent discover`), sorted by name."""
    from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

    found: dict[str, FoundAgent] = {}
    lock = threading.Lock()

    class Listener(ServiceListener):
        def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            info = zc.get_service_info(type_, name, timeout=2000)
            if info is None or not info.port or not info.parsed_addresses():
                return
            props = {k.decode(): (v or b"").decode(errors="replace") for k, v in info.properties.items()}
            agent = FoundAgent(
                name=name.removesuffix("." + SERVICE_TYPE),
                host=(info.server or "").rstrip("."),
                address=info.parsed_addresses()[0],
                port=info.port,
                version=props.get("version", ""),
                register=props.get("register", ""),
            )
            with lock:
                found[name] = agent

        def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            self.add_service(zc, type_, name)

        def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            with lock:
                found.pop(name, None)

    zc = (
        Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        if interfaces
        else Zeroconf(ip_version=IPVersion.V4Only)
    )
    try:
        ServiceBrowser(zc, SERVICE_TYPE, Listener())
        time.sleep(timeout_s)
    finally:
        zc.close()
    with lock:
        return sorted(found.values(), key=lambda a: (a.name, a.address))


def table(agents: list[FoundAgent]) -> str:
    rows = [("HOST", "ADDRESS", "PORT", "REGISTER", "VERSION", "NAME")]
    rows += [(a.host, a.address, str(a.port), a.register or "-", a.version or "?", a.name) for a in agents]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
