"""Real processes on loopback for fault tests: a cloud (`echeck-cloud serve`), an agent (`echeck-agent run`)
that talks to it through a `FaultProxy`, and a POS that closes receipts on the agent's checkout API.

The verdict is always the same: every receipt whose close the agent confirmed is in the cloud, none is
there twice, nothing is there that was never closed, and the register's outbox ends with nothing pending.
"""

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from demo import processes as p
from sync.outbox import Outbox
from tests.faults.proxy import FaultProxy
from tests.support.receipts import close_body, make_receipt

POS = "/pos/v1"


@dataclass
class Till:
    """Closes receipts n, n+1, … on the agent; a receipt counts as confirmed only after a 200 close."""

    agent_url: str
    next_n: int = 0
    confirmed: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)  # the close was sent, the answer never came

    def close_one(self, client: httpx.Client) -> bool:
        receipt = make_receipt(self.next_n)
        key = str(receipt.key)
        try:
            cid = client.post(f"{POS}/checkouts", json={}).raise_for_status().json()["checkout_id"]
        except httpx.HTTPError:
            return False  # nothing was closed: the same receipt is tried again
        try:
            answer = client.post(f"{POS}/checkouts/{cid}/close", json=close_body(receipt))
        except httpx.HTTPError:
            self.uncertain.add(key)
            self.next_n += 1
            return False
        self.next_n += 1
        if answer.status_code == 200 and answer.json()["queued"]:
            self.confirmed.add(key)
            return True
        self.uncertain.add(key)
        return False

    def run(self, stop: threading.Event, rate: float | None = None) -> threading.Thread:
        def loop() -> None:
            with httpx.Client(base_url=self.agent_url, timeout=5) as client:
                while not stop.is_set():
                    if not self.close_one(client):
                        time.sleep(0.05)  # the agent is gone: a POS retries a little later
                    elif rate:
                        time.sleep(1 / rate)

        thread = threading.Thread(target=loop, name="till", daemon=True)
        thread.start()
        return thread


@dataclass
class Bench:
    tmp: Path
    database_url: str
    store_id: int
    api_key: str
    cloud: p.Service
    proxy: FaultProxy
    agent: p.Service
    agent_port: int

    @property
    def outbox_path(self) -> Path:
        return self.tmp / "agent" / "outbox.sqlite3"

    def kill_agent(self) -> None:
        assert self.agent.proc is not None
        os.kill(self.agent.proc.pid, signal.SIGKILL)
        self.agent.proc.wait(10)

    def cloud_keys(self) -> list[str]:
        keys: list[str] = []
        after = 0
        with httpx.Client(headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30) as client:
            while True:
                page = client.get(
                    f"{self.cloud.url}/v1/stores/{self.store_id}/receipts",
                    params={"after_id": after, "limit": 1000},
                )
                body = page.raise_for_status().json()
                keys += [r["key"] for r in body["receipts"]]
                if body["next_after_id"] is None:
                    return keys
                after = body["next_after_id"]

    def wait_drained(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            try:
                status = p.agent_status(self.agent.url)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if status["outbox"]["pending"] == 0:
                return status
            time.sleep(0.2)
        raise AssertionError(f"the outbox did not drain: {status.get('outbox')}")

    def stop(self) -> None:
        self.agent.stop()
        self.proxy.stop()
        self.cloud.stop()


def start_bench(
    tmp: Path,
    database_url: str,
    proxy: FaultProxy | None = None,
    timeout_s: float = 2.0,
    backoff_cap_s: float = 1.0,
) -> Bench:
    _tenant, api_key, store_id = p.prepare_cloud(database_url)
    cloud_port, agent_port = p.free_port(), p.free_port()
    cloud = p.cloud_service(database_url, cloud_port, tmp / "cloud.log").start()
    try:
        proxy = proxy or FaultProxy(cloud_port)
        proxy.upstream_port = cloud_port
        proxy.start()
        config = p.write_agent_config(tmp / "agent.toml", agent_port, tmp / "agent")
        with config.open("a", encoding="utf-8") as f:
            # Short waits so that a test sees many faults and recoveries in seconds, not minutes.
            f.write(f"\n[sync]\ntimeout_s = {timeout_s}\nbackoff_base_s = 0.05\n")
            f.write(f"backoff_cap_s = {backoff_cap_s}\nheartbeat_s = 1.0\n")
        # Enrolled directly; then every later request goes through the proxy (`cloud_url` overrides).
        p.enroll_agent(config, cloud.url, p.enrollment_code(database_url, store_id))
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[agent]\n", f'[agent]\ncloud_url = "{proxy.url}"\n', 1), encoding="utf-8"
        )
        agent = p.agent_service(config, agent_port, tmp / "agent.log").start()
    except BaseException:
        cloud.stop()  # never leave a cloud process behind when the bench cannot start
        raise
    return Bench(tmp, database_url, store_id, api_key, cloud, proxy, agent, agent_port)


def verdict(bench: Bench, till: Till) -> tuple[int, int]:
    """Assert exactly-once; returns (receipts in the cloud, closes whose answer was lost)."""
    status = bench.wait_drained()
    stored = bench.cloud_keys()
    assert len(stored) == len(set(stored)), "a receipt is in the cloud twice"
    missing = till.confirmed - set(stored)
    assert not missing, (
        f"{len(missing)} confirmed receipts never reached the cloud, e.g. {sorted(missing)[:3]}"
    )
    extra = set(stored) - till.confirmed - till.uncertain
    assert not extra, f"the cloud holds receipts that were never closed: {sorted(extra)[:3]}"
    assert status["outbox"]["rejected"] == 0, status["outbox"]["dead_letter"]
    with Outbox(bench.outbox_path) as outbox:
        queued = {e.key for e in outbox.pending(1_000_000)}
        assert not queued
        assert outbox.stats().acked == len(stored), "every row the register holds was acked, and only those"
    return len(stored), len(till.uncertain & set(stored))


def run_cmd(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)
