"""Per-provider pacing inside one worker process: a token bucket per (tenant, channel) for the provider's
rate limit, and a circuit breaker that stops sending to a provider that keeps failing, so its steps fail
over at once instead of each waiting out its own retries (GOV.UK Notify does the same)."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Key = tuple[int, str]  # (tenant id, channel)


@dataclass
class RateLimiter:
    clock: Callable[[], float] = time.monotonic
    _next: dict[Key, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, key: Key, rate_per_s: float, max_wait_s: float) -> float | None:
        """Seconds to wait before sending (0: now), or None when that would exceed `max_wait_s`."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(key, now))
            wait = slot - now
            if wait > max_wait_s:
                return None
            self._next[key] = slot + 1.0 / rate_per_s
            return wait


@dataclass
class CircuitBreaker:
    threshold: int = 5  # transient failures in a row that open the circuit
    open_s: float = 30.0  # then one probe is let through
    clock: Callable[[], float] = time.monotonic
    _failures: dict[Key, int] = field(default_factory=dict)
    _open_until: dict[Key, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_for(self, key: Key) -> float:
        """Seconds the circuit stays open (0: closed, send)."""
        with self._lock:
            until = self._open_until.get(key)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:  # half-open: let the next one probe
                del self._open_until[key]
                return 0.0
            return left

    def record(self, key: Key, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures.pop(key, None)
                return
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
            if n >= self.threshold:
                self._open_until[key] = self.clock() + self.open_s
