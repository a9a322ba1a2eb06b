"""The agent as a Windows service through WinSW (docs/packaging-windows.md says why WinSW, not pywin32):
the service's XML, stopping and starting it, and launching the update applier outside the service.

Plain Python with no Windows import, so Linux tests run it. The XML is rendered here, not hand-kept:
an update rewrites it to start the new version's executable, and a rollback back to the old one (WinSW
reads it at every start).
"""

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

log = logging.getLogger("agent.updates")
SERVICE_ID = "echeck-agent"
UPDATE_TASK = r"echeck\update"  # the scheduled task the installer registers (runs echeck-update.cmd)
PENDING_FILE = "update-pending"  # what the task applies: one version name


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    executable: Path  # versions\<v>\echeck-agent\echeck-agent.exe
    config: Path  # agent.toml (in ProgramData, beside the data directory)
    log_dir: Path
    service_id: str = SERVICE_ID
    restart_delays_s: tuple[int, ...] = (5, 10, 30)  # WinSW repeats the last one for later failures
    reset_failure_after: str = "1 hour"
    log_size_kb: int = 10240
    log_keep: int = 8


def winsw_xml(spec: ServiceSpec) -> str:
    """WinSW v2/v3 configuration. Restart on failure is explicit: without <onfailure> WinSW leaves a
    crashed agent down (two production outages in its issue tracker)."""
    onfailure = "\n".join(f'  <onfailure action="restart" delay="{s} sec"/>' for s in spec.restart_delays_s)
    return f"""<!-- Written by echeck (agent/winservice.py); an update rewrites <executable>. -->
<service>
  <id>{escape(spec.service_id)}</id>
  <name>echeck agent</name>
  <description>echeck register agent: buyer contact at checkout, receipts queued and synced</description>
  <executable>{escape(str(spec.executable))}</executable>
  <arguments>--config "{escape(str(spec.config))}" --log-format json run</arguments>
  <startmode>Automatic</startmode>
  <delayedAutoStart>false</delayedAutoStart>
  <stoptimeout>20 sec</stoptimeout>
{onfailure}
  <resetfailure>{escape(spec.reset_failure_after)}</resetfailure>
  <logpath>{escape(str(spec.log_dir))}</logpath>
  <log mode="roll-by-size">
    <sizeThreshold>{spec.log_size_kb}</sizeThreshold>
    <keepFiles>{spec.log_keep}</keepFiles>
  </log>
</service>
"""


Runner = Callable[[Sequence[str]], int]


def _run(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), check=False, capture_output=True).returncode


class WinswService:
    """`ServiceControl` for the updater: WinSW's own commands on the service's XML (beside winsw.exe)."""

    def __init__(
        self, winsw_exe: Path, spec: ServiceSpec, *, run: Runner = _run, wait_s: float = 30.0
    ) -> None:
        self.winsw_exe = winsw_exe
        self.spec = spec
        self._run = run
        self._wait_s = wait_s

    @property
    def xml_path(self) -> Path:
        return self.winsw_exe.with_suffix(".xml")

    def stop(self) -> None:
        self._run([str(self.winsw_exe), "stop"])  # returns once the service stopped (or stoptimeout)

    def start(self, app_dir: Path) -> None:
        executable = app_dir / "echeck-agent" / "echeck-agent.exe"
        spec = ServiceSpec(executable, self.spec.config, self.spec.log_dir, self.spec.service_id)
        self.xml_path.write_text(winsw_xml(spec), encoding="utf-8")
        deadline = time.monotonic() + self._wait_s
        while self._run([str(self.winsw_exe), "start"]) != 0 and time.monotonic() < deadline:
            time.sleep(1.0)  # still stopping: SCM refuses a start until the stop completed


def launch_apply(root: Path, version: str, *, run: Runner = _run) -> None:
    """Hand `version` to the applier. On Windows the installer's scheduled task runs it as SYSTEM, outside
    the service's process tree (WinSW ends the service's children when it stops the service)."""
    (root / PENDING_FILE).write_text(version + "\n", encoding="utf-8")
    if sys.platform == "win32":
        run(["schtasks", "/Run", "/TN", UPDATE_TASK])
        return
    # Linux registers update the .deb through apt (docs/updates.md); a tufup install elsewhere is applied
    # by hand: `echeck-agent update apply --root ROOT`.
    log.warning("update %s staged under %s: apply it with `echeck-agent update apply`", version, root)
