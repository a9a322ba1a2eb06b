"""Find an echeck agent on the network by zeroconf (`_echeck-agent._tcp`), bounded in time."""

import threading

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from agent.local_schemas import SERVICE_TYPE


class _First(ServiceListener):
    def __init__(self) -> None:
        self.url: str | None = None
        self.found = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=2000)
        if info and info.parsed_addresses() and info.port:
            self.url = f"http://{info.parsed_addresses()[0]}:{info.port}"
            self.found.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def discover_agent(timeout_s: float = 5.0, interfaces: list[str] | None = None) -> str | None:
    """The first agent's base URL, e.g. 'http://192.168.1.20:8765', or None after `timeout_s`."""
    zc = (
        Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        if interfaces
        else Zeroconf(ip_version=IPVersion.V4Only)
    )
    listener = _First()
    try:
        ServiceBrowser(zc, SERVICE_TYPE, listener)
        listener.found.wait(timeout_s)
        return listener.url
    finally:
        zc.close()
