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


class SyncView(BaseModel):
    online: bool
    last_sync_at: datetime | None
    last_error: str | None
    consecutive_failures: int


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
    outbox: OutboxView
    sync: SyncView | None
    latency: LatencyView


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
