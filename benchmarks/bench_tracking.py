"""The retailer-site tracker: collector events/s through the real server on PostgreSQL beside a raw COPY of
the same rows, the collector's answer time, and the tracker script's gzipped size.

The server is `echeck-cloud serve --workers 2` (uvicorn); clients keep their connections alive and post
batches like the browser's (20 events: page views with utm and click ids, every fifth an identify with two
hashed contacts), each batch from another visitor address (X-Forwarded-For), as a site's traffic comes.
"""

import gzip
import hashlib
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from sqlmodel import Session

from benchmarks import Figure
from benchmarks.bench_sync import _pg_database
from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.privacy.keys import IdentityKeys
from cloud.tracking import collector, sites
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.router import tracker_script
from cloud.tracking.store import _row
from demo import processes as p

ORIGIN = "https://shop.example"
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537"
)
BATCH = 20
CLIENTS = 8
WARMUP_BATCHES = CLIENTS * 2  # stored too: the count checked after the run includes them


def wire_event(index: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "pageview",
        "bid": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "at": datetime.now(UTC).isoformat(),
        "url": f"https://shop.example/catalog/item-{index}?utm_source=yandex&utm_medium=cpc&yclid={index}",
        "ref": "https://yandex.ru/",
        "utm": {"source": "yandex", "medium": "cpc", "campaign": "spring"},
        "yclid": str(7_000_000 + index),
    }
    if index % 5 == 0:
        doc["type"] = "identify"
        doc["ids"] = {
            "phone": hashlib.sha256(f"7916{index:07d}".encode()).hexdigest(),
            "email": hashlib.sha256(f"buyer{index}@mail.ru".encode()).hexdigest(),
        }
    return doc


def batch_body(start: int) -> bytes:
    return orjson.dumps({"v": 1, "events": [wire_event(start + i) for i in range(BATCH)]})


def script_size() -> Figure:
    size = len(gzip.compress(tracker_script("s_" + "x" * 16).encode(), 9)) / 1024
    return Figure("tracking", "tracker script, gzipped", size, "KB", "≤ 5 KB", size <= 5)


def run(quick: bool) -> list[Figure]:
    figures = [script_size()]
    pg = os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")
    if pg:
        figures += bench_collector(pg, 4_000 if quick else 40_000)
    return figures


def bench_collector(admin_url: str, events: int) -> list[Figure]:
    url, admin, database = _pg_database(admin_url)
    try:
        migrate(url)
        engine = make_engine(url)
        with Session(engine) as session:
            tenant, _ = tenants.create_tenant(session, "Bench shop")
            assert tenant.id is not None
            tenant_id = tenant.id
            key = sites.add_origin(session, tenant_id, ORIGIN).site_key
        with tempfile.TemporaryDirectory(prefix="echeck-bench-tracking-") as tmp:
            cloud = p.cloud_service(url, p.free_port(), Path(tmp) / "cloud.log")
            cloud.args[1:1] = ["--log-level", "warning"]
            cloud.args += ["--workers", "2", "--no-worker"]
            cloud.start()
            try:
                rate, p50, p95 = post_batches(cloud.url, key, events)
            finally:
                cloud.stop()
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM tracking_event")).scalar_one()
        copy_rate = copy_rows(engine, tenant_id, events)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    return [
        Figure(
            "tracking",
            f"collector events/s, PostgreSQL, --workers 2, {CLIENTS} keep-alive clients, batches of {BATCH}",
            rate,
            "/s",
            "≥ 5 000 /s",
            rate >= 5000 and stored == events + WARMUP_BATCHES * BATCH,
        ),
        Figure("tracking", "raw COPY of the same rows", copy_rate, "/s"),
        Figure(
            "tracking",
            "collector speed as a share of COPY's",
            rate / copy_rate,
            "×",
            "≥ 0.2×",
            rate / copy_rate >= 0.2,
        ),
        Figure("tracking", f"collector answer p50, batch of {BATCH}", p50, "ms"),
        Figure("tracking", f"collector answer p95, batch of {BATCH}", p95, "ms"),
    ]


def post_batches(base: str, key: str, events: int) -> tuple[float, float, float]:
    bodies = [batch_body(i) for i in range(0, events, BATCH)]
    where = urlsplit(base)
    host, port, path = where.hostname or "127.0.0.1", where.port, f"/t/{key}/collect"
    warmup = [batch_body(10_000_000 + i * BATCH) for i in range(WARMUP_BATCHES)]
    lock = threading.Lock()
    samples: list[float] = []
    address = iter(range(10_000_000))

    def headers() -> dict[str, str]:
        with lock:
            n = next(address)
        forwarded = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        return {
            "Origin": ORIGIN,
            "User-Agent": UA,
            "Content-Type": "text/plain",
            "X-Forwarded-For": forwarded,
        }

    def client(chunk: list[bytes], timed: bool) -> None:
        # http.client, not httpx: the load generator shares the 2 cores with the server it measures, and
        # httpx spent as much CPU per batch as the collector itself (~1.2 ms); http.client a fifth of that.
        http = HTTPConnection(host, port, timeout=60)
        try:
            for body in chunk:
                started = time.perf_counter()
                http.request("POST", path, body=body, headers=headers())
                answer = http.getresponse()
                text = answer.read()
                if answer.status != 204:
                    raise RuntimeError(f"collector answered {answer.status}: {text[:200]!r}")
                if timed:
                    with lock:
                        samples.append((time.perf_counter() - started) * 1000)
        finally:
            http.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda c: client(c, False), [warmup[i::CLIENTS] for i in range(CLIENTS)]))
        started = time.perf_counter()
        list(pool.map(lambda c: client(c, True), [bodies[i::CLIENTS] for i in range(CLIENTS)]))
        elapsed = time.perf_counter() - started
    return events / elapsed, statistics.median(samples), statistics.quantiles(samples, n=20)[-1]


def copy_rows(engine: sa.Engine, tenant_id: int, events: int) -> float:
    """The same kind of rows (re-keyed identifiers, utm, JSON), written by COPY in one transaction."""
    keys = IdentityKeys("v1", {"v1": random.randbytes(32)})
    wire = [collector.WireEvent.model_validate(wire_event(i)) for i in range(events)]
    now = datetime.now(UTC)
    stored = collector.to_events(
        wire, tenant_id=tenant_id, keys=keys, click_ids=ClickIds([b"k" * 32]), received_at=now
    )
    rows = [_row(e) for e in stored]
    columns = list(rows[0])
    json_columns = {"identifiers", "properties"}
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        with cursor.copy(f"COPY tracking_event ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        orjson.dumps(row[c]).decode() if c in json_columns and row[c] is not None else row[c]
                        for c in columns
                    ]
                )
        raw.commit()
        elapsed = time.perf_counter() - started
    finally:
        raw.close()
    return events / elapsed
