"""The cloud's HTTP serving: sequential keep-alive requests through one and through several workers.

A load balancer or an agent keeps its connection open; every request after the first must not wait for
Nagle + delayed ACK (~40 ms on Linux). `echeck-cloud serve --workers 2` should stay near `--workers 1`.
"""

import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from benchmarks import Figure
from benchmarks.bench_sync import _pg_database
from cloud.accounts import tenants
from cloud.accounts.models import Register
from cloud.bootstrap import bootstrap
from cloud.db import make_engine, migrate
from cloud.db.engine import BACKGROUND_CONNECTIONS
from cloud.fleet import enrollment
from cloud.ingest.models import ReceiptRow
from cloud.ingest.service import ingest_batch
from cloud.privacy.keys import load_identity_keys
from cloud.settings import DEFAULT_DB_POOL
from demo import processes as p
from sync.protocol import ReceiptBatch


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
        pool += bench_ingest_vs_copy(pg, 2000 if quick else 10_000) if pg else []
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


def wire(fd: int) -> dict[str, Any]:
    """A valid receipt as registers send it, with a phone (so hashing is part of the cost)."""
    total = 5200 + fd % 1000
    return {
        "fiscal": {
            "fn_serial": "9251440300227597",
            "fd_number": fd,
            "fpd": 600000000 + fd,
            "registration_number": "0001633468026797",
            "shift_number": 363,
            "receipt_number": fd % 1000,
            "issued_at": "2026-11-23T14:27:00",
            "calculation_type": 1,
        },
        "items": [{"name": "Молоко 3,2 %", "price": total, "quantity": "1", "total": total, "vat": "vat10"}],
        "payments": [{"kind": "card", "amount": total}],
        "total": total,
        "contact": {"kind": "phone", "value": f"7916{fd % 10_000_000:07d}"},
        "loyalty_card": None,
        "extra": {},
    }


def bench_ingest_vs_copy(admin_url: str, receipts: int, batch: int = 1000) -> list[Figure]:
    """In process on PostgreSQL: `ingest_batch` (validation, hashing, idempotent insert) against a raw COPY
    of the same rows into the same table, both per receipt."""
    url, admin, database = _pg_database(admin_url)
    engine = make_engine(url)
    runtime = bootstrap(engine, "http://bench.invalid")  # the app's bus: one "receipt stored" job a batch
    try:
        migrate(url)
        with Session(engine) as s:
            tenant, _key = tenants.create_tenant(s, "Bench")
            assert tenant.id is not None
            store = tenants.create_store(s, tenant.id, "Bench store")
            assert store.id is not None
            code = enrollment.issue_enrollment_code(s, store.id, timedelta(hours=1)).code
            enrolled = enrollment.enroll(s, code)
            register = s.get(Register, enrolled.register_id)
            assert register is not None
            keys = load_identity_keys(url)
            batches = [
                ReceiptBatch(receipts=[wire(fd) for fd in range(i, i + batch)])
                for i in range(1, receipts + 1, batch)
            ]
            columns = [c.name for c in ReceiptRow.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
            ingest_s = copy_s = 0.0
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                # Batch by batch, each batch ingested and then the same rows COPYed in its place: both
                # sides measured in the same seconds, so other people's load moves the ratio less.
                for b in batches:
                    started = time.perf_counter()
                    result = ingest_batch(s, register, store.id, b, keys, runtime.bus)
                    ingest_s += time.perf_counter() - started
                    assert not result.rejected
                    assert all(a.status == "stored" for a in result.accepted)
                    fds = [r["fiscal"]["fd_number"] for r in b.receipts]
                    stored = ReceiptRow.fd_number.in_(fds)  # type: ignore[attr-defined]
                    rows = s.exec(sa.select(ReceiptRow).where(stored)).scalars().all()  # type: ignore[call-overload]
                    copied = [
                        [json.dumps(getattr(r, c)) if c == "payload" else getattr(r, c) for c in columns]
                        for r in rows
                    ]
                    s.execute(sa.delete(ReceiptRow).where(stored))
                    s.commit()
                    started = time.perf_counter()
                    with cursor.copy(f"COPY receipt ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in copied:
                            copy.write_row(row)
                    raw.commit()
                    copy_s += time.perf_counter() - started
            finally:
                raw.close()
    finally:
        runtime.close()
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    per_ingest, per_copy = ingest_s / receipts * 1e6, copy_s / receipts * 1e6
    return [
        Figure("ingest", f"ingest_batch per receipt, PostgreSQL, batches of {batch}", per_ingest, "µs"),
        Figure("ingest", "raw COPY of the same rows, per receipt", per_copy, "µs"),
        Figure(
            "ingest",
            "ingest speed as a share of COPY's",
            per_copy / per_ingest,
            "×",
            "≥ 0.3×",
            per_copy / per_ingest >= 0.3,
        ),
    ]
