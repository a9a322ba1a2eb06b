"""`echeck-agent doctor` against the emulators: what store IT reads when the register is fine or not."""

from pathlib import Path

import httpx
import pytest

from agent.cli import main
from agent.config import load_config
from agent.fiscal_checks import diagnose
from drivers.atol import emulator as atol
from drivers.shtrih.emulator import DeviceLink, EmulatedRegister, TcpDevice
from tests.drivers.test_atol_emulator import SELL
from tests.support.live_server import free_port, live_server


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\ndata_dir = "{tmp_path}"\ncredentials = "file"\n' + text, encoding="utf-8")
    return path


def test_doctor_reads_a_shtrih_register_over_tcp(tmp_path: Path, capsys) -> None:
    register = EmulatedRegister(shift_open=False, unsent=70)
    device = TcpDevice(DeviceLink(register)).start()
    try:
        config = write_config(tmp_path, f'hook = "shtrih-tap"\n[shtrih]\ndevice_port = "{device.url}"\n')
        assert main(["--config", str(config), "doctor"]) == 1
    finally:
        device.stop()
    out = capsys.readouterr().out
    assert f"fiscal storage {register.fn_serial}" in out
    assert "error    shift 1 is closed" in out
    assert "Open the shift on the POS" in out
    assert "error    70 documents not sent to the OFD" in out


def test_doctor_says_when_the_shtrih_register_is_silent(tmp_path: Path, capsys) -> None:
    config = write_config(
        tmp_path, f'hook = "shtrih-tap"\n[shtrih]\ndevice_port = "socket://127.0.0.1:{free_port()}"\n'
    )
    assert main(["--config", str(config), "doctor"]) == 1
    assert "error    cannot open" in capsys.readouterr().out


def atol_doctor(tmp_path: Path, emulator: atol.AtolEmulator, sales: int = 0) -> list[str]:
    """doctor's register lines against the emulator, which answers the documented fields only."""
    with live_server(atol.create_app(emulator)) as url:
        for n in range(sales):
            submitted = httpx.post(f"{url}/api/v2/requests", json={"uuid": f"s{n}", "request": [SELL]})
            assert submitted.status_code == 201
        config = write_config(tmp_path, f'hook = "atol-proxy"\n[atol]\nupstream = "{url}"\n')
        return [finding.line().strip() for finding in diagnose(load_config(config, env={}))]


def test_doctor_reads_the_atol_web_server(tmp_path: Path, capsys) -> None:
    with live_server(atol.create_app(atol.AtolEmulator())) as url:
        config = write_config(tmp_path, f'hook = "atol-proxy"\n[atol]\nupstream = "{url}"\n')
        # exit 1: this bench register is not enrolled (its own error line); the register itself is fine
        assert main(["--config", str(config), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "ok       ATOL web server answers" in out
    assert "ok       shift is opened" in out


def test_doctor_tells_the_atol_registers_fn_numbering_and_ofd_queue_from_documented_tasks(
    tmp_path: Path,
) -> None:
    emulator = atol.AtolEmulator(atol.AtolRegister(fn_number="9999078902004321"))
    lines = atol_doctor(tmp_path, emulator, sales=3)
    assert lines[1:] == [
        "ok       fiscal storage 9999078902004321, last document 3",
        "ok       shift is opened",
        "ok       3 documents waiting for the OFD",
    ]


def test_doctor_says_what_is_wrong_with_the_atol_register(tmp_path: Path) -> None:
    register = atol.AtolRegister(shift_open=False, fn_phase="postFiscalMode")
    register.fn_warnings["needReplacement"] = True
    lines = atol_doctor(tmp_path, atol.AtolEmulator(register))
    assert lines[2].startswith("error    fiscal storage is not in fiscal mode (postFiscalMode)")
    assert lines[3].startswith("error    fiscal storage warnings: needReplacement")
    assert lines[4].startswith("error    shift is closed: Open the shift")


def test_doctor_says_when_the_atol_web_server_is_not_there(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, f'hook = "atol-proxy"\n[atol]\nupstream = "http://127.0.0.1:{free_port()}"\n'
    )
    (line,) = diagnose(load_config(config, env={}))
    assert line.line().strip().startswith("error    ATOL web server at http://127.0.0.1:")


LEGACY_FIRMWARE = frozenset(
    {0xFF40, 0xFF39, 0xFF45, 0xFF46}
)  # an FFD 1.05 register: 0x10, 0x8D, 0x80.., 0x85


def shtrih_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], register: EmulatedRegister, command: str = "doctor"
) -> list[str]:
    """What store IT reads from `echeck-agent doctor|status` (the agent stopped) about the register."""
    device = TcpDevice(DeviceLink(register)).start()
    try:
        config = write_config(tmp_path, f'hook = "shtrih-tap"\n[shtrih]\ndevice_port = "{device.url}"\n')
        main(["--config", str(config), command])
    finally:
        device.stop()
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    start = next(i for i, line in enumerate(lines) if "register answers on" in line)
    return lines[start : start + 3]


@pytest.mark.parametrize("command", ["doctor", "status"])
def test_doctor_and_status_read_a_register_that_knows_only_the_legacy_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    register = EmulatedRegister(unsupported=LEGACY_FIRMWARE, fn_serial="9999078900054321", last_fd=42)
    lines = shtrih_lines(tmp_path, capsys, register, command)
    assert lines == [
        f"ok       register answers on {lines[0].split(' on ', 1)[1].split(';')[0]}; "
        "fiscal storage 9999078900054321, last document 42",
        "ok       shift is open",
        "warning  the register does not report the documents waiting for the OFD (command 0xFF39 unknown): "
        "Check the OFD's personal account that the register's documents arrive.",
    ]
    assert register.commands[0] == 0x10  # the state every Shtrih-M knows, asked first


def test_doctor_says_a_shift_over_24_hours_and_a_register_without_fn_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register = EmulatedRegister(shift_over_24h=True, unsupported=LEGACY_FIRMWARE | {0xFF01})
    lines = shtrih_lines(tmp_path, capsys, register)
    assert lines[1].startswith("error    the register does not report its fiscal storage (command 0xFF01")
    assert lines[2] == "error    shift is open for more than 24 h: Close the shift (Z report), then open it."
