"""Attribution of a chain's day on PostgreSQL: the daily job's `attribute_day` (time, and the peak memory of
the process that runs it) over a day of receipts with their buyers' identity and a month of site events.
Needs ECHECK_BENCH_DATABASE_URL or ECHECK_TEST_DATABASE_URL (skipped without).

The target is a month of a chain: 1 M receipts and 10 M events. The job works a day at a time (~33 000
receipts) and reads only the day's buyers' events of the lookback, so a month is 30 such days; the events
table's size matters through its indexes (browser id, time), not through a scan. Loaded by COPY: a day of
receipts (75 % with a phone), each identified buyer with 1-3 site browsers in identity's tables, and
`events` page views over the 30 days before (half of them on the buyers' browsers, half on browsers nobody
identified), sessions of 1-4 views, a third from utm-tagged campaigns. The month run whole (not
extrapolated) is `benchmarks/bench_month.py` (opt-in).
"""

import io
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from benchmarks import Figure
from benchmarks.bench_sync import _pg_database
from cloud.accounts import tenants
from cloud.accounts.models import Register
from cloud.db import make_engine, migrate

DAY = date(2026, 11, 20)
CAMPAIGNS = [("yandex", "cpc", f"search-{i}") for i in range(8)] + [
    ("vk", "cpc", "vk-promo"),
    ("newsletter", "email", "weekly"),
    ("viber", "messenger", "dec"),
]


def _load(url: str, stores: int, receipts: int, events: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    engine = make_engine(url)
    from sqlmodel import Session

    with Session(engine) as s:
        tenant, _ = tenants.create_tenant(s, "Bench chain")
        assert tenant.id is not None
        t = tenant.id
        store_ids, register_ids = [], []
        for i in range(stores):
            store = tenants.create_store(s, t, f"Store {i}", region=f"R{i % 10}")
            assert store.id is not None
            reg = Register(tenant_id=t, store_id=store.id, enrolled_at=datetime.now(UTC))
            s.add(reg)
            s.flush()
            assert reg.id is not None
            store_ids.append(store.id)
            register_ids.append(reg.id)
        s.commit()
    ts = datetime(2026, 10, 1, tzinfo=UTC).isoformat()
    rec, node, member, profile, seen, ev = (io.StringIO() for _ in range(6))
    node_id = 0
    buyer_browsers: list[str] = []
    start = datetime.combine(DAY, datetime.min.time())
    for i in range(receipts):
        k = rng.randrange(stores)
        issued = start + timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600))
        contact = rng.random() < 0.75
        h = f"{i:064x}"
        rec.write(
            f"{t}\t{store_ids[k]}\t{register_ids[k]}\t9999078900{k:06d}\t{i + 1}\t{600_000_000 + i}\t"
            f"{issued.isoformat()}\t{rng.randrange(200, 20000) * 100}\t1\t"
            + (f"phone\t{h}" if contact else "\\N\t\\N")
            + f"\t\\N\t\\N\t\\N\t{{}}\t{h}\t{ts}\n"
        )
        if contact:
            node_id += 1
            pid = node_id
            node.write(f"{pid}\tphone\t{h}\t{ts}\t{ts}\n")
            member.write(f"{pid}\t{pid}\n")
            profile.write(f"{pid}\n")
            seen.write(f"{pid}\t{t}\t{ts}\t{ts}\n")
            for _ in range(rng.choice((1, 1, 2, 3))):
                node_id += 1
                b = uuid.UUID(int=rng.getrandbits(128)).hex
                buyer_browsers.append(b)
                node.write(f"{node_id}\tbrowser\tt{t}:{b}\t{ts}\t{ts}\n")
                member.write(f"{node_id}\t{pid}\n")
                seen.write(f"{node_id}\t{t}\t{ts}\t{ts}\n")
    day_end = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    written = 0
    while written < events:
        linked = rng.random() < 0.5
        b = rng.choice(buyer_browsers) if linked else uuid.UUID(int=rng.getrandbits(128)).hex
        at = day_end - timedelta(seconds=rng.randrange(30 * 86400))
        session = uuid.UUID(int=rng.getrandbits(128)).hex[:16]
        utm = rng.choice(CAMPAIGNS) if rng.random() < 0.33 else None
        for v in range(rng.randint(1, 4)):
            src, med, camp = utm if (utm and v == 0) else ("\\N", "\\N", "\\N")
            ev.write(
                f"{uuid.UUID(int=rng.getrandbits(128))}\t{(at + timedelta(seconds=40 * v)).isoformat()}\t"
                f"{t}\t"
                f"pageview\t{b}\t{session}\thttps://shop.example/p{v}\t{src}\t{med}\t{camp}\n"
            )
            written += 1
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for sql, buf in (
            (
                "COPY receipt (tenant_id, store_id, register_id, fn_serial, fd_number, fpd, issued_at, "
                "total, calculation_type, contact_kind, contact_hash, contact_value, loyalty_card, landing, "
                "payload, content_hash, received_at) FROM STDIN",
                rec,
            ),
            ("COPY identity_node (id, kind, value, first_seen_at, last_seen_at) FROM STDIN", node),
            ("COPY identity_profile (id) FROM STDIN", profile),
            ("COPY identity_member (node_id, profile_id) FROM STDIN", member),
            ("COPY identity_seen (node_id, tenant_id, first_at, last_at) FROM STDIN", seen),
            (
                "COPY tracking_event (event_id, received_at, tenant_id, type, browser_id, session_id, url, "
                "utm_source, utm_medium, utm_campaign) FROM STDIN",
                ev,
            ),
        ):
            buf.seek(0)
            with cur.copy(sql) as copy:
                while chunk := buf.read(1 << 20):
                    copy.write(chunk)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return t


def _child(url: str, tenant_id: int) -> None:
    """Run in a fresh process: attribute the day, print the figures as JSON."""
    from sqlmodel import Session

    from cloud.attribution.service import attribute_day

    engine = make_engine(url)
    started = time.perf_counter()
    with Session(engine) as s, s.begin():
        result = attribute_day(s, tenant_id, DAY)
    elapsed = time.perf_counter() - started
    touches = result.touches
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "purchases": result.purchases,
                "identified": result.identified,
                "touched": result.touched,
                "touches": touches,
            }
        )
    )


def _attribute(url: str, tenant_id: int) -> tuple[dict[str, float], float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_attribution", "--child", url, str(tenant_id)],
        check=True,
        capture_output=True,
        text=True,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(out.stdout.strip().splitlines()[-1]), max(peak, before) / 1024


def run(quick: bool) -> list[Figure]:
    admin_url = os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")
    if not admin_url:
        return [Figure("attribution", "skipped: no PostgreSQL (ECHECK_BENCH_DATABASE_URL)", 0, "", "")]
    sizes = [(50, 3_000, 100_000)] if quick else [(500, 33_000, 100_000), (500, 33_000, 1_000_000)]
    if chosen := os.environ.get("ECHECK_BENCH_ATTRIBUTION"):  # "stores,receipts,events"
        a, b, c = (int(x) for x in chosen.split(","))
        sizes = [(a, b, c)]
    figures = []
    for stores, receipts, events in sizes:
        url, admin, database = _pg_database(admin_url)
        try:
            migrate(url)
            started = time.monotonic()
            tenant_id = _load(url, stores, receipts, events)
            load_s = time.monotonic() - started
            got, peak_mb = _attribute(url, tenant_id)
            label = f"{receipts:,} receipts, {events:,} events"
            detail = (
                f"{got['identified']:,} identified, {got['touched']:,} with touches, "
                f"{got['touches']:,} touches"
            )
            month = got["seconds"] * 30
            figures += [
                Figure("attribution", f"setup: COPY of {label} (not a target)", load_s, "s", ""),
                Figure("attribution", f"a day attributed: {label}", got["seconds"], "s", detail),
                Figure("attribution", f"peak memory of that process: {label}", peak_mb, "MB", ""),
                Figure(
                    "attribution",
                    f"a month = 30 such days (extrapolated): {label}",
                    month / 60,
                    "min",
                    "1 M receipts a month",
                ),
            ]
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        if os.environ.get("ECHECK_BENCH_PROFILE"):
            import cProfile

            cProfile.run("_child(sys.argv[2], int(sys.argv[3]))", os.environ["ECHECK_BENCH_PROFILE"])
        else:
            _child(sys.argv[2], int(sys.argv[3]))
    else:
        for f in run("--quick" in sys.argv):
            print(f"{f.name}: {f.value:,.2f} {f.unit} {f.target}")
