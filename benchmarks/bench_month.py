"""A chain's whole month on PostgreSQL, run rather than extrapolated (issue 15): ~1 M receipts (with their
deliveries, attempts, e-receipt page events and promo codes), the buyers in identity's tables and ~10 M
tracking events in all, loaded with COPY; then, as the operator would run them,

1. `echeck-cloud attribution run` over the month's 30 days (a subprocess: wall time and its peak RSS from
   `os.wait4`'s ru_maxrss, the kernel's own figure, no sampling);
2. `echeck-cloud reports rollup` (the dashboards' daily rollups of those days);
3. the dashboards' answers through the real server (`echeck-cloud serve`, the read API with the tenant's key):
   the month for the whole chain and for one region, p50/p95.

Opt-in: it takes a quarter of an hour or more on 2 cores. `ECHECK_BENCH_MONTH=1 python -m benchmarks --only
month`, or `python -m benchmarks.bench_month [--stores N] [--per-day N] [--events N] [--keep]` (smaller
sizes for a try; `--database NAME` re-uses a loaded database and skips the load). Needs
ECHECK_BENCH_DATABASE_URL or ECHECK_TEST_DATABASE_URL (a server that allows CREATE DATABASE).
"""

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from benchmarks import Figure
from benchmarks.bench_sync import p_normalize
from benchmarks.support.report_data import SOURCES, make_chain, seed_month, stores_named
from benchmarks.support.serving import free_port
from cloud.accounts import tenants
from cloud.db import make_engine, migrate

ZONE = ZoneInfo("Europe/Moscow")
DAYS = 30
STATE = "bench_month_state"  # a one-row table in the loaded database: tenant, key, sizes (for --database)
DASHBOARDS = ("fleet", "sending", "elements", "ropo")
REPS = 7


@dataclass
class Loaded:
    tenant_id: int
    key: str
    receipts: int
    events: int
    first_day: date
    last_day: date
    seconds: float


def _load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def month_days(today: date) -> tuple[date, date]:
    return today - timedelta(days=DAYS), today - timedelta(days=1)


def load(url: str, stores: int, registers: int, per_day: int, events: int, log: bool = True) -> Loaded:
    """The month ending at today's local midnight: receipts and what follows them (report_data's generator,
    COPY), the buyers' identity, then site page views until the events table holds `events` rows."""
    started = time.perf_counter()
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as s:
        tenant, key = tenants.create_tenant(s, "Month chain")
        assert tenant.id is not None
        tenant_id = tenant.id
    today = datetime.now(ZONE).date()
    first, last = month_days(today)
    end = datetime.combine(today, day_time(), ZONE).astimezone(UTC)
    chain = make_chain(engine, tenant_id, stores_named(stores), registers)
    seed_month(engine, chain, end=end, days=DAYS, receipts_per_register_day=per_day, seed=15, chunk=50_000)
    if log:
        print(
            f"  receipts: {chain.receipts:,}, their events {chain.events:,} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    buyers = max(50, len(chain.stores) * per_day * DAYS // 3)  # as seed_month draws them
    extra = max(0, events - chain.events)
    _identity_and_pageviews(engine, tenant_id, buyers, extra, end, seed=15)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {STATE} (tenant_id int, key text, receipts bigint, events bigint, "
                "first_day date, last_day date, seconds float)"
            )
        )
        total = int(conn.execute(sa.text("SELECT count(*) FROM tracking_event")).scalar_one())
        seconds = time.perf_counter() - started
        conn.execute(
            sa.text(f"INSERT INTO {STATE} VALUES (:t, :k, :r, :e, :f, :l, :s)"),
            {"t": tenant_id, "k": key, "r": chain.receipts, "e": total, "f": first, "l": last, "s": seconds},
        )
    engine.dispose()
    return Loaded(tenant_id, key, chain.receipts, total, first, last, seconds)


def loaded(url: str) -> Loaded:
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT * FROM {STATE}")).one()
    engine.dispose()
    return Loaded(row.tenant_id, row.key, row.receipts, row.events, row.first_day, row.last_day, row.seconds)


def _identity_and_pageviews(
    engine: sa.Engine, tenant_id: int, buyers: int, pageviews: int, end: datetime, seed: int
) -> None:
    """Every buyer of seed_month (its phone hash) as a profile with its e-receipt page browser
    (`ec:b<t>-<n>`), its site browser (the same id: seed_month's page views) and 0-2 more site browsers;
    then `pageviews` site page views over the month and the lookback before it: half on buyers' browsers,
    half on browsers nobody identified; sessions of 1-4 views, a third from a campaign."""
    rng = random.Random(seed)
    ts = (end - timedelta(days=90)).isoformat()
    site_browsers: list[str] = []
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        node_id = int(cur.execute("SELECT coalesce(max(id), 0) FROM identity_node").fetchone()[0])  # type: ignore[index]
        with (
            cur.copy("COPY identity_node (id, kind, value, first_seen_at, last_seen_at) FROM STDIN") as nodes,
        ):
            members, profiles, seen = [], [], []
            for n in range(buyers):
                node_id += 1
                profile = node_id
                phone = hashlib.sha256(f"{tenant_id}:{n}".encode()).hexdigest()
                nodes.write(f"{profile}\tphone\t{phone}\t{ts}\t{ts}\n")
                profiles.append(profile)
                ids = [f"ec:b{tenant_id}-{n}", f"t{tenant_id}:b{tenant_id}-{n}"]
                ids += [
                    f"t{tenant_id}:{uuid.UUID(int=rng.getrandbits(128)).hex}"
                    for _ in range(rng.choice((0, 0, 1, 2)))
                ]
                members.append((profile, profile))
                seen.append(profile)
                for value in ids:
                    node_id += 1
                    nodes.write(f"{node_id}\tbrowser\t{value}\t{ts}\t{ts}\n")
                    members.append((node_id, profile))
                    seen.append(node_id)
                    if value.startswith("t"):
                        site_browsers.append(value.split(":", 1)[1])
        with cur.copy("COPY identity_profile (id) FROM STDIN") as copy:
            copy.write("".join(f"{p}\n" for p in profiles))
        with cur.copy("COPY identity_member (node_id, profile_id) FROM STDIN") as copy:
            copy.write("".join(f"{a}\t{b}\n" for a, b in members))
        with cur.copy("COPY identity_seen (node_id, tenant_id, first_at, last_at) FROM STDIN") as copy:
            copy.write("".join(f"{x}\t{tenant_id}\t{ts}\t{ts}\n" for x in seen))
        raw.commit()
        span = (DAYS + 30) * 86400  # the month and attribution's 30-day lookback before it
        written = 0
        with cur.copy(
            "COPY tracking_event (event_id, received_at, tenant_id, type, browser_id, session_id, url, "
            "utm_source, utm_medium, utm_campaign) FROM STDIN"
        ) as copy:
            lines: list[str] = []
            while written < pageviews:
                b = (
                    rng.choice(site_browsers)
                    if rng.random() < 0.5
                    else uuid.UUID(int=rng.getrandbits(128)).hex
                )
                at = end - timedelta(seconds=rng.randrange(span))
                session = f"{rng.getrandbits(64):016x}"
                utm = SOURCES[rng.randrange(len(SOURCES))] if rng.random() < 0.33 else (None, None, None)
                for v in range(rng.randint(1, 4)):
                    src, med, camp = (x or "\\N" for x in utm) if v == 0 else ("\\N", "\\N", "\\N")
                    lines.append(
                        f"{uuid.UUID(int=rng.getrandbits(128))}\t"
                        f"{(at + timedelta(seconds=40 * v)).isoformat()}\t"
                        f"{tenant_id}\tpageview\t{b}\t{session}\thttps://shop.example/p{v}\t{src}\t{med}\t{camp}\n"
                    )
                    written += 1
                if len(lines) >= 20_000:
                    copy.write("".join(lines))
                    lines = []
            copy.write("".join(lines))
        raw.commit()
    finally:
        raw.close()


def _cloud(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "cloud.cli", "--database-url", url, *args]


def attribute_month(url: str, month: Loaded) -> dict[str, Any]:
    """Mark the month's days due and run the operator's command (what the 15-minute job runs) in a fresh
    process."""
    from cloud.attribution import service

    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        days = [month.first_day + timedelta(days=i) for i in range(DAYS)]
        service.mark_dirty(s, month.tenant_id, days, "benchmark")
    engine.dispose()
    load_before = _load_average()
    wall, cpu, rss, out = _run_alone(
        _cloud(url, "attribution", "run", "--tenant", str(month.tenant_id), "--json")
    )
    doc = json.loads(out.strip().splitlines()[-1])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "days": len(doc["days"]),
        "receipts": sum(d["receipts"] for d in doc["days"]),
        "identified": sum(d["identified"] for d in doc["days"]),
        "touched": sum(d["touched"] for d in doc["days"]),
        "slowest_day_s": max((d["seconds"] for d in doc["days"]), default=0.0),
        "load": f"{load_before} → {_load_average()}",
    }


def _run_alone(command: list[str]) -> tuple[float, float, float, str]:
    """One subprocess, reaped here by wait4 so that its own rusage (not every child's) is read."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command[3:6])} failed ({proc.returncode}): {err[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def rollup_month(url: str, month: Loaded) -> dict[str, Any]:
    load_before = _load_average()
    wall, cpu, rss, out = _run_alone(
        _cloud(url, "reports", "rollup", "--tenant", str(month.tenant_id), "--json")
    )
    doc = json.loads(out.strip().splitlines()[-1])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        **doc,
        "load": f"{load_before} → {_load_average()}",
    }


def dashboards(url: str, month: Loaded, reps: int = REPS) -> list[dict[str, Any]]:
    """Each dashboard's read API answer (`/v1/reports/{slug}`: the whole dashboard built for the key) through
    `echeck-cloud serve` on loopback, for the month: the chain, and one region (a third of the stores)."""
    port = free_port()
    env = {**os.environ, "ECHECK_CLOUD_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        _cloud(url, "--log-level", "warning", "serve", "--port", str(port), "--no-worker"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    out = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("echeck-cloud serve did not answer") from None
                time.sleep(0.5)
        period = f"since={month.first_day.isoformat()}&until={month.last_day.isoformat()}"
        for who, extra in (("chain", ""), ("one region", "&region=%D0%9A%D0%B0%D0%B7%D0%B0%D0%BD%D1%8C")):
            for slug in DASHBOARDS:
                times = []
                # ROPO sums the stored attribution in SQL (cloud/attribution/aggregates.py): measured like
                # the others (it took minutes an answer while it rebuilt every journey of the month)
                n, warm = reps, 1
                for _ in range(n + warm):  # the first answer warms the worker's caches: not counted
                    request = urllib.request.Request(
                        f"{base}/v1/reports/{slug}?{period}{extra}",
                        headers={"Authorization": f"Bearer {month.key}"},
                    )
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=1800) as answer:
                        answer.read()
                    times.append((time.perf_counter() - t0) * 1000)
                times = times[warm:]
                ordered = sorted(times)
                p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
                out.append(
                    {
                        "server_peak_rss_mb": _peak_rss_mb(server.pid),
                        "slug": slug,
                        "who": who,
                        "p50_ms": statistics.median(times),
                        "p95_ms": p95,
                        "n": n,
                        "load": _load_average(),
                    }
                )
                print(
                    f"  {slug:9} {who:10} p50 {out[-1]['p50_ms']:8.0f} ms  p95 {p95:8.0f} ms  "
                    f"load {out[-1]['load']}, server peak RSS {out[-1]['server_peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


def _peak_rss_mb(pid: int) -> float:
    """The server's high-water RSS so far (VmHWM) in MB, its own and its worker processes' largest."""
    peaks = []
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found]


def _database(admin_url: str, name: str | None) -> tuple[str, sa.Engine, str, bool]:
    admin_url = p_normalize(admin_url)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    fresh = name is None
    name = name or f"echeck_month_{uuid.uuid4().hex[:8]}"
    if fresh:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), admin, name, fresh


def measure(
    admin_url: str,
    *,
    stores: int = 500,
    registers: int = 2,
    per_day: int = 34,
    events: int = 10_000_000,
    database: str | None = None,
    keep: bool = False,
    phases: tuple[str, ...] = ("attribution", "rollup", "dashboards"),
    log: bool = True,
) -> tuple[list[Figure], dict[str, Any]]:
    url, admin, name, fresh = _database(admin_url, database)
    report: dict[str, Any] = {"database": name, "load_at_start": _load_average()}
    try:
        if fresh:
            if log:
                print(
                    f"loading {stores} stores × {registers} registers × {per_day}/day × {DAYS} days "
                    f"into {name} ...",
                    flush=True,
                )
            month = load(url, stores, registers, per_day, events, log)
        else:
            migrate(url)
            month = loaded(url)
        report["load"] = {"receipts": month.receipts, "events": month.events, "seconds": month.seconds}
        if log:
            print(
                f"  loaded: {month.receipts:,} receipts, {month.events:,} events in {month.seconds:.0f} s",
                flush=True,
            )
        figures = [
            Figure(
                "month",
                "setup: COPY of the month (not a target)",
                month.seconds,
                "s",
                f"{month.receipts:,} receipts, {month.events:,} events",
            ),
        ]
        if "attribution" in phases:
            got = attribute_month(url, month)
            report["attribution"] = got
            if log:
                print(f"  attribution: {json.dumps(got)}", flush=True)
            figures += [
                Figure(
                    "month",
                    f"attribution run, {got['days']} days / {got['receipts']:,} receipts",
                    got["wall_s"] / 60,
                    "min",
                    f"load {got['load']}",
                ),
                Figure("month", "attribution run: peak RSS", got["peak_rss_mb"], "MB", ""),
            ]
        if "rollup" in phases:
            got = rollup_month(url, month)
            report["rollup"] = got
            if log:
                print(f"  rollup: {json.dumps(got)}", flush=True)
            figures.append(
                Figure("month", "reports rollup of the month", got["wall_s"], "s", f"load {got['load']}")
            )
        if "dashboards" in phases:
            answers = dashboards(url, month)
            report["dashboards"] = answers
            for a in answers:
                figures.append(
                    Figure(
                        "month",
                        f"{a['slug']}, month, {a['who']}: p95 (HTTP)",
                        a["p95_ms"],
                        "ms",
                        f"load {a['load']}",
                    )
                )
        return figures, report
    finally:
        if fresh and not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _admin_url() -> str | None:
    return os.environ.get("ECHECK_BENCH_DATABASE_URL") or os.environ.get("ECHECK_TEST_DATABASE_URL")


def run(quick: bool) -> list[Figure]:
    admin_url = _admin_url()
    if not os.environ.get("ECHECK_BENCH_MONTH"):
        return [Figure("month", "skipped: opt-in, ECHECK_BENCH_MONTH=1 (minutes)", 0, "", "")]
    if not admin_url:
        return [Figure("month", "skipped: no PostgreSQL (ECHECK_BENCH_DATABASE_URL)", 0, "", "")]
    if quick:
        return measure(admin_url, stores=20, per_day=10, events=200_000, log=False)[0]
    return measure(admin_url)[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_month", description=__doc__.split("\n\n")[0])
    p.add_argument("--stores", type=int, default=500)
    p.add_argument("--registers", type=int, default=2, help="per store")
    p.add_argument("--per-day", type=int, default=34, help="receipts per register per day")
    p.add_argument("--events", type=int, default=10_000_000, help="tracking events in all")
    p.add_argument("--database", help="an already loaded database (kept); skips the load")
    p.add_argument("--keep", action="store_true", help="keep the database it loads")
    p.add_argument(
        "--phases", default="attribution,rollup,dashboards", help="comma-separated; 'load' alone loads"
    )
    p.add_argument("--report", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    admin_url = _admin_url()
    if not admin_url:
        print("set ECHECK_BENCH_DATABASE_URL (or ECHECK_TEST_DATABASE_URL)", file=sys.stderr)
        return 2
    phases = tuple(x for x in args.phases.split(",") if x and x != "load")
    figures, report = measure(
        admin_url,
        stores=args.stores,
        registers=args.registers,
        per_day=args.per_day,
        events=args.events,
        database=args.database,
        keep=args.keep or args.database is not None,
        phases=phases,
    )
    if args.report:
        args.report.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    for f in figures:
        print(f"{f.name}: {f.value:,.2f} {f.unit} {f.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
