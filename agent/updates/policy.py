"""When a staged update may be applied: never while a checkout is open, and only once the till has been
idle for `settle_s` (a cashier between two buyers is not a quiet till). Values in, a decision out."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    NOTHING = "nothing"  # no staged version
    WAIT = "wait"  # a checkout is open, or the till has not been idle long enough
    APPLY = "apply"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str


class ApplyPolicy:
    def __init__(self, settle_s: float, clock: Callable[[], float]) -> None:
        self.settle_s = settle_s
        self._clock = clock
        self._idle_since: float | None = None

    def decide(self, staged: str | None, open_checkouts: int) -> Decision:
        now = self._clock()
        if open_checkouts:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        if staged is None:
            return Decision(Verdict.NOTHING, "no update staged")
        if open_checkouts:
            return Decision(
                Verdict.WAIT, f"update {staged} waits: {open_checkouts} checkout(s) open on this register"
            )
        assert self._idle_since is not None
        idle = now - self._idle_since
        if idle < self.settle_s:
            return Decision(
                Verdict.WAIT,
                f"update {staged} waits: the till has been idle {idle:.0f} s of {self.settle_s:g} s",
            )
        return Decision(Verdict.APPLY, f"update {staged}: no checkout open for {idle:.0f} s")
