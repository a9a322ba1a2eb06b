"""The outbox's upkeep, run by the sync loop: purge acked rows past the retention, check the quota.

The quota is only an alarm (in the log every check while over, in the status and the heartbeat):
nothing unsynced is ever dropped for it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.outbox import Outbox

log = logging.getLogger("echeck.sync")


@dataclass(frozen=True, slots=True)
class Upkept:
    purged: int
    over_quota: bool


def upkeep(outbox: Outbox, retention: timedelta | None, now: datetime, was_over: bool) -> Upkept:
    purged = outbox.purge_acked(now - retention) if retention is not None else 0
    stats = outbox.stats()
    if purged:
        log.info("acked receipts purged past retention", extra={"purged": purged})
    if stats.over_quota:
        # Every check while over, not only the first: the alarm must be seen in any day's log.
        log.error(
            "OUTBOX OVER QUOTA: receipts are kept, none is dropped; check sync and disk",
            extra={
                "size_bytes": stats.size_bytes,
                "quota_bytes": stats.quota_bytes,
                "pending": stats.pending,
            },
        )
    elif was_over:
        log.warning("outbox back under its quota", extra={"size_bytes": stats.size_bytes})
    return Upkept(purged, stats.over_quota)
