"""Wiring of the cloud's background work, for the app factory and `echeck-cloud worker` alike: which jobs
exist, which handler runs each, and which capability subscribes to which event (cosmicpython's
`bootstrap.py`). A capability that wants "receipt stored" adds one `bus.subscribe` line here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.engine import Engine

from cloud.attribution import jobs as attribution_jobs
from cloud.db.types import utcnow
from cloud.delivery import jobs as delivery_jobs
from cloud.delivery.steps import DeliverySteps, StepOptions
from cloud.events import EventsTracked, MessageBus, ReceiptStored
from cloud.identity import linking as identity_jobs
from cloud.jobs import JobRegistry, Worker, WorkerOptions
from cloud.pages import kept, kept_ahead
from cloud.pages import webhook as page_webhook
from cloud.pages.promo import jobs as promo_jobs
from cloud.pages.promo.reminders import PromoReminders
from cloud.privacy.keys import IdentityKeys, load_identity_keys
from cloud.reports import rollup as reports_rollup
from cloud.reports import weekly as reports_weekly
from cloud.reports.weekly import WeeklyReports
from cloud.tracking import jobs as tracking_jobs
from cloud.tracking.click_ids import ClickIds


@dataclass
class Runtime:
    engine: Engine
    bus: MessageBus
    jobs: JobRegistry
    delivery: DeliverySteps
    workers: list[Worker] = field(default_factory=list)

    def worker(self, options: WorkerOptions | None = None) -> Worker:
        """A job worker running every registered job (start it, or call `run_once` in tests)."""
        worker = Worker(self.engine, self.jobs, options or WorkerOptions(), clock=self.delivery.clock)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Stop using the workers' pools and the providers' HTTP client (stop running workers first)."""
        for worker in self.workers:
            worker.close()
        self.delivery.close()


def bootstrap(
    engine: Engine,
    public_url: str,
    *,
    lease_s: float = 60.0,
    http: httpx.Client | None = None,
    clock: Callable[[], datetime] = utcnow,
    identity_keys: IdentityKeys | None = None,
) -> Runtime:
    """The bus and the job registry with every capability's handlers bound. `http` and `clock` are for
    tests (a client with event hooks, a clock that jumps). `identity_keys` default to the deployment's
    (`load_identity_keys` of the engine's database)."""
    bus, registry = MessageBus(), JobRegistry()

    delivery = DeliverySteps(engine, StepOptions(public_url=public_url, lease_s=lease_s), http, clock)
    registry.register(delivery_jobs.RECEIPTS_STORED, delivery.receipts_stored)
    registry.register(delivery_jobs.STEP, delivery.step)
    bus.subscribe(ReceiptStored, delivery_jobs.RECEIPTS_STORED)
    database_url = engine.url.render_as_string(hide_password=False)
    reminders = PromoReminders(delivery, lambda: load_identity_keys(database_url))
    registry.register(promo_jobs.REMINDER, reminders.remind)
    registry.register(page_webhook.WEBHOOK, page_webhook.AnswerWebhooks(engine, delivery.http).send)
    # tracking: monthly partitions of the event store made ahead (PostgreSQL), the dedup window's end.
    registry.register(tracking_jobs.PARTITIONS, tracking_jobs.PartitionJob(engine))
    registry.register(tracking_jobs.FORGET_KEYS, tracking_jobs.ForgetKeysJob(engine, clock))
    registry.register(kept.PRUNE, kept.PruneJob(engine, clock))  # pages kept rendered: a cache

    keys = identity_keys or load_identity_keys(database_url)
    # pages: each stored receipt's page rendered and kept before its message's first fetch, on PostgreSQL
    # (read there on the event loop: cloud.pages.kept_reader). On SQLite the one process that answers the
    # pages would also render every receipt's, most of them never fetched; the first fetch keeps it.
    registry.register(kept_ahead.KEEP_AHEAD, kept_ahead.KeepAhead(engine, keys, clock))
    if engine.dialect.name == "postgresql":
        bus.subscribe(ReceiptStored, kept_ahead.KEEP_AHEAD)
    linker = identity_jobs.Linker(engine, keys, ClickIds(keys.keys.values()))
    registry.register(identity_jobs.RECEIPTS_STORED, linker.receipts_stored)
    registry.register(identity_jobs.EVENTS_TRACKED, linker.events_tracked)
    bus.subscribe(ReceiptStored, identity_jobs.RECEIPTS_STORED)
    bus.subscribe(EventsTracked, identity_jobs.EVENTS_TRACKED)
    # attribution after identity: a late receipt marks its attributed day dirty; the periodic job re-reads
    # identity's merge log and attributes due days.
    attribution = attribution_jobs.AttributionJobs(engine, clock)
    registry.register(attribution_jobs.DAILY, attribution.daily)
    registry.register(attribution_jobs.RECEIPTS_STORED, attribution.receipts_stored)
    bus.subscribe(ReceiptStored, attribution_jobs.RECEIPTS_STORED)
    # reports: the weekly e-mail of last week's figures to head office, planned hourly, sent Monday 09:00.
    weekly = WeeklyReports(engine, public_url, clock)
    registry.register(reports_weekly.WEEKLY_PLAN, weekly.plan)
    registry.register(reports_weekly.WEEKLY_SEND, weekly.send)
    # and the dashboards' daily rollups of past days, every 15 min (cloud/reports/rollup.py)
    registry.register(reports_rollup.ROLLUP, reports_rollup.RollupJob(engine, clock))

    return Runtime(engine, bus, registry, delivery)
