"""The register's state as store IT and head office want it: queue, sync, latency. Values only."""

import statistics
from datetime import UTC, datetime

from pydantic import BaseModel


class OutboxView(BaseModel):
    pending: int
    acked: int
    rejected: int
    total: int
    oldest_pending_age_s: float | None
    last_acked_at: datetime | None
    size_bytes: int = 0
    quota_bytes: int | None = None
    over_quota: bool = False  # an alarm only: nothing is ever dropped for it
    quarantined: list[str] = []  # corrupt outbox files moved aside at start (kept for store IT)
    write_error: str | None = None  # receipts cannot be queued now (disk full?): closes answer 507
    write_failures: int = 0
    dead_letter: list[str] = []  # latest receipts the cloud refused for good: "key: reason"
    retention_days: float | None = None


class SyncView(BaseModel):
    online: bool
    last_sync_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    token_refused: bool = False
    next_attempt_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    clock_skew_s: float | None = None  # this register's clock minus the cloud's
    batch_limit: int = 0
    gzip: bool = True
    last_purge_at: datetime | None = None
    # head office revoked this register: nothing is sent, the queue is kept; store IT must re-enroll
    register_revoked: bool = False


class UpdatesView(BaseModel):
    """Signed updates of a packaged agent (None in the status when `[updates]` is off)."""

    channel: str
    running: str | None
    staged: str | None = None
    decision: str = ""
    last_result: str | None = None
    last_error: str | None = None


class LatencyView(BaseModel):
    """Receipt closed → acknowledged by the cloud, seconds, over the most recent acknowledged receipts."""

    count: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None


class AgentStatus(BaseModel):
    version: str
    running: bool
    enrolled: bool
    cloud_url: str | None
    store_id: int | None
    register_id: int | None
    instance_id: str | None = None
    ui_connected: bool | None = None  # a cashier UI polls for prompts now (None: unknown, agent not running)
    open_checkouts: int = 0
    outbox: OutboxView
    sync: SyncView | None
    latency: LatencyView
    updates: UpdatesView | None = None


def latency_view(samples: list[float]) -> LatencyView:
    if not samples:
        return LatencyView(count=0, p50_s=None, p95_s=None, max_s=None)
    ordered = sorted(samples)
    p95 = statistics.quantiles(ordered, n=20)[-1] if len(ordered) > 1 else ordered[0]
    return LatencyView(count=len(ordered), p50_s=statistics.median(ordered), p95_s=p95, max_s=ordered[-1])


def age_seconds(since: datetime | None, now: datetime | None = None) -> float | None:
    if since is None:
        return None
    now = now or datetime.now(UTC)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())
