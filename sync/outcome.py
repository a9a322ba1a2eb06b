"""What one sync round came to, and the worker's state as the agent's status shows it. Values only."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OutcomeKind(StrEnum):
    IDLE = "idle"  # nothing pending: nothing sent
    SYNCED = "synced"  # the cloud answered the batch (acked and/or rejected items)
    FAILED = "failed"  # unreachable, timeout, 5xx, 429, unreadable answer: rows kept, back off
    REFUSED = "refused"  # 401/403: the register token was refused; rows kept, back off long


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    kind: OutcomeKind
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # what the cloud asked for, seconds
    delay: float = 0.0  # how long the loop waits before the next attempt


@dataclass(frozen=True, slots=True)
class SyncStatus:
    online: bool  # the last exchange with the cloud (batch or heartbeat) succeeded
    last_sync_at: datetime | None  # last batch the cloud answered
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None  # set while backing off
    token_refused: bool
    last_heartbeat_at: datetime | None
    clock_skew_s: float | None  # register clock minus cloud clock, from the last heartbeat ack
    batch_limit: int = 0  # current batch size (halved while a failing receipt is being isolated)
    gzip: bool = True  # batches are compressed (off after a cloud answered 415)
    last_purge_at: datetime | None = None
    purged: int = 0  # acked rows purged past the retention since start
    over_quota: bool = False  # the outbox is larger than its quota (an alarm; nothing is dropped)
    # The cloud answered 403 `register_revoked`: head office revoked this register's token. Nothing is
    # sent (a rare re-check only) and the whole queue is kept until store IT enrolls the register again.
    register_revoked: bool = False
    # The update channel followed now: the settings' until a heartbeat answer names the store's.
    update_channel: str | None = None
