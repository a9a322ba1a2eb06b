"""Delivery workers: claim due deliveries from the database and move them along the cascade.

Any number of workers (threads or processes, on any hosts) may run against PostgreSQL: a claim is
`SELECT ... FOR UPDATE SKIP LOCKED` on due rows, and it writes a lease (`due_at` = now + lease) before the
transaction ends, so the provider call happens with no row locked. A worker killed mid-send leaves the
lease to run out; the next claim sees the step still SENDING and retries it, writing "outcome unknown" into
the attempt's history. Deadlines are rows (`due_at`), so they survive restarts. On SQLite (one writer at a
time) one worker runs inside `echeck-cloud serve`.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from cloud.db.types import utcnow
from cloud.delivery import config as delivery_config
from cloud.delivery import service, store
from cloud.delivery.cascade import (
    MAX_TRIES,
    Channel,
    Delivery,
    Send,
    Status,
    accepted,
    claim,
    deferred,
    send_failed,
)
from cloud.delivery.channels import Message, ProviderError, build_adapter
from cloud.delivery.limits import CircuitBreaker, RateLimiter
from cloud.delivery.message import compose, link
from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.logs import event

log = logging.getLogger("cloud.delivery.worker")
RATE_MAX_WAIT_S = 1.0  # longer than this behind a provider's rate limit: hand the step back and come back


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    public_url: str
    lease_s: float = 60.0  # > the slowest provider call (timeouts ≤ 60 s)
    batch: int = 50
    concurrency: int = 16  # provider calls in flight per worker
    poll_s: float = 0.2
    max_tries: int = MAX_TRIES


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    tenant_id: int
    send: Send
    message: Message | None  # None: nothing to send to (e.g. the app token vanished)
    settings: dict
    price: int
    prices: dict[str, int]


class DeliveryWorker:
    def __init__(
        self,
        engine: Engine,
        options: WorkerOptions,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
        name: str = "delivery",
    ) -> None:
        self.engine = engine
        self.options = options
        self.http = http or httpx.Client(timeout=10)
        self.clock = clock
        self.name = name
        self.limiter = RateLimiter()
        self.breaker = CircuitBreaker()
        self._pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix=f"{name}-send")
        self._inflight = threading.Semaphore(options.concurrency)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- claiming -------------------------------------------------------------------------------------
    def claim_due(self, limit: int) -> list[Job]:
        """One short transaction: due rows, locked and skipped by others, advanced and leased."""
        return store.retry_stale(lambda: self._claim_due(limit))

    def _claim_due(self, limit: int) -> list[Job]:
        now = self.clock()
        jobs: list[Job] = []
        with Session(self.engine) as s:
            rows = s.exec(
                select(DeliveryRow)
                .where(DeliveryRow.due_at <= now)  # type: ignore[operator]
                .order_by(DeliveryRow.due_at)  # type: ignore[arg-type]
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            configs: dict[int, delivery_config.TenantDelivery] = {}
            for row in rows:
                assert row.id is not None
                cfg = configs.get(row.tenant_id) or delivery_config.load(s, row.tenant_id)
                configs[row.tenant_id] = cfg
                attempts = store.attempts_of(s, row.id)
                d = store.to_state(row, attempts)
                receipt = s.get(ReceiptRow, row.receipt_id)
                assert receipt is not None
                if d.status is Status.NEW:
                    d = service.plan_delivery(s, cfg, d, receipt, now)
                    if d.status is Status.UNREACHABLE:
                        event(
                            log,
                            logging.INFO,
                            "delivery.unreachable",
                            delivery_id=row.id,
                            skipped=",".join(d.skipped),
                        )
                d, send = claim(d, now, self.options.lease_s, self.options.max_tries)
                store.save(s, row, attempts, d, cfg.prices)
                if send is not None:
                    jobs.append(self._job(s, cfg, row, receipt, send))
                elif d.status.finished:
                    self._log_finished(row.id, d)
            s.commit()
        return jobs

    def _job(
        self,
        s: Session,
        cfg: delivery_config.TenantDelivery,
        row: DeliveryRow,
        receipt: ReceiptRow,
        send: Send,
    ) -> Job:
        to = receipt.contact_value
        if send.channel is Channel.PUSH:
            to = service.push_token(s, row.tenant_id, receipt.contact_hash or "")
        settings = cfg.channels.get(send.channel)
        message = None
        if to and settings is not None:
            url = link(self.options.public_url, row.link_token)
            message = compose(send.channel, to, cfg.tenant_name, receipt.total, url, f"d{row.id}s{send.step}")
        assert row.id is not None
        return Job(
            row.id, row.tenant_id, send, message, settings or {}, cfg.prices.get(send.channel, 0), cfg.prices
        )

    # -- sending --------------------------------------------------------------------------------------
    def process(self, job: Job) -> None:
        key = (job.tenant_id, job.send.channel.value)
        now = self.clock
        if job.message is None:
            self._apply(job, lambda d: send_failed(d, job.send, now(), "nothing to send to", transient=False))
            return
        closed_in = self.breaker.open_for(key)
        if closed_in > 0:
            # No call to a provider that keeps failing: retry after the pause if the step's deadline allows,
            # otherwise the cascade fails over now. Other providers' steps are not held up.
            why = "provider down: circuit open after repeated failures"
            self._apply(job, lambda d: send_failed(d, job.send, now(), why, True, closed_in))
            return
        rate = float(job.settings.get("rate_per_s", 50.0))
        wait = self.limiter.reserve(key, rate, RATE_MAX_WAIT_S)
        if wait is None:
            until = now() + timedelta(seconds=RATE_MAX_WAIT_S)
            self._apply(job, lambda d: deferred(d, job.send, now(), until, "provider rate limit"))
            return
        if wait > 0:
            time.sleep(wait)
        try:
            adapter = build_adapter(job.send.channel, job.settings, job.price, self.http)
            started = time.perf_counter()
            message_id = adapter.send(job.message)
        except ProviderError as exc:
            self.breaker.record(key, ok=not exc.transient)
            if exc.unregistered:
                with Session(self.engine) as s:
                    service.forget_device(s, job.tenant_id, job.message.to)
                    s.commit()
            error, transient, retry_after = str(exc), exc.transient, exc.retry_after_s
            event(
                log,
                logging.WARNING,
                "delivery.send_failed",
                delivery_id=job.delivery_id,
                channel=job.send.channel,
                tries=job.send.tries,
                transient=transient,
                error=error,
            )
            self._apply(job, lambda d: send_failed(d, job.send, now(), error, transient, retry_after))
            return
        self.breaker.record(key, ok=True)
        event(
            log,
            logging.INFO,
            "delivery.sent",
            delivery_id=job.delivery_id,
            channel=job.send.channel,
            tries=job.send.tries,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        self._apply(job, lambda d: accepted(d, job.send, now(), message_id))
        # The provider may have reported before the id above was committed (its callback then found no
        # attempt and was parked): apply such reports now, or the step would wait out its deadline.
        with Session(self.engine) as s:
            service.replay_parked(s, job.tenant_id, job.send.channel, message_id, job.prices, now())

    def _apply(self, job: Job, change: Callable[[Delivery], Delivery]) -> None:
        def apply() -> Delivery:
            with Session(self.engine) as s:
                lock = select(DeliveryRow).where(DeliveryRow.id == job.delivery_id).with_for_update()
                row = s.exec(lock).one()
                attempts = store.attempts_of(s, job.delivery_id)
                d = change(store.to_state(row, attempts))
                store.save(s, row, attempts, d, job.prices)
                s.commit()
                return d

        d = store.retry_stale(apply)
        if d.status.finished:
            self._log_finished(job.delivery_id, d)

    def _log_finished(self, delivery_id: int | None, d: Delivery) -> None:
        channel = d.steps[d.index].channel if d.status is Status.DELIVERED else ""
        event(
            log, logging.INFO, "delivery.finished", delivery_id=delivery_id, status=d.status, channel=channel
        )

    # -- loops ----------------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim what is due and process it to the end (tests, the simulator). Returns jobs processed."""
        jobs = self.claim_due(self.options.batch)
        list(self._pool.map(self.process, jobs))
        return len(jobs)

    def run(self) -> None:
        """Until `stop()`: claim as many due deliveries as there are free send slots, process them in the
        pool, poll again. Database errors are logged and retried after a pause, never fatal."""
        event(log, logging.INFO, "worker.started", name=self.name, concurrency=self.options.concurrency)
        while not self._stop.is_set():
            free = 0
            while free < self.options.concurrency and self._inflight.acquire(blocking=False):
                free += 1
            try:
                jobs = self.claim_due(min(free, self.options.batch)) if free else []
            except OperationalError as exc:
                event(log, logging.WARNING, "worker.db_error", error=str(exc.orig)[:200])
                jobs = []
                self._stop.wait(1.0)
            for _ in range(free - len(jobs)):
                self._inflight.release()
            for job in jobs:
                self._pool.submit(self._guarded, job)
            if len(jobs) < free:
                self._stop.wait(self.options.poll_s)
        self._pool.shutdown(wait=True)
        event(log, logging.INFO, "worker.stopped", name=self.name)

    def _guarded(self, job: Job) -> None:
        try:
            self.process(job)
        except Exception:  # one bad job must not kill the worker; its lease runs out and it is retried
            log.exception("delivery job failed", extra={"fields": {"delivery_id": job.delivery_id}})
        finally:
            self._inflight.release()

    def start(self) -> "DeliveryWorker":
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.http.close()
