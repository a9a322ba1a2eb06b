"""Fault injection with real processes on loopback: the agent SIGKILLed while closing and while syncing,
the cloud killed and restarted, a misbehaving network (drops, resets, delays, truncation, a cloud that
hangs or answers 500/503/429 with Retry-After), and PostgreSQL connections cut under load.

After each: every receipt the agent confirmed is in the cloud exactly once. Each test prints how many
faults it injected. `ECHECK_FAULT_KILLS` raises the number of agent kills (CI runs a few; the documented
long run `python -m tests.faults.long_run` injects thousands).
"""

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.faults.harness import Bench, Till, start_bench, verdict
from tests.faults.proxy import FaultProxy, random_faults
from tests.support.databases import postgres_admin_url

pytestmark = pytest.mark.e2e
KILLS = int(os.environ.get("ECHECK_FAULT_KILLS", "8"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cloud.db'}"


@pytest.fixture
def bench(tmp_path: Path, sqlite_url: str) -> Iterator[Bench]:
    running = start_bench(tmp_path, sqlite_url)
    yield running
    running.stop()


def test_agent_sigkilled_while_closing_and_while_syncing(bench: Bench) -> None:
    rng = random.Random(20261124)
    till = Till(bench.agent.url)
    kinds = {"closing": 0, "syncing": 0}
    for _ in range(KILLS):
        stop = threading.Event()
        kind = rng.choice(list(kinds))
        if kind == "closing":
            thread = till.run(stop)
            time.sleep(rng.uniform(0.05, 0.8))
            bench.kill_agent()
        else:
            bench.proxy.paused = True  # the uplink is dead: a backlog builds up ...
            thread = till.run(stop)
            time.sleep(rng.uniform(0.2, 0.6))
            stop.set()
            thread.join(10)
            bench.proxy.paused = False  # ... and drains, until the kill lands somewhere in it
            time.sleep(rng.uniform(0.0, 0.4))
            bench.kill_agent()
        stop.set()
        thread.join(10)
        kinds[kind] += 1
        bench.agent.start()
    stored, lost_answers = verdict(bench, till)
    print(
        f"\nfaults injected: {KILLS} SIGKILLs of the agent ({kinds['closing']} while closing, "
        f"{kinds['syncing']} while syncing); {stored} receipts stored once each, "
        f"{len(till.confirmed)} confirmed, {lost_answers} stored whose close answer the kill swallowed"
    )


def test_cloud_killed_and_restarted_under_load(tmp_path: Path, database_url: str) -> None:
    bench = start_bench(tmp_path, database_url)
    try:
        rng = random.Random(7)
        till = Till(bench.agent.url)
        stop = threading.Event()
        thread = till.run(stop, rate=150)
        kills = 0
        for _ in range(3):
            time.sleep(rng.uniform(0.3, 1.0))
            bench.cloud.kill()
            kills += 1
            time.sleep(rng.uniform(0.2, 1.0))
            bench.cloud.start()
        time.sleep(0.5)
        stop.set()
        thread.join(10)
        stored, _ = verdict(bench, till)
        assert len(till.confirmed) > 100
        print(f"\nfaults injected: {kills} SIGKILLs of the cloud; {stored} receipts stored once each")
    finally:
        bench.stop()


def test_a_misbehaving_network_and_cloud(tmp_path: Path, sqlite_url: str) -> None:
    rng = random.Random(99)
    proxy = FaultProxy(0, chooser=random_faults(rng, rate=0.5), delay_s=0.2, hold_s=10.0)
    bench = start_bench(tmp_path, sqlite_url, proxy=proxy, timeout_s=1.0)
    try:
        till = Till(bench.agent.url)
        stop = threading.Event()
        thread = till.run(stop, rate=200)
        deadline = time.monotonic() + 30
        while proxy.total < 40 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        thread.join(10)
        proxy.chooser = lambda: "pass"
        stored, _ = verdict(bench, till)
        print(f"\nfaults injected: {proxy.total} {dict(proxy.injected)}; {stored} receipts stored once each")
        assert proxy.total >= 40
        assert set(proxy.injected) >= {"drop", "reset", "truncate", "http500", "http503", "http429"}
    finally:
        bench.stop()


@pytest.mark.postgres
def test_postgres_connections_cut_under_load(tmp_path: Path) -> None:
    """The cloud's PostgreSQL backends are terminated again and again while the agent syncs (the local
    server is shared with other tests, so it is not restarted: `pg_terminate_backend` does to the cloud
    what a database restart does, for the cloud's database only)."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("ECHECK_TEST_DATABASE_URL is not set")
    from tests.support.databases import fresh_database

    with fresh_database("postgres", tmp_path) as url:
        name = sa.make_url(url).database
        bench = start_bench(tmp_path, url)
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            till = Till(bench.agent.url)
            stop = threading.Event()
            thread = till.run(stop, rate=300)
            cut = rounds = 0
            until = time.monotonic() + 5
            while time.monotonic() < until:
                with admin.connect() as conn:
                    cut += conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": name},
                    ).scalar_one()
                rounds += 1
                time.sleep(0.25)
            stop.set()
            thread.join(10)
            stored, _ = verdict(bench, till)
            print(
                f"\nfaults injected: {cut} PostgreSQL backends terminated in {rounds} rounds; {stored} stored"
            )
            assert cut > 0
        finally:
            admin.dispose()
            bench.stop()
