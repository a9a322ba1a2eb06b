"""Enrollment again and revocation against a real cloud: head office revokes the register with
`echeck-cloud register revoke`; the register keeps its queue and says so (doctor, status, its log); a new
code enrolls the same register again, the outbox untouched, and the kept receipts then sync."""

import json
import logging
from pathlib import Path

import pytest

from agent.enrollment import load_enrollment
from cloud.cli import main as cloud_cli
from sync.outbox import Outbox
from tests.agent.store_it import Register, agent_running, enrollment_code, make_register
from tests.agent.test_status_cli import sync_view
from tests.support.receipts import make_receipt
from tests.sync.conftest import Cloud
from tests.sync.helpers import wait_for

KEPT = 3


class Lines(logging.Handler):
    """The agent's log lines as sentences (its own handlers write JSON to stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def output(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def queue(register: Register, count: int) -> None:
    with Outbox(register.data_dir / "outbox.sqlite3") as outbox:
        for n in range(count):
            outbox.enqueue(make_receipt(9000 + n))


def pending(register: Register) -> int:
    with Outbox(register.data_dir / "outbox.sqlite3") as outbox:
        return outbox.stats().pending


def test_a_revoked_register_keeps_its_queue_says_so_and_enrolls_again(
    tmp_path: Path, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    register = make_register(tmp_path)
    assert register.run("enroll", "--cloud", cloud.url, "--code", enrollment_code(cloud)) == 0
    first = load_enrollment(register.data_dir / "enrollment.json")
    output(capsys)
    queue(register, KEPT)

    args = ["--database-url", cloud.database_url, "register", "revoke", "--register", str(first.register_id)]
    assert cloud_cli([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked"] is True

    assert register.run("doctor") == 1
    assert f"error    revoked by the cloud: {KEPT} receipts kept" in output(capsys)
    logged = Lines()
    logging.getLogger("echeck.sync").addHandler(logged)
    try:
        with agent_running(register):
            wait_for(lambda: bool(sync_view(register).get("register_revoked")), "the register revoked")
            assert register.run("status") == 1
            assert f"error    revoked by the cloud: {KEPT} receipts kept" in output(capsys)
    finally:
        logging.getLogger("echeck.sync").removeHandler(logged)
    assert any(f"revoked by the cloud: {KEPT} receipts kept" in line for line in logged.lines)
    assert pending(register) == KEPT

    # A new code from head office (a store's code; the old token tells the cloud which register it is).
    assert register.run("enroll", "--code", enrollment_code(cloud)) == 0
    said = output(capsys)
    assert f"Enrolled again: register {first.register_id} of store {cloud.store_id}" in said
    assert f"{KEPT} queued receipt(s) kept" in said
    assert load_enrollment(register.data_dir / "enrollment.json").register_id == first.register_id
    assert pending(register) == KEPT
    with agent_running(register):
        wait_for(lambda: pending(register) == 0, "the kept receipts synced")
    assert len(cloud.receipt_keys()) == KEPT


def test_enrolling_again_replaces_the_token_and_keeps_the_outbox(
    tmp_path: Path, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    register = make_register(tmp_path)
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", enrollment_code(cloud)) == 0
    token_file = register.data_dir / "secrets" / "register-token.secret"
    old_token = token_file.read_text()
    queue(register, 2)
    outbox_bytes = (register.data_dir / "outbox.sqlite3").read_bytes()
    assert register.run("enroll", "--code", enrollment_code(cloud)) == 0
    assert "Enrolled again" in output(capsys)
    assert token_file.read_text() != old_token
    assert (register.data_dir / "outbox.sqlite3").read_bytes() == outbox_bytes
    with agent_running(register):  # the new token works, the old one is refused as replaced
        wait_for(lambda: pending(register) == 0, "the queue synced with the new token")


def test_enroll_without_a_cloud_on_a_fresh_register_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register = make_register(tmp_path)
    assert register.run("enroll", "--code", "K7QF-9MZC") == 2
    assert "--cloud https://" in output(capsys)
