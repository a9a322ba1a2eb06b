"""The agent SIGKILLed around a close, as a real process: the POS's retried close is answered from the
outbox (never 404), open checkouts survive the restart, and the cloud gets each receipt once."""

import json
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sync.outbox import Outbox
from tests.faults.harness import POS, Bench, close_body, start_bench
from tests.support.receipts import make_receipt

pytestmark = pytest.mark.e2e
WAIT_S = 30.0


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    running = start_bench(tmp_path, f"sqlite:///{tmp_path / 'cloud.db'}")
    yield running
    running.stop()


def _restart(bench: Bench) -> None:
    bench.kill_agent()
    bench.agent.start()


def _in_outbox(path: Path, key: str) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT 1 FROM outbox WHERE key = ?", (key,)).fetchone() is not None
    except sqlite3.Error:
        return False


def _send_without_reading(agent_url: str, path: str, body: dict) -> socket.socket:
    """A POS whose close request goes out and whose answer is never read (the agent dies first)."""
    where = urlsplit(agent_url)
    raw = json.dumps(body).encode()
    sock = socket.create_connection((where.hostname, where.port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {where.hostname}:{where.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n".encode()
        + raw
    )
    return sock


def test_a_retried_close_after_a_kill_gets_the_first_answer_and_open_checkouts_survive(bench: Bench) -> None:
    sold, unsold = make_receipt(0), make_receipt(1)
    with httpx.Client(base_url=bench.agent.url + POS, timeout=10) as pos:
        cid = pos.post("/checkouts", json={}).raise_for_status().json()["checkout_id"]
        pos.post(f"/checkouts/{cid}/contact", json={"contact": "8 916 123-45-67"}).raise_for_status()
        first = pos.post(f"/checkouts/{cid}/close", json=close_body(sold)).raise_for_status().json()
        assert first["queued"] is True
        # A second checkout is open, with the buyer's phone typed, when the agent dies.
        other = pos.post("/checkouts", json={}).raise_for_status().json()["checkout_id"]
        pos.post(f"/checkouts/{other}/contact", json={"contact": "+7 903 000-11-22"}).raise_for_status()
    _restart(bench)
    with httpx.Client(base_url=bench.agent.url + POS, timeout=10) as pos:
        again = pos.post(f"/checkouts/{cid}/close", json=close_body(sold))
        assert again.status_code == 200, again.text
        # The answer of a repeated close (the contract: `queued` false, "already in the outbox").
        assert again.json() == {**first, "queued": False}
        view = pos.get(f"/checkouts/{other}").raise_for_status().json()
        assert view["state"] == "contact_given"
        assert view["contact_masked"] is not None
        closed = pos.post(f"/checkouts/{other}/close", json=close_body(unsold)).raise_for_status().json()
        assert closed["queued"] is True
        assert closed["contact_masked"] == view["contact_masked"]
        assert pos.post("/checkouts", json={"checkout_id": cid}).status_code == 409, "ids stay used"
    assert _cloud_holds_once(bench, {str(sold.key), str(unsold.key)})
    # The file that holds the buyers' phones, as the running agent left it: owner-only.
    data = bench.outbox_path.parent
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


def test_the_agent_killed_between_the_commit_and_the_answer_then_the_retried_close(bench: Bench) -> None:
    receipt = make_receipt(7)
    key = str(receipt.key)
    with httpx.Client(base_url=bench.agent.url + POS, timeout=10) as pos:
        cid = pos.post("/checkouts", json={}).raise_for_status().json()["checkout_id"]
        pos.post(f"/checkouts/{cid}/contact", json={"contact": "9161234567"}).raise_for_status()
    sock = _send_without_reading(bench.agent.url, f"{POS}/checkouts/{cid}/close", close_body(receipt))
    try:
        deadline = time.monotonic() + WAIT_S
        while not _in_outbox(bench.outbox_path, key):  # committed: kill before the POS reads anything
            assert time.monotonic() < deadline, "the close was never committed"
            time.sleep(0.005)
        bench.kill_agent()
    finally:
        sock.close()
    bench.agent.start()
    with httpx.Client(base_url=bench.agent.url + POS, timeout=10) as pos:
        retried = pos.post(f"/checkouts/{cid}/close", json=close_body(receipt))
        assert retried.status_code == 200, retried.text
        body = retried.json()
        assert (body["checkout_id"], body["receipt_key"]) == (cid, key)
        assert body["fns_qr"].startswith("t=")
        assert body["contact_masked"] is not None, "the contact given before the kill is on the receipt"
        assert pos.post(f"/checkouts/{cid}/close", json=close_body(receipt)).json() == body
    with Outbox(bench.outbox_path) as box:
        [entry] = [e for e in box.recent(10) if e.key == key]
        assert entry.payload["contact"] == {"kind": "phone", "value": "79161234567"}
    assert _cloud_holds_once(bench, {key})


def _cloud_holds_once(bench: Bench, keys: set[str]) -> bool:
    bench.wait_drained()
    stored = bench.cloud_keys()
    assert len(stored) == len(set(stored)), "a receipt is in the cloud twice"
    assert set(stored) == keys
    return True
