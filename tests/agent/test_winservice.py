"""The Windows service glue, on Linux: the WinSW XML it writes and the commands it runs."""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from agent.winservice import PENDING_FILE, ServiceSpec, WinswService, launch_apply, winsw_xml


def spec(tmp_path: Path) -> ServiceSpec:
    return ServiceSpec(
        Path(r"C:\Program Files\echeck\versions\0.1.0\echeck-agent\echeck-agent.exe"),
        Path(r"C:\ProgramData\echeck\agent.toml"),
        Path(r"C:\ProgramData\echeck\logs"),
    )


def test_the_service_restarts_on_failure_and_rotates_its_log(tmp_path: Path) -> None:
    doc = ET.fromstring(winsw_xml(spec(tmp_path)))
    assert doc.findtext("id") == "echeck-agent"
    assert [f.get("action") for f in doc.findall("onfailure")] == ["restart"] * 3
    assert doc.findtext("resetfailure") == "1 hour"
    log = doc.find("log")
    assert log is not None
    assert log.get("mode") == "roll-by-size"
    assert log.findtext("keepFiles") == "8"
    assert doc.findtext("executable", "").endswith(r"versions\0.1.0\echeck-agent\echeck-agent.exe")
    assert r'--config "C:\ProgramData\echeck\agent.toml"' in doc.findtext("arguments", "")
    assert doc.findtext("startmode") == "Automatic"


class Recorder:
    """Stands in for Windows' process table: records the commands (winsw.exe, schtasks)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = answers or []

    def __call__(self, argv: Sequence[str]) -> int:
        self.calls.append(list(argv))
        return self.answers.pop(0) if self.answers else 0


def test_starting_a_version_rewrites_the_executable_then_starts(tmp_path: Path) -> None:
    runner = Recorder(answers=[0, 1, 0])  # stop; the first start is refused (still stopping); then it starts
    service = WinswService(tmp_path / "echeck-agent-service.exe", spec(tmp_path), run=runner, wait_s=5)
    service.stop()
    service.start(tmp_path / "versions" / "0.2.0")
    assert [c[1] for c in runner.calls] == ["stop", "start", "start"]
    xml = (tmp_path / "echeck-agent-service.xml").read_text(encoding="utf-8")
    executable = ET.fromstring(xml).findtext("executable", "")
    assert executable == str(tmp_path / "versions" / "0.2.0" / "echeck-agent" / "echeck-agent.exe")


def test_launching_the_applier_leaves_the_pending_version(tmp_path: Path) -> None:
    launch_apply(tmp_path, "0.2.0", run=Recorder())
    assert (tmp_path / PENDING_FILE).read_text().strip() == "0.2.0"


def test_the_installer_writes_the_xml_through_the_agent(tmp_path: Path) -> None:
    from tests.agent.store_it import make_register

    register = make_register(tmp_path)
    exe = tmp_path / "versions" / "0.1.0" / "echeck-agent" / "echeck-agent.exe"
    assert register.run("service-xml", "--winsw", str(tmp_path / "svc.exe"), "--executable", str(exe)) == 0
    doc = ET.fromstring((tmp_path / "svc.xml").read_text(encoding="utf-8"))
    assert doc.findtext("executable") == str(exe)
    assert str(register.config) in doc.findtext("arguments", "")
