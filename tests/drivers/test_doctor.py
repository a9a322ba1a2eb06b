"""`echeck-agent doctor` against the emulators: what store IT reads when the register is fine or not."""

from pathlib import Path

from agent.cli import main
from drivers.atol import emulator as atol
from drivers.shtrih.emulator import DeviceLink, EmulatedRegister, TcpDevice
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


def test_doctor_reads_the_atol_web_server(tmp_path: Path, capsys) -> None:
    with live_server(atol.create_app(atol.AtolEmulator())) as url:
        config = write_config(tmp_path, f'hook = "atol-proxy"\n[atol]\nupstream = "{url}"\n')
        # exit 1: this bench register is not enrolled (its own error line); the register itself is fine
        assert main(["--config", str(config), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "ok       ATOL web server answers" in out
    assert "ok       shift is opened" in out
