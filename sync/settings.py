"""How one register's sync runs: one frozen value, built by the agent from its config (`[sync]`).

The worker, the cloud client, the batching policy and the heartbeat each read the fields they need from
it; nothing is renamed on the way.
"""

from dataclasses import dataclass
from datetime import timedelta

from sync.protocol import MAX_BATCH


@dataclass(frozen=True, slots=True)
class SyncSettings:
    store_id: int  # the register's store: batches go to its endpoint
    batch_size: int = 200  # the usual batch; a backlog grows past it ...
    backlog_batch_size: int = MAX_BATCH  # ... up to this (never past the protocol's maximum)
    in_flight: int = 2  # batches posted at once while a backlog lasts
    linger_s: float = 0.05  # after a wake-up, wait this long so that a burst of closes goes as one batch
    backoff_base_s: float = 0.5  # first retry after a failure waits up to this (full jitter) ...
    backoff_cap_s: float = 30.0  # ... doubling per failure up to this
    refused_backoff_s: float = 300.0  # the token was refused: only store IT can fix it, re-check rarely
    poll_interval_s: float = 2.0  # nothing pending: look again this often (a wake-up comes sooner)
    heartbeat_interval_s: float = 30.0
    timeout_s: float | None = None  # per request; None: the HTTP client's own timeout applies
    gzip: bool = True  # compress batches (a cloud that answers 415 gets plain JSON)
    gzip_level: int = 3
    poison_after: int = 3  # a receipt that fails alone with 500 this often is a suspect (see worker)
    retention: timedelta | None = timedelta(days=30)  # acked rows are purged past it; None: kept
    maintenance_interval_s: float = 3600.0  # how often the purge and the quota check run
    agent_version: str = ""
    instance_id: str | None = None  # this machine's agent (the heartbeat tells clones apart by it)
    session_id: str | None = None  # this run of the agent
    # The update channel a packaged agent starts on (its config); the cloud's heartbeat answer may change
    # it. None: not a packaged agent, no channel in the heartbeat.
    update_channel: str | None = None

    @property
    def backlog_limit(self) -> int:
        """The largest batch a backlog may grow to: at least `batch_size`, at most the protocol's."""
        return max(self.batch_size, min(self.backlog_batch_size, MAX_BATCH))
