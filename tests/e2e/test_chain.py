"""The whole chain as real processes on loopback: cloud, agent, POS simulator.

500 receipts → exactly 500 rows in the cloud, also when the cloud is stopped for part of the run and
started again; on SQLite and (when ECHECK_TEST_DATABASE_URL is set) on PostgreSQL.
"""

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from demo import processes as p

pytestmark = pytest.mark.e2e
RECEIPTS = 500


def wait_until_drained(agent_url: str, expected: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    status = p.agent_status(agent_url)
    while time.monotonic() < deadline:
        status = p.agent_status(agent_url)
        if status["outbox"]["acked"] + status["outbox"]["rejected"] >= expected:
            return status
        time.sleep(0.2)
    raise AssertionError(f"outbox did not drain: {status['outbox']}")


def cloud_keys(cloud_url: str, api_key: str, store_id: int) -> list[str]:
    keys: list[str] = []
    after = 0
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as client:
        while True:
            page = (
                client.get(
                    f"{cloud_url}/v1/stores/{store_id}/receipts", params={"after_id": after, "limit": 500}
                )
                .raise_for_status()
                .json()
            )
            if not page["receipts"]:
                return keys
            keys += [row["key"] for row in page["receipts"]]
            after = page["next_after_id"]
            if after is None:
                return keys


@pytest.mark.parametrize("outage", [False, True], ids=["online", "cloud-outage"])
def test_every_receipt_reaches_the_cloud_exactly_once(
    database_url: str, tmp_path: Path, outage: bool
) -> None:
    _tenant, api_key, store_id = p.prepare_cloud(database_url)
    cloud_port, agent_port = p.free_port(), p.free_port()
    cloud = p.cloud_service(database_url, cloud_port, tmp_path / "cloud.log").start()
    agent = None
    try:
        config = p.write_agent_config(tmp_path / "agent.toml", agent_port, tmp_path / "agent")
        p.enroll_agent(config, cloud.url, p.enrollment_code(database_url, store_id))
        agent = p.agent_service(config, agent_port, tmp_path / "agent.log").start()
        report_path = tmp_path / "report.json"
        sim = subprocess.Popen(
            p.pos_simulator(agent.url, RECEIPTS, rate=100, seed=7, report=report_path)[:-1],  # no --progress
            stdout=subprocess.DEVNULL,
        )
        outage_seconds = 0.0
        if outage:
            time.sleep(1.0)
            cloud.stop()  # the cloud goes away in the middle of the trading day ...
            down = time.monotonic()
            time.sleep(2.0)
            during = p.agent_status(agent.url)
            assert during["outbox"]["pending"] > 0, "receipts should pile up while the cloud is down"
            cloud.start()  # ... and comes back; the same port, the same database
            outage_seconds = time.monotonic() - down
        assert sim.wait(timeout=120) == 0
        report = json.loads(report_path.read_text())
        made = report["keys"]
        assert len(made) == report["made"] > 0.95 * RECEIPTS  # ~1% of checkouts are cancelled
        status = wait_until_drained(agent.url, len(made))
        stored = cloud_keys(cloud.url, api_key, store_id)
        assert status["outbox"]["rejected"] == 0
        assert status["outbox"]["acked"] == len(made)
        assert sorted(stored) == sorted(made), "every receipt made is in the cloud, none twice, none extra"
        print(f"{len(made)} receipts, cloud down for {outage_seconds:.1f} s, all stored exactly once")
    finally:
        if agent is not None:
            agent.stop()
        cloud.stop()
