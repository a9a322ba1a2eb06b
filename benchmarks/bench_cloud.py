"""The cloud's HTTP serving: sequential keep-alive requests through one and through several workers.

A load balancer or an agent keeps its connection open; every request after the first must not wait for
Nagle + delayed ACK (~40 ms on Linux). `echeck-cloud serve --workers 2` should stay near `--workers 1`.
"""

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa

from benchmarks import Figure
from benchmarks.bench_sync import _pg_database
from cloud.db.engine import BACKGROUND_CONNECTIONS
from cloud.settings import DEFAULT_DB_POOL
from demo import processes as p


def keepalive_ms(url: str, requests: int) -> tuple[float, float]:
    """(p50, p95) ms of sequential GET /healthz on one kept-alive connection, after a warm-up."""
    samples: list[float] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(20):
            client.get("/healthz")
        for _ in range(requests):
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[-1]


def bench_workers(tmp: Path, workers: int, requests: int) -> tuple[float, float]:
    database_url = f"sqlite:///{tmp}/cloud-{workers}.db"
    cloud = p.cloud_service(database_url, p.free_port(), tmp / f"cloud-{workers}.log")
    cloud.args[1:1] = ["--log-level", "warning"]
    cloud.args += ["--workers", str(workers), "--no-delivery-worker"]
    cloud.start()
    try:
        return keepalive_ms(cloud.url, requests)
    finally:
        cloud.stop()


def run(quick: bool) -> list[Figure]:
    requests = 50 if quick else 300
    with tempfile.TemporaryDirectory(prefix="echeck-bench-cloud-") as tmp:
        one = bench_workers(Path(tmp), 1, requests)
        two = bench_workers(Path(tmp), 2, requests)
        pg = os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")
        pool = bench_pool(Path(tmp), pg, 3 if quick else 8) if pg else []
    return [
        *pool,
        Figure("cloud", "keep-alive /healthz p50, --workers 1", one[0], "ms"),
        Figure(
            "cloud",
            "keep-alive /healthz p50, --workers 2",
            two[0],
            "ms",
            "≤ 2× workers 1 + 2 ms",
            two[0] <= 2 * one[0] + 2,
        ),
        Figure(
            "cloud",
            "keep-alive /healthz p95, --workers 2",
            two[1],
            "ms",
            "< 40 ms (no Nagle wait)",
            two[1] < 40,
        ),
    ]


def pg_sessions(admin: sa.Engine, database: str) -> int:
    with admin.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT sessions FROM pg_stat_database WHERE datname = :d"), {"d": database}
            ).scalar_one()
        )


def bench_pool(tmp: Path, admin_url: str, seconds: float) -> list[Figure]:
    """16 clients for `seconds` against `--workers 2` on PostgreSQL: sessions opened, requests/s."""
    url, admin, database = _pg_database(admin_url)
    cloud = p.cloud_service(url, p.free_port(), tmp / "cloud-pg.log")
    cloud.args[1:1] = ["--log-level", "warning"]
    cloud.args += ["--workers", "2", "--no-delivery-worker"]
    try:
        cloud.start()
        before, done = pg_sessions(admin, database), 0

        def client() -> int:
            count, until = 0, time.monotonic() + seconds
            with httpx.Client(base_url=cloud.url, timeout=30) as c:
                while time.monotonic() < until:
                    c.get("/healthz").raise_for_status()
                    count += 1
            return count

        with ThreadPoolExecutor(16) as pool:
            done = sum(pool.map(lambda _: client(), range(16)))
        opened = pg_sessions(admin, database) - before
    finally:
        cloud.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    return [
        Figure(
            "cloud",
            f"PostgreSQL sessions opened, 16 clients × {seconds:.0f} s",
            opened,
            "",
            "≤ 2 workers × (pool + 4)",
            opened <= 2 * (DEFAULT_DB_POOL + BACKGROUND_CONNECTIONS),
        ),
        Figure("cloud", "requests/s, 16 clients, --workers 2, PostgreSQL", done / seconds, "/s"),
    ]
