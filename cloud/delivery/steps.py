"""Delivery's job handlers: a receipt stored → its delivery; a delivery's step → claimed, sent, recorded.

They run on the one job worker (`cloud.jobs`), which brings the concurrency, the SKIP LOCKED claims and
the per-delivery lock. The exactly-once guarantees stay here, on the delivery row: a step claims the row
under its lock and writes a lease (`due_at` = now + lease) before its transaction ends, so the provider
call happens with no row locked; a worker killed mid-send leaves the lease to run out, and the step job
that `store.save` scheduled for the lease's end sees the step still SENDING and retries it, writing
"outcome unknown" into the attempt's history. Deadlines are the same job, scheduled for the deadline.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
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
from cloud.events import ReceiptStored
from cloud.ingest.models import ReceiptRow
from cloud.jobs import JobArgs
from cloud.logs import event

log = logging.getLogger("cloud.delivery.steps")
RATE_MAX_WAIT_S = 1.0  # longer than this behind a provider's rate limit: hand the step back and come back


@dataclass(frozen=True, slots=True)
class StepOptions:
    public_url: str
    lease_s: float = 60.0  # > the slowest provider call (timeouts ≤ 60 s)
    max_tries: int = MAX_TRIES


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery step to send, as claimed under the delivery row's lock."""

    delivery_id: int
    tenant_id: int
    send: Send
    message: Message | None  # None: nothing to send to (e.g. the app token vanished)
    settings: dict[str, Any]
    price: int
    prices: dict[str, int]


class DeliverySteps:
    """The handlers of `cloud.delivery.jobs`; one instance per process holds the HTTP client, the rate
    limits and the circuit breakers shared by its sends."""

    def __init__(
        self,
        engine: Engine,
        options: StepOptions,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.options = options
        self.http = http or httpx.Client(timeout=10)
        self.clock = clock
        self.limiter = RateLimiter()
        self.breaker = CircuitBreaker()

    # -- the jobs -------------------------------------------------------------------------------------
    def receipts_stored(self, args: JobArgs) -> None:
        """RECEIPTS_STORED: deliveries (and their step jobs) for the new receipts with a contact."""
        stored = ReceiptStored.from_args(args)
        with Session(self.engine) as s:
            service.create_deliveries(s, stored.receipt_ids, self.clock())
            s.commit()

    def step(self, args: JobArgs) -> None:
        """STEP: claim the delivery if it is due and send what the cascade says (nothing if not due)."""
        claimed = self.claim(int(args["delivery_id"]))
        if claimed is not None:
            self.process(claimed)

    # -- claiming -------------------------------------------------------------------------------------
    def claim(self, delivery_id: int) -> Claimed | None:
        """One short transaction under the delivery row's lock: planned if new, advanced, leased."""
        return store.retry_stale(lambda: self._claim(delivery_id))

    def _claim(self, delivery_id: int) -> Claimed | None:
        now = self.clock()
        with Session(self.engine) as s:
            lock = select(DeliveryRow).where(DeliveryRow.id == delivery_id).with_for_update()
            row = s.exec(lock.execution_options(populate_existing=True)).first()
            if row is None:  # erased meanwhile
                return None
            cfg = delivery_config.load(s, row.tenant_id)
            attempts = store.attempts_of(s, delivery_id)
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
            before = store.to_state(row, attempts)
            d, send = claim(d, now, self.options.lease_s, self.options.max_tries)
            if d == before:  # not due (an early or stale schedule): nothing to write
                s.commit()
                return None
            store.save(s, row, attempts, d, cfg.prices)
            claimed = self._claimed(s, cfg, row, receipt, send) if send is not None else None
            s.commit()
        if send is None and d.status.finished:
            self._log_finished(delivery_id, d)
        return claimed

    def _claimed(
        self,
        s: Session,
        cfg: delivery_config.TenantDelivery,
        row: DeliveryRow,
        receipt: ReceiptRow,
        send: Send,
    ) -> Claimed:
        to = receipt.contact_value
        if send.channel is Channel.PUSH:
            to = service.push_token(s, row.tenant_id, receipt.contact_hash or "")
        settings = cfg.channels.get(send.channel)
        message = None
        if to and settings is not None:
            url = link(self.options.public_url, row.link_token)
            message = compose(send.channel, to, cfg.tenant_name, receipt.total, url, f"d{row.id}s{send.step}")
        assert row.id is not None
        return Claimed(
            row.id, row.tenant_id, send, message, settings or {}, cfg.prices.get(send.channel, 0), cfg.prices
        )

    # -- sending --------------------------------------------------------------------------------------
    def process(self, job: Claimed) -> None:
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

    def _apply(self, job: Claimed, change: Callable[[Delivery], Delivery]) -> None:
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

    def close(self) -> None:
        self.http.close()
