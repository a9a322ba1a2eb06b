"""`echeck-agent doctor` for each broken condition: its line and exit code, against real peers and files."""

import json
from pathlib import Path

import pytest

from agent.bootstrap import Agent
from agent.config import load_config
from drivers.atol import emulator as atol
from pos_plugin.contract import OpenRequest
from tests.agent.store_it import (
    Register,
    agent_running,
    clock_off,
    corrupt_outbox,
    enrolled_behind,
    enrollment_code,
    full_disk,
    make_register,
    reference_receipt,
    revoked,
    ui_polling,
    untrusted_https,
)
from tests.support.live_server import free_port, live_server
from tests.sync.conftest import Cloud


def doctor(register: Register, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = register.run("doctor")
    return code, capsys.readouterr().out


@pytest.fixture
def enrolled(tmp_path: Path, cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> Register:
    register = make_register(tmp_path)
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", enrollment_code(cloud)) == 0
    capsys.readouterr()
    return register


def test_a_healthy_register_passes_with_every_check_on_its_line(
    enrolled: Register,
    cloud: Cloud,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with agent_running(enrolled), ui_polling(enrolled):
        code, out = doctor(enrolled, capsys)
    assert code == 0, out
    for line in (
        "ok       configuration",
        f"ok       the cloud {cloud.url} is reachable",
        "ok       the cloud accepts this register's token (heartbeat)",
        "ok       clock ",
        "MB free on the disk of",
        "ok       outbox healthy: 0 receipt(s) waiting",
        "ok       the agent ",
        "ok       a cashier UI is connected",
        "ok       hook: localhost checkout API",
    ):
        assert line in out, line
    assert "error" not in out


def test_no_cloud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    register.enroll_at(f"http://127.0.0.1:{free_port()}", "tok")
    code, out = doctor(register, capsys)
    assert code == 1
    assert "error    the cloud http://127.0.0.1:" in out
    assert "is unreachable" in out
    assert "check the network" in out


def test_untrusted_tls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with untrusted_https(tmp_path) as url:
        register = make_register(tmp_path)
        register.enroll_at(url, "tok")
        code, out = doctor(register, capsys)
    assert code == 1
    assert f"error    TLS to the cloud {url} fails" in out
    assert "the cloud's certificate is not trusted here" in out


def test_bad_token(enrolled: Register, capsys: pytest.CaptureFixture[str]) -> None:
    (enrolled.data_dir / "secrets" / "register-token.secret").write_text("not-the-token")
    code, out = doctor(enrolled, capsys)
    assert code == 1
    assert "error    the cloud refuses this register's token (401): run `echeck-agent enroll" in out


def test_revoked_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with enrolled_behind(tmp_path, revoked()) as register:
        code, out = doctor(register, capsys)
    assert code == 1
    assert "error    revoked by the cloud: " in out


def test_clock_skew(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with enrolled_behind(tmp_path, clock_off(600.0)) as register:
        code, out = doctor(register, capsys)
    assert code == 1
    assert "error    this register's clock is +600 s off the cloud's: set the time (NTP)" in out


def test_full_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with full_disk(tmp_path / "tiny") as tiny:
        register = make_register(tmp_path, data_dir=tiny / "data")
        code, out = doctor(register, capsys)
    assert code == 1
    assert "error    only 0 MB free on the disk of" in out
    assert "free disk space" in out


def test_corrupt_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    path = corrupt_outbox(register)
    code, out = doctor(register, capsys)
    assert code == 1
    assert "error    the outbox " in out
    assert "is corrupt" in out
    assert path.exists(), "doctor only looks: the file stays where it is"


def test_old_unsynced_receipts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    from sync.outbox import Outbox

    register = make_register(tmp_path)
    with Outbox(register.data_dir / "outbox.sqlite3") as outbox:
        outbox.enqueue(reference_receipt(), closed_at=datetime.now(UTC) - timedelta(days=2))
    code, out = doctor(register, capsys)
    assert code == 1
    assert (
        "error    outbox healthy: 1 receipt(s) waiting, 0 synced, the oldest unsynced closed 48.0 h ago"
        in out
    )


def test_no_cashier_ui(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # behind the ATOL proxy only the popup asks the buyer: without a UI no contact is ever collected
    with live_server(atol.create_app(atol.AtolEmulator())) as upstream:
        register = make_register(
            tmp_path, f'hook = "atol-proxy"\n[atol]\nlisten_port = {free_port()}\nupstream = "{upstream}"\n'
        )
        with agent_running(register):
            code, out = doctor(register, capsys)
    assert code == 1
    assert (
        "error    no cashier UI is connected: buyers are not asked for their contact: start `echeck-ui`"
        in out
    )
    assert "ok       ATOL web server answers" in out


def test_dead_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(
        tmp_path, f'hook = "atol-proxy"\n[atol]\nupstream = "http://127.0.0.1:{free_port()}"\n'
    )
    code, out = doctor(register, capsys)
    assert code == 1
    assert "error    ATOL web server at http://127.0.0.1:" in out
    assert "Start the ATOL web server" in out


def test_not_enrolled_and_agent_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    code, out = doctor(register, capsys)
    assert code == 1
    assert "error    this register is not enrolled: run `echeck-agent enroll" in out
    assert "warning  the agent is not running" in out


def test_enrollment_keeps_the_clouds_public_url_for_the_popups_qr(
    tmp_path: Path,
    enrolled: Register,
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = json.loads((enrolled.data_dir / "enrollment.json").read_text())
    assert saved["cloud_url"] == cloud.url
    assert saved["public_url"] == cloud.url  # no --public-url on this bench: the address it was called by
    # the cloud told its public address: the register enrolled through 127.0.0.1, buyers get the public one
    monkeypatch.setenv("ECHECK_PUBLIC_URL", "https://echeck.example.ru")
    cloud.stop()
    cloud.start()
    other = make_register(tmp_path / "till2")
    assert other.run("enroll", "--cloud-url", cloud.url, "--code", enrollment_code(cloud)) == 0
    agent = Agent(load_config(other.config, env={}))
    try:
        checkout = agent.checkouts.open(OpenRequest()).checkout_id
        url = agent.landing_url(checkout)
    finally:
        agent.stop()
    assert url is not None
    assert url.startswith(f"https://echeck.example.ru/r/c/{agent.enrollment.register_id}/")
