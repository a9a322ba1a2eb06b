"""Retry timing for the sync worker: exponential backoff with full jitter, and the cloud's Retry-After.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads a whole chain's registers
apart when the cloud comes back after an outage, instead of having 2 500 tills retry in lockstep.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A misconfigured proxy answering "Retry-After: 86400" must not park a register for a day.
MAX_RETRY_AFTER_S = 900.0


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, failures: int) -> float:
        """The upper bound of the wait after `failures` consecutive failures (≥ 1)."""
        exponent = min(max(failures, 1) - 1, 32)  # 2**32 * base is far past any cap already
        return min(self.cap, self.base * 2.0**exponent)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt; never less than what the cloud asked for."""
        jittered = self.rng.uniform(0.0, self.ceiling(failures))
        if retry_after is None:
            return jittered
        return max(min(retry_after, MAX_RETRY_AFTER_S), jittered)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
