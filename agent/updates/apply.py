"""Switch the service to a staged version; keep it only if it starts healthy, else roll back.

    stop the service → `current` = new → start → wait until it answers with the new version
        healthy: the previous version is kept (one step back by hand), older ones are removed
        not within `health_timeout_s`: stop → `current` = previous → start; the new version is marked
        failed and never applied again

The service manager is behind `ServiceControl` (WinSW on Windows, `agent.winservice`); the health probe
is a callable that returns the version the running agent reports (its /healthz), or None.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.updates.layout import Installation, LayoutError

log = logging.getLogger("agent.updates")


class ServiceControl(Protocol):
    def stop(self) -> None: ...

    def start(self, app_dir: Path) -> None:
        """Start the agent from this version's directory."""
        ...


@dataclass(frozen=True, slots=True)
class ApplyResult:
    ok: bool
    version: str
    previous: str | None
    message: str


def apply_staged(
    installation: Installation,
    version: str,
    service: ServiceControl,
    running_version: Callable[[], str | None],
    *,
    health_timeout_s: float = 60.0,
    poll_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ApplyResult:
    previous = installation.current()
    if previous == version:
        return ApplyResult(True, version, previous, f"version {version} already runs")
    if not installation.version_dir(version).is_dir():
        raise LayoutError(f"version {version} is not staged under {installation.versions_dir}")
    log.warning("applying update", extra={"version": version, "previous": previous})
    service.stop()
    installation.set_current(version)
    service.start(installation.version_dir(version))
    if _healthy(version, running_version, health_timeout_s, poll_s, sleep, clock):
        state = installation.state()
        state.previous = previous
        state.last_result = f"updated {previous} → {version}"
        installation.save_state(state)
        installation.prune(keep={v for v in (previous, version) if v})
        log.warning("update applied", extra={"version": version, "previous": previous})
        return ApplyResult(True, version, previous, state.last_result)
    # Rolled back: the previous version was never touched, so pointing back at it is the whole repair.
    service.stop()
    state = installation.state()
    state.failed = sorted(set(state.failed) | {version})
    if previous is not None:
        installation.set_current(previous)
        service.start(installation.version_dir(previous))
        back = _healthy(previous, running_version, health_timeout_s, poll_s, sleep, clock)
        state.last_result = (
            f"update {version} did not start healthy within {health_timeout_s:g} s: rolled back to {previous}"
            + ("" if back else " (which does not answer either: check the service log)")
        )
    else:
        state.last_result = f"update {version} did not start healthy and nothing to roll back to"
    installation.save_state(state)
    log.error("update rolled back", extra={"version": version, "previous": previous})
    return ApplyResult(False, version, previous, state.last_result)


def _healthy(
    version: str,
    running_version: Callable[[], str | None],
    timeout_s: float,
    poll_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> bool:
    deadline = clock() + timeout_s
    while True:
        if running_version() == version:
            return True
        if clock() >= deadline:
            return False
        sleep(poll_s)


def http_version_probe(url: str, timeout_s: float = 2.0) -> Callable[[], str | None]:
    """The agent's /healthz answers {"status": "ok", "version": ...}: the version that really runs."""

    def probe() -> str | None:
        import httpx

        try:
            answer = httpx.get(url.rstrip("/") + "/healthz", timeout=timeout_s)
            if answer.status_code != 200:
                return None
            version = answer.json().get("version")
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return str(version) if version else None

    return probe
