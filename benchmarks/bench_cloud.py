"""The cloud's HTTP serving: sequential keep-alive requests through one and through several workers.

A load balancer or an agent keeps its connection open; every request after the first must not wait for
Nagle + delayed ACK (~40 ms on Linux). `echeck-cloud serve --workers 2` should stay near `--workers 1`.
"""

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import Figure
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
    return [
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
