"""Identity on PostgreSQL: a full rebuild of a graph of 1 M identifiers and 3 M edges (time and the peak
memory of the `echeck-cloud identity rebuild` process), and incremental linking per receipt (p50/p95) on
that same graph. Needs ECHECK_BENCH_DATABASE_URL or ECHECK_TEST_DATABASE_URL (skipped without).

The graph: people of 1-5 identifiers (phones, e-mails, browsers, cards), each pair observed several times
(a receipt a week, visits), so 3 M edges make ~1 M components the way real observations would, not one
giant random component. The mapping starts as one profile per node: the rebuild's worst case (every row
changes).
"""

import base64
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks import Figure
from benchmarks.bench_sync import _pg_database
from cloud.accounts import tenants
from cloud.db import make_engine, migrate
from cloud.identity.graph import NodeKey, NodeKind, Policy, Source
from cloud.identity.linking import Linker
from cloud.identity.store import Observation
from cloud.privacy.keys import IdentityKeys
from cloud.tracking.click_ids import ClickIds

KEY = IdentityKeys("v1", {"v1": b"bench-identity-key-0123456789abc"})
KINDS = ("phone", "email", "browser", "card")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _graph(nodes: int, edges: int, seed: int = 1) -> tuple[io.BytesIO, io.BytesIO, int]:
    """COPY text for identity_node and identity_edge: people of 1-5 nodes, star edges observed repeatedly."""
    rng = random.Random(seed)
    node_buf, edge_buf = io.StringIO(), io.StringIO()
    ts = T0.isoformat()
    people: list[tuple[int, int]] = []  # (first node id, size)
    n = 1
    while n <= nodes:
        size = min(rng.choice((1, 2, 2, 3, 3, 4, 5)), nodes - n + 1)
        people.append((n, size))
        for i in range(size):
            kind = KINDS[i % 4] if i else "phone"
            node_buf.write(f"{n + i}\t{kind}\t{kind[0]}{n + i:062x}\t{ts}\t{ts}\n")
        n += size
    pairs = [(first, first + i) for first, size in people for i in range(1, size)]
    written = 0
    ref = 0
    while written < edges:
        for a, b in pairs:
            if written >= edges:
                break
            ref += 1
            edge_buf.write(f"1\t{a}\t{b}\treceipt\t{ref}\t{ts}\tlinked\n")
            written += 1
    return io.BytesIO(node_buf.getvalue().encode()), io.BytesIO(edge_buf.getvalue().encode()), len(pairs)


def _load(url: str, nodes: int, edges: int) -> None:
    node_copy, edge_copy, _ = _graph(nodes, edges)
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("ALTER TABLE identity_edge SET UNLOGGED")  # the load is setup, not the measurement
        with cur.copy("COPY identity_node (id, kind, value, first_seen_at, last_seen_at) FROM STDIN") as copy:
            copy.write(node_copy.getvalue())
        with cur.copy(
            "COPY identity_edge (tenant_id, a_id, b_id, source, ref, at, decision) FROM STDIN"
        ) as copy:
            while chunk := edge_copy.read(1 << 20):
                copy.write(chunk)
        cur.execute("INSERT INTO identity_member (node_id, profile_id) SELECT id, id FROM identity_node")
        cur.execute("INSERT INTO identity_profile (id) SELECT id FROM identity_node")
        cur.execute("ALTER TABLE identity_edge SET LOGGED")
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('identity_node', 'id'), "
            "(SELECT max(id) FROM identity_node))"
        )
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def _rebuild_process(url: str) -> tuple[float, float, str]:
    """Run the real CLI; its wall time, its own peak RSS (MB) and what it printed."""
    env = {
        **os.environ,
        "ECHECK_DATABASE_URL": url,
        "ECHECK_IDENTITY_KEY": KEY.render(),
        "ECHECK_LOG_LEVEL": "warning",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "cloud.cli", "identity", "rebuild", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, out.stdout.strip().splitlines()[-1]


def _linking(url: str, receipts: int) -> tuple[float, float]:
    """One receipt (phone + loyalty card) linked per transaction, as the job does; ms p50, p95."""
    engine = make_engine(url)
    try:
        from sqlmodel import Session

        with Session(engine) as s:
            tenant, _ = tenants.create_tenant(s, "Bench")
            assert tenant.id is not None
            tenant_id = tenant.id
        linker = Linker(engine, KEY, ClickIds(KEY.keys.values()), Policy())
        rng = random.Random(5)
        took: list[float] = []
        for i in range(receipts):
            # half the buyers are known (a phone already in the graph), half are new
            phone = (
                f"p{rng.randrange(1, 1000):062x}"
                if i % 2
                else base64.b16encode(rng.randbytes(32)).decode().lower()
            )
            card = NodeKey(NodeKind.CARD, f"t{tenant_id}:{rng.randrange(10**12):064x}"[:80])
            obs = Observation(
                tenant_id,
                Source.RECEIPT,
                f"bench-{i}",
                T0 + timedelta(seconds=i),
                (NodeKey(NodeKind.PHONE, phone), card),
            )
            started = time.perf_counter()
            linker.link(obs)
            took.append((time.perf_counter() - started) * 1000)
    finally:
        engine.dispose()
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95) - 1]


def run(quick: bool) -> list[Figure]:
    admin_url = os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")
    if not admin_url:
        return []
    nodes, edges = (50_000, 150_000) if quick else (1_000_000, 3_000_000)
    url, admin, database = _pg_database(admin_url)
    try:
        migrate(url)
        started = time.perf_counter()
        _load(url, nodes, edges)
        load_s = time.perf_counter() - started
        wall, peak_mb, printed = _rebuild_process(url)
        p50, p95 = _linking(url, 100 if quick else 500)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    size = f"{nodes // 1000:,} k identifiers, {edges // 1000:,} k edges"
    return [
        Figure("identity", f"full rebuild ({size}), CLI wall time", wall, "s", "≤ 60 s", wall <= 60),
        Figure("identity", "full rebuild: peak memory of the process", peak_mb, "MB", "", None),
        Figure("identity", "incremental linking per receipt p50", p50, "ms"),
        Figure("identity", "incremental linking per receipt p95", p95, "ms", "", None),
        Figure("identity", "setup: COPY of the graph (not a target)", load_s, "s", printed[:80]),
    ]
