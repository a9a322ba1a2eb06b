"""Sync figures: durable enqueue latency and throughput, backlog drain into a local cloud (SQLite and,
when a PostgreSQL URL is given, PostgreSQL), close → cloud ack online, agent RSS idle and draining,
cloud ingest rate. Real processes on loopback: `echeck-cloud serve`, `echeck-agent run`.

PostgreSQL: ECHECK_BENCH_DATABASE_URL (or ECHECK_TEST_DATABASE_URL), a server where CREATE DATABASE works.
"""

import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from benchmarks import Figure
from benchmarks.support.receipts import close_body, make_receipt
from demo import processes as p
from receipts import Receipt
from sync.outbox import Outbox

BACKLOG = 100_000


def receipt(n: int) -> Receipt:
    """Two of three buyers give a phone."""
    return make_receipt(n, fpd=100_000_000 + n, with_contact=bool(n % 3), phone=f"7916{n % 10_000_000:07d}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_enqueue(tmp: Path, count: int) -> list[Figure]:
    samples: list[float] = []
    receipts = [receipt(n) for n in range(count)]
    with Outbox(tmp / "enqueue.sqlite3") as box:
        started = time.perf_counter()
        for r in receipts:
            t0 = time.perf_counter()
            box.enqueue(r)
            samples.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
    p99 = _pct(samples, 0.99)
    return [
        Figure("outbox", "durable enqueue p50", statistics.median(samples), "ms"),
        Figure("outbox", "durable enqueue p99", p99, "ms", "≤ 10 ms", p99 <= 10),
        Figure("outbox", "durable enqueue throughput (one thread)", count / elapsed, "/s"),
    ]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pg_database(admin_url: str) -> tuple[str, sa.Engine, str]:
    admin_url = p_normalize(admin_url)
    name = f"echeck_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), admin, name


def p_normalize(url: str) -> str:
    return (
        url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    )


def bench_drain(tmp: Path, database_url: str, label: str, backlog: int, online: int) -> list[Figure]:
    """Prefill the agent's outbox with `backlog` receipts, start the agent, time the drain."""
    _tenant, _key, store_id = p.prepare_cloud(database_url)
    cloud_port, agent_port = p.free_port(), p.free_port()
    cloud = p.cloud_service(database_url, cloud_port, tmp / f"cloud-{label}.log")
    cloud.args[1:1] = ["--log-level", "warning"]
    cloud.args += ["--workers", "2", "--no-worker"]
    cloud.start()
    data_dir = tmp / f"agent-{label}"
    config = p.write_agent_config(tmp / f"agent-{label}.toml", agent_port, data_dir)
    if os.environ.get("ECHECK_BENCH_BATCH"):  # to compare batch sizes; the default is the agent's own
        with config.open("a", encoding="utf-8") as f:
            f.write(f"\n[sync]\nbatch_size = {int(os.environ['ECHECK_BENCH_BATCH'])}\n")
    p.enroll_agent(config, cloud.url, p.enrollment_code(database_url, store_id))
    with Outbox(data_dir / "outbox.sqlite3") as box:
        for start in range(0, backlog, 10_000):
            box.enqueue_many(receipt(n) for n in range(start, min(backlog, start + 10_000)))
    agent = p.agent_service(config, agent_port, tmp / f"agent-{label}.log")
    figures: list[Figure] = []
    try:
        agent.start()  # the drain is timed from the moment the agent answers (its start is not sync)
        started = time.monotonic()
        assert agent.proc is not None
        pid = agent.proc.pid
        peak = 0.0
        # Watched in the outbox file itself (WAL: a reader never blocks the agent), not over the agent's
        # status API: that computes close → ack percentiles over 10 000 rows per call, and polling it 10
        # times a second took CPU from the drain being measured.
        with sqlite3.connect(f"file:{data_dir / 'outbox.sqlite3'}?mode=ro", uri=True) as watch:
            while watch.execute("SELECT 1 FROM outbox WHERE state = 'pending' LIMIT 1").fetchone():
                peak = max(peak, _rss_mb(pid))
                if time.monotonic() - started > 600:
                    raise RuntimeError(f"drain did not finish: {p.agent_status(agent.url)['outbox']}")
                time.sleep(0.1)
        drained = time.monotonic() - started
        outbox = p.agent_status(agent.url)["outbox"]
        if outbox["pending"] or outbox["rejected"]:
            raise RuntimeError(f"drain ended with receipts not acked: {outbox}")
        target = "≤ 60 s" if label == "PostgreSQL" else ""
        figures.append(
            Figure(
                "sync",
                f"{backlog:,} backlog drained into {label}",
                drained,
                "s",
                target,
                drained <= 60 * backlog / BACKLOG if target else None,
            )
        )
        figures.append(Figure("cloud", f"ingest rate, one agent, {label}", backlog / drained, "/s"))
        if label == "SQLite":
            figures.append(Figure("agent", "RSS while draining (peak)", peak, "MB", "≤ 80 MB", peak <= 80))
            time.sleep(3)
            idle = _rss_mb(pid)
            figures.append(Figure("agent", "RSS at idle", idle, "MB", "≤ 80 MB", idle <= 80))
            figures += close_to_ack(agent.url, data_dir, online)
    finally:
        agent.stop()
        cloud.stop()
    return figures


def close_to_ack(agent_url: str, data_dir: Path, count: int, rate: float = 20.0) -> list[Figure]:
    """The POS closes `count` receipts at `rate`/s; seconds from the durable close to the cloud's ack."""

    with httpx.Client(base_url=agent_url, timeout=10) as pos:
        for n in range(count):
            cid = pos.post("/pos/v1/checkouts", json={}).raise_for_status().json()["checkout_id"]
            pos.post(
                f"/pos/v1/checkouts/{cid}/close", json=close_body(receipt(10_000_000 + n))
            ).raise_for_status()
            time.sleep(1 / rate)
        deadline = time.monotonic() + 30
        while p.agent_status(agent_url)["outbox"]["pending"] and time.monotonic() < deadline:
            time.sleep(0.1)
    with Outbox(data_dir / "outbox.sqlite3") as box:
        latencies = box.ack_latencies(limit=count)
    p95 = _pct(latencies, 0.95)
    return [
        Figure("sync", "close → cloud ack p50 (online, 20/s)", statistics.median(latencies), "s"),
        Figure("sync", "close → cloud ack p95 (online, 20/s)", p95, "s", "≤ 1 s", p95 <= 1.0),
    ]


def run(quick: bool) -> list[Figure]:
    backlog = 10_000 if quick else BACKLOG
    online = 60 if quick else 300
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="echeck-bench-sync-") as name:
        tmp = Path(name)
        figures += bench_enqueue(tmp, 300 if quick else 3000)
        figures += bench_drain(tmp, f"sqlite:///{tmp / 'cloud.db'}", "SQLite", backlog, online)
        pg = os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")
        if pg:
            url, admin, db = _pg_database(pg)
            try:
                figures += bench_drain(tmp, url, "PostgreSQL", backlog, online)
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                admin.dispose()
    return figures
