"""Zeroconf advertisement of the agent (`_echeck-agent._tcp`), so a cashier UI on another machine finds it.

Only when the agent listens beyond localhost: an agent on 127.0.0.1 is reachable from its own machine only,
and advertising it would invite UIs that cannot connect.
"""

import ipaddress
import logging
import socket
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
        self, port: int, addresses: list[str], name: str | None = None, interfaces: list[str] | None = None
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
            properties={"version": __version__, "path": "/agent/v1"},
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


def advertisement_for(host: str, port: int) -> Advertisement | None:
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
    return Advertisement(port, addresses or [host]) if addresses else None


def start_advertising(host: str, port: int) -> Advertisement | None:
    """Advertise a non-loopback agent; a network without multicast costs a warning, never the agent."""
    try:
        advert = advertisement_for(host, port)
        if advert is not None:
            advert.start()
        return advert
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("zeroconf advertisement failed: %s; cashier UIs need --agent URL", exc)
        return None
