"""The e-receipt page on PostgreSQL through the real server (`--workers 2`, as `echeck-cloud serve` runs
it): pages/s with every fetch stored as a `receipt_fetch` event before its page is answered (through the
collector's group-commit writer), beside a bare endpoint on the same server returning the same bytes; p95
and page weight (page + stylesheet + script).

The receipts are stored as a register's batches are, and their pages kept ahead by the job the "receipt
stored" event queues (cloud.pages.kept_ahead), timed. Then three loads, each taking turns with a bare
endpoint: the first fetch of half of the receipts (kept ahead); the first fetch of the other half, whose
kept pages were dropped first, as a publish or a deploy makes them stale (each page rendered in the
request, and kept); and the first half again beside an ordinary FastAPI route serving the same bytes.

Issue 13's targets: ≥ 500 pages/s on 2 cores and ≥ 0.5× the bare endpoint's rate.
"""

import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col

from benchmarks import Figure
from benchmarks.bench_sync import _pg_database
from benchmarks.support.http_load import Load, run_alternating, run_load
from benchmarks.support.page_server import BARE_FILE_ENV, BARE_PATH, ORDINARY_PATH
from cloud.accounts import tenants
from cloud.accounts.models import Register
from cloud.bootstrap import bootstrap
from cloud.db import make_engine, migrate
from cloud.db.types import utcnow
from cloud.delivery import service as delivery
from cloud.delivery.models import DeliveryRow
from cloud.fleet import enrollment
from cloud.ingest.models import ReceiptRow
from cloud.ingest.service import ingest_batch
from cloud.jobs import JobRegistry, Worker, WorkerOptions
from cloud.pages import kept_ahead
from cloud.pages.models import PageKept
from cloud.privacy.keys import load_identity_keys
from cloud.settings import JOB_WORKER_ENV
from demo import processes as p
from sync.protocol import ReceiptBatch

CONNECTIONS = 16
WORKERS = 2  # as `echeck-cloud serve --workers 2` on the 2 cores the target names


def _receipt(fd: int) -> dict[str, object]:
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
        "items": [
            {"name": "Молоко 3,2 %", "price": total, "quantity": "1", "total": total, "vat": "vat10"},
            {"name": "Хлеб бородинский", "price": 6500, "quantity": "2", "total": 13000, "vat": "vat10"},
            {"name": "Кофе зерновой 1 кг", "price": 149900, "quantity": "1", "total": 149900, "vat": "vat20"},
        ],
        "payments": [{"kind": "card", "amount": total + 13000 + 149900}],
        "total": total + 13000 + 149900,
        "contact": {"kind": "phone", "value": f"7916{fd % 10_000_000:07d}"},
        "loyalty_card": None,
        "extra": {"cashier": "Иванова А."},
    }


def _prepare(url: str, receipts: int) -> list[str]:
    """A tenant with its legal details, a store, `receipts` receipts with their deliveries: the links, in
    the receipts' order. Their pages are not kept yet (`_keep_ahead`)."""
    migrate(url)
    engine = make_engine(url)
    runtime = bootstrap(engine, "http://bench.invalid")
    try:
        with Session(engine) as s:
            tenant, _key = tenants.create_tenant(s, "Bench")
            assert tenant.id is not None
            tenants.set_tenant_details(
                s, tenant.id, legal_name='ООО "Бенч"', inn="7707083893", taxation="osn"
            )
            store = tenants.create_store(s, tenant.id, "Bench store")
            assert store.id is not None
            tenants.set_store_details(
                s, store.id, address="г. Москва, ул. Тверская, 7", time_zone="Europe/Moscow"
            )
            code = enrollment.issue_enrollment_code(s, store.id, timedelta(hours=1)).code
            register = s.get(Register, enrollment.enroll(s, code).register_id)
            assert register is not None
            keys = load_identity_keys(url)
            for first in range(1, receipts + 1, 1000):  # a batch holds at most 1000
                fds = range(first, min(first + 1000, receipts + 1))
                batch = ReceiptBatch(receipts=[_receipt(fd) for fd in fds])
                ingest_batch(s, register, store.id, batch, keys, runtime.bus)
            ids = list(s.execute(sa.select(ReceiptRow.id)).scalars())  # type: ignore[call-overload]
            delivery.create_deliveries(s, ids, utcnow())
            s.commit()
            by_receipt = sa.select(col(DeliveryRow.link_token)).order_by(col(DeliveryRow.receipt_id))
            tokens = s.execute(by_receipt).scalars()
            return [f"/r/{t}" for t in tokens]
    finally:
        runtime.close()
        engine.dispose()


def _keep_ahead(url: str) -> tuple[int, float, float]:
    """The "receipt stored" events' keep-ahead jobs, run as a job worker runs them (one process, only
    those jobs): pages kept, wall seconds, CPU seconds."""
    engine = make_engine(url)
    registry = JobRegistry()
    keys = load_identity_keys(url)
    registry.register(kept_ahead.KEEP_AHEAD, kept_ahead.KeepAhead(engine, keys, utcnow))
    worker = Worker(engine, registry, WorkerOptions(name="bench-keep-ahead"))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        while worker.run_once():
            pass
        took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
        with engine.connect() as conn:
            pages = int(conn.execute(sa.select(sa.func.count()).select_from(PageKept)).scalar_one())
        return pages, took, took_cpu
    finally:
        worker.close()
        engine.dispose()


def _drop_kept(url: str, links: list[str]) -> None:
    """As a publish makes them stale: these links' pages are rendered at their next fetch."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            tokens = [link.rsplit("/", 1)[1] for link in links]
            receipts = sa.select(col(DeliveryRow.receipt_id)).where(col(DeliveryRow.link_token).in_(tokens))
            conn.execute(sa.delete(PageKept).where(col(PageKept.receipt_id).in_(receipts)))
    finally:
        engine.dispose()


def _server(url: str, tmp: Path, bare: Path) -> p.Service:
    port = p.free_port()
    code = (
        "from cloud.serving import serve; "
        f"serve('benchmarks.support.page_server:app', factory=True, host='127.0.0.1', port={port}, "
        f"workers={WORKERS}, log_level='warning', proxy_headers=True)"
    )
    env = {
        **os.environ,
        "ECHECK_DATABASE_URL": url,
        JOB_WORKER_ENV: "0",
        BARE_FILE_ENV: str(bare),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    return p.Service(
        "cloud-pages", [sys.executable, "-c", code], f"http://127.0.0.1:{port}", tmp / "cloud.log", env
    )


def _fetches(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT count(*) FROM tracking_event WHERE type = 'receipt_fetch'")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def bench_pages(admin_url: str, seconds: float, receipts: int) -> list[Figure]:
    url, admin, database = _pg_database(admin_url)
    try:
        links = _prepare(url, receipts)
        kept_pages, ahead_s, ahead_cpu = _keep_ahead(url)
        half = len(links) // 2
        ahead, rendered = links[1:half], links[half:-50]  # the first link's page is the bare's bytes
        _drop_kept(url, rendered)
        with tempfile.TemporaryDirectory(prefix="echeck-bench-pages-") as tmp:
            bare = Path(tmp) / "page.html"
            bare.write_bytes(b"")
            server = _server(url, Path(tmp), bare)
            # The bare endpoint serves the bytes of a real page: fetch one through a first server, then
            # restart with them (the bare route reads its file once, at start).
            server.start()
            try:
                page = httpx.get(server.url + links[0], headers={"User-Agent": "Mozilla/5.0"}, timeout=30)
                page.raise_for_status()
                css = httpx.get(server.url + "/static/receipt.css", timeout=30).content
                js = httpx.get(server.url + "/static/receipt.js", timeout=30).content
            finally:
                server.stop()
            bare.write_bytes(page.content)
            server = _server(url, Path(tmp), bare)
            server.start()
            try:
                run_load(server.url, links[-50:], CONNECTIONS, 1.0)  # warm-up: imports, pools, caches
                before = _fetches(url)
                # The page and the bare endpoint take turns (5 of each), so both are measured in the same
                # seconds of a shared machine's load.
                first, first_bare = run_alternating(server.url, ahead, [BARE_PATH], CONNECTIONS, seconds)
                made, made_bare = run_alternating(server.url, rendered, [BARE_PATH], CONNECTIONS, seconds)
                again, ordinary = run_alternating(server.url, ahead, [ORDINARY_PATH], CONNECTIONS, seconds)
                recorded = _fetches(url) - before  # a page is answered after its fetch is committed
            finally:
                server.stop()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    served = first.requests + made.requests + again.requests
    weight = len(page.content) + len(css) + len(js)
    return [
        Figure(
            "pages",
            f"pages kept ahead by the job worker (one process), of {len(links)} receipts stored",
            kept_pages / ahead_s,
            "/s",
            f"{kept_pages} pages; CPU {1000 * ahead_cpu / max(kept_pages, 1):.1f} ms a page",
        ),
        *_load_figures("a receipt's first fetch, its page kept ahead", first, first_bare, len(ahead)),
        *_load_figures(
            "a first fetch whose page is rendered in the request (and kept)", made, made_bare, len(rendered)
        ),
        Figure(
            "pages",
            "pages kept ahead fetched again, beside an ordinary FastAPI route's bare bytes",
            again.per_second,
            "/s",
            f"route {ordinary.per_second:,.0f}/s: page ÷ route {again.per_second / ordinary.per_second:.2f}×",
        ),
        Figure(
            "pages",
            "fetch events recorded / pages served (measured load)",
            recorded,
            "",
            f"{served} served",
            first.errors == made.errors == again.errors == 0 and recorded == served,
        ),
        Figure(
            "pages",
            "page weight: HTML + CSS + JS (uncompressed)",
            weight / 1000,
            "KB",
            "≤ 100 KB",
            weight <= 100_000,
        ),
        Figure("pages", "of which the view/click script", len(js), "B"),
    ]


def _load_figures(name: str, load: Load, bare: Load, links: int) -> list[Figure]:
    """A load's rate against the targets, its bare endpoint's, their ratio, and the latencies."""
    ratio = load.per_second / bare.per_second
    repeated = max(load.requests - links, 0)
    note = f" ({repeated} fetches were not first)" if repeated else ""
    return [
        Figure(
            "pages",
            f"e-receipt pages/s, PostgreSQL, --workers 2, {CONNECTIONS} connections, fetch recorded: {name}",
            load.per_second,
            "/s",
            "≥ 500" + note,
            load.per_second >= 500,
        ),
        Figure("pages", "  bare endpoint, same bytes, routed as the page", bare.per_second, "/s"),
        Figure("pages", "  page rate / bare rate", ratio, "×", "≥ 0.5", ratio >= 0.5),
        Figure(
            "pages",
            "  page p50 / p95 (bare's)",
            load.p50_ms,
            "ms",
            f"p95 {load.p95_ms:.1f} ms (bare {bare.p50_ms:.1f} / {bare.p95_ms:.1f})",
        ),
    ]


def bench_pdf(renders: int) -> list[Figure]:
    """The e-receipt's PDF (`/r/{token}/receipt.pdf`) rendered in-process as the route's thread does, from the
    receipt's view (the lookup is the page's): a process's first PDF, then the median of `renders` more."""
    from cloud.accounts.models import Store, Tenant
    from cloud.pages import receipt_pdf
    from cloud.pages.receipt_view import receipt_view
    from sync.protocol import receipt_from_wire

    tenant = Tenant(id=1, name="Ромашка", legal_name='ООО "Ромашка"', inn="7707083893", taxation="usn_income")
    store = Store(
        id=1, tenant_id=1, name="Т7", address="г. Москва, ул. Тверская, 7", time_zone="Europe/Moscow"
    )
    figures = []
    for n in (3, 40):
        doc = _receipt(1)
        if n > 3:
            prices = [10000 + i for i in range(n)]
            doc["items"] = [
                {"name": f"Товар {i}, 0,5 л", "price": p, "quantity": "1", "total": p, "vat": "vat20"}
                for i, p in enumerate(prices)
            ]
            doc["total"] = sum(prices)
            doc["payments"] = [{"kind": "card", "amount": sum(prices)}]
        view = receipt_view(receipt_from_wire(doc), tenant, store)
        times, cpu = [], []
        for _ in range(1 + renders):
            started, started_cpu = time.perf_counter(), time.thread_time()
            body = receipt_pdf.receipt_pdf(view)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
        first, warm, warm_cpu = times[0], sorted(times[1:])[renders // 2], sorted(cpu[1:])[renders // 2]
        # CPU time beside wall time: on a shared machine the wall time is mostly other processes' load.
        note = f"CPU {warm_cpu:.0f} ms; first {first:.0f} ms; {len(body) // 1024} KB"
        figures.append(Figure("pages", f"PDF of a {n}-item receipt, median", warm, "ms", note))
    return figures


def run(quick: bool) -> list[Figure]:
    pdf = bench_pdf(3 if quick else 7)
    pg = os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")
    if not pg:
        return [*pdf, Figure("pages", "skipped: set ECHECK_BENCH_DATABASE_URL to a PostgreSQL server", 0, "")]
    started = time.monotonic()
    figures = pdf + bench_pages(pg, 3.0 if quick else 10.0, 2000 if quick else 8000)
    figures.append(Figure("pages", "bench wall time", time.monotonic() - started, "s"))
    return figures
