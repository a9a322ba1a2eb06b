"""Head office's dashboards on PostgreSQL: a month of a chain's receipts (with deliveries, attempts, page
events and promo codes) bulk-inserted with COPY, then each dashboard's answer (the service call that reads
the database and shapes every figure, table and chart) timed for the owner (whole chain) and for a
regional analyst (a third of the stores). The chain grows in steps in the same database, so the table shows
how the answer scales with the month's receipts.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.bench_reports [--quick]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from benchmarks import Figure
from benchmarks.support.databases import fresh_database
from benchmarks.support.report_data import make_chain, seed_month, stores_named
from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.reports.filters import parse
from cloud.reports.scope import Viewer, visible_stores
from cloud.reports.service import build

PG_URL = os.environ.get("ECHECK_TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
DASHBOARDS = ("fleet", "sending", "elements", "ropo")
REPS = 7
ROPO_UP_TO = 120_000  # receipts: past this the ROPO page's in-request computation is not timed


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:  # no server: the benchmark is skipped
        return False


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(url: str, steps: list[int], registers: int, per_day: int, log: bool = True) -> list[Figure]:
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as s:
        tenant, _key = tenants.create_tenant(s, "Bench chain")
        assert tenant.id is not None
        tenant_id = tenant.id
    end = datetime.now(UTC)
    since = (end - timedelta(days=29)).date().isoformat()
    month = parse({"since": since})
    figures: list[Figure] = []
    made = 0
    receipts = 0
    for n_stores in steps:
        names = stores_named(n_stores)[made:]
        started = time.perf_counter()
        chain = make_chain(engine, tenant_id, names, registers)
        seed_month(engine, chain, end=end, days=30, receipts_per_register_day=per_day, seed=n_stores)
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        made = n_stores
        receipts += chain.receipts
        seeded = time.perf_counter() - started
        if log:
            print(
                f"{n_stores} stores, {receipts:,} receipts: seeded {chain.receipts:,} in {seeded:.0f} s",
                flush=True,
            )
        figures.append(
            Figure(
                "reports",
                f"bulk insert, {chain.receipts:,} receipts + deliveries + events",
                chain.receipts / seeded,
                "receipts/s",
            )
        )
        with Session(engine) as s:
            region = {st.id for st in visible_stores(s, Viewer(tenant_id, None)) if st.region == "Казань"}
        for who, viewer in (
            ("owner", Viewer(tenant_id, None)),
            ("regional analyst", Viewer(tenant_id, frozenset(region))),
        ):
            for slug in DASHBOARDS:
                if slug == "ropo" and receipts > ROPO_UP_TO:
                    continue  # pure Python over every journey: a job's work at this size (docs/reports.md)
                times = []
                for _ in range(REPS if slug != "ropo" else 3):
                    with Session(engine) as s:
                        t0 = time.perf_counter()
                        build(s, viewer, slug, month)
                        times.append((time.perf_counter() - t0) * 1000)
                p95 = _p95(times)
                if log:
                    print(
                        f"  {slug:9} {who:17} p50 {statistics.median(times):8.0f} ms  p95 {p95:8.0f} ms",
                        flush=True,
                    )
                target = "≤ 2000 ms" if slug != "ropo" else ""
                figures.append(
                    Figure(
                        "reports",
                        f"{slug}, month, {n_stores} stores / {receipts:,} receipts, {who}: p95",
                        p95,
                        "ms",
                        target,
                        p95 <= 2000 if target else None,
                    )
                )
    engine.dispose()
    return figures


def run(quick: bool) -> list[Figure]:
    if not _pg_available():
        return []
    os.environ.setdefault("ECHECK_TEST_DATABASE_URL", PG_URL)  # fresh_database reads it
    steps, per_day = ([10], 10) if quick else ([30, 90, 270], 30)
    with tempfile.TemporaryDirectory() as tmp, fresh_database("postgres", Path(tmp)) as url:
        return measure(url, steps, registers=3, per_day=per_day, log=not quick)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_reports", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--stores", type=int, nargs="+", help="the chain's size at each step (cumulative)")
    p.add_argument("--per-day", type=int, default=30, help="receipts per register per day")
    args = p.parse_args(argv)
    if args.stores:
        os.environ.setdefault("ECHECK_TEST_DATABASE_URL", PG_URL)
        with tempfile.TemporaryDirectory() as tmp, fresh_database("postgres", Path(tmp)) as url:
            figures = measure(url, args.stores, registers=3, per_day=args.per_day)
    else:
        figures = run(args.quick)
    for f in figures:
        print(f"{f.name}: {f.value:,.0f} {f.unit} {f.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
