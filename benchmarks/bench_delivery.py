"""Delivery: the field simulator (DIY chain's channel mix → cost saving, delivery time), deliveries/s with
1 and 4 worker processes on PostgreSQL, and receipt stored → first channel accepted p95.

Everything real except the providers: the cloud over HTTP, the cascade engine and workers, SQLite or
PostgreSQL, and the fake providers (fakes/) speaking SMTP, FCM v1, the Viber gateway API and SMS.ru.
`python -m benchmarks.bench_delivery --buyers 2000` runs the simulator alone and prints its report.
"""

import argparse
import contextlib
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from benchmarks import Figure
from cloud.accounts import tenants
from cloud.app import create_app
from cloud.db import make_engine, migrate
from cloud.delivery import config as delivery_config
from cloud.delivery import service
from cloud.delivery.cascade import Channel
from cloud.delivery.models import AttemptRow, DeliveryRow, ReportRow
from cloud.delivery.reports import summary as report
from cloud.delivery.worker import DeliveryWorker, WorkerOptions
from cloud.fleet import enrollment
from fakes import fcm, smsru, smtp, viber
from fakes.behaviour import Behaviour, Mode
from tests.support.databases import fresh_database
from tests.support.live_server import free_port, live_server

DIY_MIX = {"email": 0.51, "push": 0.17, "viber": 0.09, "sms": 0.23}
PG_URL = os.environ.get("ECHECK_TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
FN = "9251440300227597"


@dataclass
class Env:
    db_url: str
    engine: Any
    http: httpx.Client
    base: str
    tenant_id: int
    store_id: int
    token: str
    behaviours: dict[str, Behaviour]
    servers: "Servers"


def _receipt(fd: int, contact: str) -> dict[str, Any]:
    total = 5200 + fd % 1000
    return {
        "fiscal": {
            "fn_serial": FN,
            "fd_number": fd,
            "fpd": 600000000 + fd,
            "registration_number": "0001633468026797",
            "shift_number": 1,
            "receipt_number": fd % 1000,
            "issued_at": "2026-11-23T14:27:00",
            "calculation_type": 1,
        },
        "items": [{"name": "Дрель", "price": total, "quantity": "1", "total": total, "vat": "vat20"}],
        "payments": [{"kind": "card", "amount": total}],
        "total": total,
        "contact": {"kind": "email" if "@" in contact else "phone", "value": contact},
        "loyalty_card": None,
        "extra": {},
    }


@dataclass(frozen=True)
class Servers:
    cloud: str
    smtp_port: int
    fakes: dict[str, str]  # behaviour name -> base URL of that fake (its /_fake control API is there)
    remote: bool  # the fakes run in another process: their behaviour is sent over HTTP


@contextlib.contextmanager
def _threads(db_url: str, b: dict[str, Behaviour]) -> Iterator[Servers]:
    """The cloud and the fakes on loopback, served by threads of this process."""
    controller = smtp.start_smtp(b["mail"])
    try:
        with (
            live_server(create_app(db_url)) as base,
            live_server(fcm.create_app(b["push"])) as fcm_url,
            live_server(viber.create_app(b["viber"])) as viber_url,
            live_server(smsru.create_app(b["sms"])) as sms_url,
        ):
            yield Servers(base, controller.port, {"push": fcm_url, "viber": viber_url, "sms": sms_url}, False)
    finally:
        controller.stop()


@contextlib.contextmanager
def _processes(db_url: str, delay_s: float) -> Iterator[Servers]:
    """The cloud (`echeck-cloud serve`, two uvicorn workers, no delivery worker inside) and the fakes
    (`echeck-fakes`) as processes of their own, as in production: this process only ingests and counts,
    so it is not what limits the workers (it was, when everything answered from here)."""
    bin_dir = Path(sys.executable).parent
    fakes = subprocess.Popen(
        [str(bin_dir / "echeck-fakes"), "--delay", str(delay_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    port = free_port()
    cloud = subprocess.Popen(
        [
            str(bin_dir / "echeck-cloud"),
            "--database-url",
            db_url,
            "--log-level",
            "warning",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-delivery-worker",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        line = fakes.stdout.readline() if fakes.stdout else ""
        if not line.startswith("{"):
            raise RuntimeError(f"echeck-fakes did not start (exit {fakes.poll()})")
        ports = json.loads(line)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if cloud.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"echeck-cloud serve did not start (exit {cloud.poll()})")
            time.sleep(0.1)
        local = "http://127.0.0.1"
        urls = {
            "mail": f"{local}:{ports['smtp_control']}",
            "push": f"{local}:{ports['fcm']}",
            "viber": f"{local}:{ports['viber']}",
            "sms": f"{local}:{ports['smsru']}",
        }
        yield Servers(base, ports["smtp"], urls, True)
    finally:
        for process in (cloud, fakes):
            process.terminate()
        for process in (cloud, fakes):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def send_behaviours(env: Env) -> None:
    """Fakes in another process: what this process decided about them (callbacks, who is not a Viber
    user), sent to their control API, as a provider's account settings would be."""
    if not env.servers.remote:
        return
    for name, b in env.behaviours.items():
        doc = {
            "callback_url": b.callback_url,
            "secret": b.secret,
            "recipients": b.recipients,
            "delay_s": b.delay_s,
        }
        httpx.post(f"{env.servers.fakes[name]}/_fake/behaviour", json=doc, timeout=10).raise_for_status()


@contextlib.contextmanager
def environment(db_url: str, delays: dict[str, float], processes: bool = False) -> Iterator[Env]:
    """Migrated database, the cloud on loopback, the four fakes, a tenant whose channels point at them."""
    migrate(db_url)
    engine = (
        make_engine(db_url, pool_size=20, max_overflow=20)
        if db_url.startswith("postgres")
        else make_engine(db_url)
    )
    b = {name: Behaviour(delay_s=delays.get(name, 0.05)) for name in ("mail", "push", "viber", "sms")}
    servers = _processes(db_url, max(delays.values(), default=0.05)) if processes else _threads(db_url, b)
    try:
        with servers as srv, httpx.Client(base_url=srv.cloud, timeout=60) as http, Session(engine) as s:
            base = srv.cloud
            tenant, key = tenants.create_tenant(s, "DIY chain")
            store = tenants.create_store(s, tenant.id, "Store 1")  # type: ignore[arg-type]
            code = enrollment.issue_enrollment_code(s, store.id, timedelta(hours=1)).code  # type: ignore[arg-type]
            token = http.post("/v1/enroll", json={"code": code, "hostname": "bench"}).json()["token"]
            tid = tenant.id
            assert tid is not None
            assert store.id is not None
            fast = {"rate_per_s": 100000, "timeout_s": 5}
            cb = f"{base}/v1/delivery/callbacks/{tid}"
            delivery_config.set_channel(
                s,
                tid,
                Channel.EMAIL,
                {
                    "host": "127.0.0.1",
                    "port": srv.smtp_port,
                    "sender": "DIY <r@diy.example>",
                    "webhook_secret": "mail-secret-1",
                    **fast,
                },
            )
            delivery_config.set_channel(
                s,
                tid,
                Channel.PUSH,
                {"base_url": srv.fakes["push"], "project_id": "diy", "access_token": "token", **fast},
            )
            delivery_config.set_channel(
                s, tid, Channel.VIBER, {"base_url": srv.fakes["viber"], "auth_token": "viber-token", **fast}
            )
            delivery_config.set_channel(
                s,
                tid,
                Channel.SMS,
                {
                    "base_url": srv.fakes["sms"],
                    "api_id": "sms-api-id",
                    "callback_secret": "sms-secret",
                    **fast,
                },
            )
            b["mail"].callback_url, b["mail"].secret = f"{cb}/email", "mail-secret-1"
            b["viber"].callback_url = f"{cb}/viber"
            b["sms"].callback_url = f"{cb}/sms?secret=sms-secret"
            b["push"].callback_url, b["push"].secret = f"{base}/v1/delivery/app/events", key
            yield Env(db_url, engine, http, base, tid, store.id, token, b, srv)
    finally:
        engine.dispose()


def population(env: Env, buyers: int, mix: dict[str, float], seed: int = 7) -> list[str]:
    """Buyers with the channels they can be reached on: e-mail; an app; Viber; only SMS."""
    rnd = random.Random(seed)
    kinds = quotas(buyers, mix)
    rnd.shuffle(kinds)
    contacts = []
    with Session(env.engine) as s:
        for i, kind in enumerate(kinds):
            if kind == "email":
                contacts.append(f"buyer{i}@example.com")
                continue
            phone = f"7916{2000000 + i:07d}"
            contacts.append("+" + phone)
            if kind == "push":
                service.register_device(s, env.tenant_id, phone, f"fcm-token-{i:08d}-abcdefghijkl")
            elif kind == "sms":
                env.behaviours["viber"].recipients[phone] = Mode.REJECT
    return contacts


def quotas(buyers: int, mix: dict[str, float]) -> list[str]:
    """Exactly the mix's shares (largest remainder), not a random draw: 2000 draws from the DIY mix gave
    24% SMS-only buyers instead of 23%, and the saving moved with that noise, not with the engine."""
    total = sum(mix.values())
    exact = {k: buyers * v / total for k, v in mix.items()}
    counts = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: buyers - sum(counts.values())]:
        counts[k] += 1
    return [k for k, n in counts.items() for _ in range(n)]


def ingest(env: Env, contacts: list[str], start_fd: int = 1, batch: int = 200) -> None:
    for i in range(0, len(contacts), batch):
        docs = [_receipt(start_fd + i + j, c) for j, c in enumerate(contacts[i : i + batch])]
        r = env.http.post(
            f"/v1/stores/{env.store_id}/receipts/batch",
            json={"receipts": docs},
            headers={"Authorization": f"Bearer {env.token}"},
        )
        r.raise_for_status()


def finished(env: Env) -> tuple[int, int]:
    with env.engine.connect() as c:
        d = DeliveryRow.__table__  # type: ignore[attr-defined]
        total = c.execute(sa.select(sa.func.count()).select_from(d)).scalar_one()
        done = c.execute(
            sa.select(sa.func.count()).where(d.c.status.in_(["delivered", "failed", "unreachable"]))
        ).scalar_one()
    return done, total


def wait_finished(env: Env, stall_s: float = 180.0) -> None:
    """Until every delivery has ended. Gives up only when none ended for `stall_s` (longer than any step
    the simulator's providers should need, the default Viber deadline of 120 s included), so a loaded
    machine slows the run down but does not fail it; then dumps what is stuck, to show why."""
    last, since = finished(env), time.monotonic()
    while time.monotonic() - since < stall_s:
        now = finished(env)
        if now[0] == now[1]:
            return
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.1)
    raise RuntimeError(f"deliveries stalled for {stall_s:.0f} s at {finished(env)}:\n" + stuck(env))


def stuck(env: Env, limit: int = 5) -> str:
    """The unfinished deliveries' rows, attempts with their histories, and their reports."""
    d = DeliveryRow.__table__  # type: ignore[attr-defined]
    a = AttemptRow.__table__  # type: ignore[attr-defined]
    r = ReportRow.__table__  # type: ignore[attr-defined]
    lines = []
    with env.engine.connect() as c:
        rows = c.execute(
            sa.select(d).where(d.c.finished_at.is_(None)).order_by(d.c.id).limit(limit)
        ).mappings()
        for row in rows:
            lines.append(f"delivery {dict(row)}")
            for att in c.execute(sa.select(a).where(a.c.delivery_id == row["id"])).mappings():
                lines.append(f"  attempt {dict(att)}")
                for rep in c.execute(sa.select(r).where(r.c.message_id == att["message_id"])).mappings():
                    lines.append(f"    report {dict(rep)}")
    lines += [
        f"{k}: {len(b.messages)} messages, {b.reports_sent} reports sent, {b.report_errors} report errors"
        for k, b in env.behaviours.items()
    ]
    return "\n".join(lines)


def wait_sent(env: Env, timeout: float) -> None:
    """Until every delivery had a channel accept it (or ended): the workers' share of the work."""
    d = DeliveryRow.__table__  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with env.engine.connect() as c:
            left = c.execute(
                sa.select(sa.func.count()).where(d.c.first_accepted_at.is_(None), d.c.finished_at.is_(None))
            ).scalar_one()
        if left == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"deliveries not sent in {timeout:.0f} s")


def latencies(env: Env) -> tuple[list[float], list[float]]:
    """(stored → first accepted, stored → finished) in seconds, per delivery."""
    d = DeliveryRow.__table__  # type: ignore[attr-defined]
    with env.engine.connect() as c:
        rows = c.execute(sa.select(d.c.created_at, d.c.first_accepted_at, d.c.finished_at)).all()

    def s(a: Any, b: Any) -> float:
        return (b - a).total_seconds()

    return ([s(r[0], r[1]) for r in rows if r[1]], [s(r[0], r[2]) for r in rows if r[2]])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def trickle(env: Env, contacts: list[str], rate: float) -> None:
    """Receipts arrive as the tills close them: `rate` per second, in batches every 0.2 s."""
    per = max(1, int(rate / 5))
    for i in range(0, len(contacts), per):
        ingest(env, contacts[i : i + per], start_fd=1 + i)
        time.sleep(per / rate)


def simulate(
    buyers: int, mix: dict[str, float] = DIY_MIX, db_url: str | None = None, rate: float = 25.0
) -> dict[str, Any]:
    """The field simulator: receipts arrive at `rate`/s; providers report after scaled-down delays (push
    0.3 s, Viber 0.5 s, SMS 2 s) through the fakes."""
    with contextlib.ExitStack() as stack:
        if db_url is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            db_url = f"sqlite:///{tmp / 'sim.db'}"
        env = stack.enter_context(environment(db_url, {"mail": 0.05, "push": 0.3, "viber": 0.5, "sms": 2.0}))
        contacts = population(env, buyers, mix)
        worker = DeliveryWorker(env.engine, WorkerOptions(public_url="https://diy.example", concurrency=32))
        worker.start()
        try:
            started = time.monotonic()
            trickle(env, contacts, rate)
            wait_finished(env)
            elapsed = time.monotonic() - started
        finally:
            worker.stop()
            worker.close()
        with Session(env.engine) as s:
            total = report(
                s, env.tenant_id, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
            )["total"]
        _, done = latencies(env)
        return {
            "buyers": buyers,
            "elapsed_s": elapsed,
            "total": total,
            "p50_s": pct(done, 50),
            "p95_s": pct(done, 95),
        }


def print_report(r: dict[str, Any]) -> None:
    t = r["total"]
    print(f"buyers {r['buyers']}, {t['delivered']} delivered, {t['by_status']}")
    print("channel mix: " + ", ".join(f"{k} {v:.1%}" for k, v in t["channel_share"].items()))
    print(
        f"cost {t['cost_kopecks'] / 100:.2f} RUB = {t['cost_per_receipt_kopecks'] / 100:.3f} RUB/receipt; "
        f"operator {t['operator_cost_kopecks'] / 100:.2f} RUB; saving {t['saving_share']:.1%}"
    )
    print(f"stored → delivered p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s")


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


def throughput(db_url: str, workers: int, receipts: int) -> float:
    """Deliveries per second (first channel accepted) by `workers` worker processes on a backlog."""
    bin_dir = Path(sys.executable).parent
    with environment(db_url, {"push": 0.05, "viber": 0.05, "sms": 0.05}, processes=True) as env:
        contacts = population(env, receipts, DIY_MIX, seed=11)
        send_behaviours(env)
        ingest(env, contacts)
        procs = [
            subprocess.Popen(
                [
                    str(bin_dir / "echeck-cloud"),
                    "--database-url",
                    db_url,
                    "--log-level",
                    "warning",
                    "delivery-worker",
                    "--concurrency",
                    "16",
                    "--poll",
                    "0.05",
                    "--name",
                    f"bench{i}",
                    "--public-url",
                    "https://diy.example",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(workers)
        ]
        try:
            started = time.monotonic()
            wait_sent(env, timeout=300)
            return receipts / (time.monotonic() - started)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(20)


def first_accepted_p95(db_url: str, receipts: int, rate: float) -> float:
    """Receipts arrive at `rate`/s in small batches, one in-process worker: stored → first accepted p95."""
    with environment(db_url, {}) as env:
        contacts = population(env, receipts, DIY_MIX, seed=13)
        worker = DeliveryWorker(env.engine, WorkerOptions(public_url="https://diy.example", poll_s=0.1))
        worker.start()
        try:
            trickle(env, contacts, rate)
            wait_sent(env, timeout=120)
        finally:
            worker.stop()
            worker.close()
        first, _ = latencies(env)
        return pct(first, 95)


def quiet() -> None:
    logging.getLogger("cloud").setLevel(logging.ERROR)  # expected refusals (not a Viber user) are no news
    logging.getLogger("fakes").setLevel(logging.ERROR)


def run(quick: bool) -> list[Figure]:
    quiet()
    figures: list[Figure] = []
    sim = simulate(300 if quick else 2000)
    t = sim["total"]
    figures += [
        Figure(
            "delivery",
            "simulator: saving vs operator's 2 RUB (DIY mix)",
            t["saving_share"] * 100,
            "%",
            "≥ 81%",
            t["saving_share"] >= 0.81,
        ),
        Figure("delivery", "simulator: cost per receipt", t["cost_per_receipt_kopecks"] / 100, "RUB"),
        Figure("delivery", "simulator: stored → delivered p50", sim["p50_s"], "s"),
        Figure(
            "delivery", "simulator: stored → delivered p95", sim["p95_s"], "s", "≤ 60 s", sim["p95_s"] <= 60
        ),
    ]
    for channel, share in t["channel_share"].items():
        figures.append(Figure("delivery", f"simulator: share delivered by {channel}", share * 100, "%"))
    if not _pg_available():
        return figures
    os.environ.setdefault("ECHECK_TEST_DATABASE_URL", PG_URL)  # fresh_database reads it
    n = 300 if quick else 2000
    for workers in (1, 4):
        with tempfile.TemporaryDirectory() as tmp, fresh_database("postgres", Path(tmp)) as url:
            figures.append(
                Figure(
                    "delivery",
                    f"deliveries/s, {workers} worker process(es), PostgreSQL",
                    throughput(url, workers, n),
                    "/s",
                )
            )
    with tempfile.TemporaryDirectory() as tmp, fresh_database("postgres", Path(tmp)) as url:
        p95 = first_accepted_p95(url, 100 if quick else 400, 20.0)
    figures.append(
        Figure("delivery", "stored → first channel accepted p95 (20 receipts/s)", p95, "s", "≤ 5 s", p95 <= 5)
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_delivery", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--buyers", type=int, default=2000)
    for name, share in DIY_MIX.items():
        p.add_argument(
            f"--{name}", type=float, default=share, help=f"share of buyers reachable by {name} first"
        )
    p.add_argument("--database-url", help="default: a temporary SQLite file")
    p.add_argument("--rate", type=float, default=25.0, help="receipts per second (default 25)")
    a = p.parse_args(argv)
    os.environ.setdefault("ECHECK_LOG_LEVEL", "warning")
    quiet()
    print_report(simulate(a.buyers, {k: getattr(a, k) for k in DIY_MIX}, a.database_url, a.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
