"""`echeck-agent status` says what is true, line by line, and exits 1 when something needs store IT."""

import json
from pathlib import Path

import httpx
import pytest

from agent.agent_probe import agent_url
from agent.config import load_config
from agent.local_schemas import SECRET_FILE, SECRET_HEADER
from receipts.examples import REFERENCE_SALE
from tests.agent.store_it import (
    Register,
    agent_running,
    clock_off,
    corrupt_outbox,
    enrolled_behind,
    enrollment_code,
    full_disk,
    make_register,
    revoked,
)
from tests.support.live_server import free_port, live_server
from tests.sync.conftest import Cloud
from tests.sync.helpers import wait_for


def status(register: Register, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str]:
    code = register.run("status", *more)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def agent_view(register: Register) -> dict[str, object]:
    secret = (register.data_dir / SECRET_FILE).read_text().strip()
    url = agent_url(load_config(register.config, env={})) + "/agent/v1/status"
    answer: dict[str, object] = httpx.get(url, headers={SECRET_HEADER: secret}, timeout=5).json()
    return answer


def sync_view(register: Register) -> dict[str, object]:
    return agent_view(register).get("sync") or {}  # type: ignore[return-value]


@pytest.fixture
def enrolled(tmp_path: Path, cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> Register:
    register = make_register(tmp_path)
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", enrollment_code(cloud)) == 0
    capsys.readouterr()
    return register


def test_after_a_restart_the_last_sync_is_read_from_the_outbox(
    enrolled: Register, capsys: pytest.CaptureFixture[str]
) -> None:
    with agent_running(enrolled):
        pos = f"http://127.0.0.1:{enrolled.port}/pos/v1/checkouts"
        cid = httpx.post(pos, json={}).json()["checkout_id"]
        httpx.post(f"{pos}/{cid}/close", json=REFERENCE_SALE).raise_for_status()
        wait_for(lambda: agent_view(enrolled)["outbox"]["acked"] == 1, "the receipt synced")  # type: ignore[index]
        code, out = status(enrolled, capsys)
        assert code == 0, out
        assert "ok       cloud reachable; last sync 20" in out
    code, out = status(enrolled, capsys)
    assert code == 1
    assert "error    agent NOT running (nothing answers on http://127.0.0.1:" in out
    assert "start it: `systemctl start echeck-agent`" in out
    assert "ok       0 receipt(s) waiting, 1 synced, last sync 20" in out
    assert "UNREACHABLE" not in out
    assert "cloud not checked while the agent is stopped" in out


def test_a_foreign_agent_on_the_port_is_not_reported_as_this_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = make_register(tmp_path / "a")
    with agent_running(mine):
        other = make_register(tmp_path / "b")
        text = other.config.read_text().replace(f"listen_port = {other.port}", f"listen_port = {mine.port}")
        other.config.write_text(text)
        code, out = status(other, capsys)
        assert code == 2
        assert f"is not the one of {other.data_dir}" in out
        assert "refuses the UI secret" in out
        # the same with --data-dir on the command line
        code = mine.run("--data-dir", str(other.data_dir), "status")
        assert code == 2
        assert "is not the one of" in capsys.readouterr().err


def test_no_cloud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    register.enroll_at(f"http://127.0.0.1:{free_port()}", "tok")
    with agent_running(register):
        code, out = status(register, capsys)  # idle: nothing to send yet, status looks for itself
        assert code == 1
        assert "error    cloud UNREACHABLE: the cloud http://127.0.0.1:" in out
        assert "check the network" in out
        pos = f"http://127.0.0.1:{register.port}/pos/v1/checkouts"
        cid = httpx.post(pos, json={}).json()["checkout_id"]
        httpx.post(f"{pos}/{cid}/close", json=REFERENCE_SALE).raise_for_status()
        wait_for(lambda: bool(sync_view(register).get("consecutive_failures")), "a failed sync")
        code, out = status(register, capsys)
    assert code == 1
    assert "error    cloud UNREACHABLE: ConnectError" in out
    assert "ok       1 receipt(s) waiting" in out


def test_bad_token(enrolled: Register, capsys: pytest.CaptureFixture[str]) -> None:
    (enrolled.data_dir / "secrets" / "register-token.secret").write_text("not-the-token")
    with agent_running(enrolled):
        wait_for(lambda: bool(sync_view(enrolled).get("token_refused")), "the token refused")
        code, out = status(enrolled, capsys)
    assert code == 1
    assert "error    the cloud REFUSES this register's token: run `echeck-agent enroll" in out


def test_revoked_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with enrolled_behind(tmp_path, revoked()) as register, agent_running(register):
        wait_for(lambda: bool(sync_view(register).get("token_refused")), "the register refused")
        code, out = status(register, capsys)
    assert code == 1
    assert "error    revoked by the cloud: " in out


def test_clock_skew(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with enrolled_behind(tmp_path, clock_off(-900.0)) as register, agent_running(register):
        wait_for(lambda: sync_view(register).get("clock_skew_s") is not None, "a heartbeat")
        code, out = status(register, capsys)
    assert code == 1
    assert "error    clock -900 s off the cloud's: set the time (NTP)" in out


def test_full_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with full_disk(tmp_path / "tiny") as tiny:
        register = make_register(tmp_path, data_dir=tiny / "data")
        code, out = status(register, capsys)
    assert code == 1
    assert "error    only 0 MB free on the disk of" in out


def test_corrupt_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    corrupt_outbox(register)
    code, out = status(register, capsys)  # agent stopped: read from the file, which is left alone
    assert code == 1
    assert "error    receipts cannot be queued: the outbox cannot be read" in out
    with agent_running(register):  # the agent moves it aside and starts a new one
        code, out = status(register, capsys)
    assert code == 1
    assert "error    corrupt outbox moved aside, kept: outbox.corrupt-" in out


def test_no_cashier_ui(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from drivers.atol import emulator as atol

    with live_server(atol.create_app(atol.AtolEmulator())) as upstream:
        register = make_register(
            tmp_path, f'hook = "atol-proxy"\n[atol]\nlisten_port = {free_port()}\nupstream = "{upstream}"\n'
        )
        with agent_running(register):
            code, out = status(register, capsys)
    assert code == 1
    assert "error    no cashier UI is connected" in out


def test_not_enrolled_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    code, out = status(register, capsys, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["running"] is False
    levels = {f["what"].split(":")[0]: f["level"] for f in data["findings"]}
    assert levels["not enrolled"] == "error"


def test_dead_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    register = make_register(
        tmp_path, f'hook = "atol-proxy"\n[atol]\nlisten_port = {free_port()}\nupstream = "{dead}"\n'
    )
    code, out = status(register, capsys)
    assert code == 1
    assert f"error    ATOL web server at {dead} does not answer" in out
    with agent_running(register):
        code, out = status(register, capsys)
    assert code == 1
    assert f"error    ATOL web server at {dead} does not answer" in out
