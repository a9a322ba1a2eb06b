"""The agent's update thread: check the channel now and then, stage what verifies, and hand the staged
version to the applier once the policy allows (no open checkout, the till idle for a while).

The applier runs outside the agent process (it stops and starts the agent's service): on Windows a
scheduled task the installer made (`agent.winservice.launch_apply`); `launch` is that step.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.updates.client import UpdateClient, UpdateRefused
from agent.updates.layout import Installation, LayoutError
from agent.updates.policy import ApplyPolicy, Decision, Verdict

log = logging.getLogger("agent.updates")


@dataclass(frozen=True, slots=True)
class UpdateView:
    """What status and doctor show."""

    channel: str
    running: str | None
    staged: str | None
    decision: str
    last_result: str | None
    last_error: str | None


class UpdateWorker:
    def __init__(
        self,
        installation: Installation,
        client_for: Callable[[str], UpdateClient],
        channel: Callable[[], str],
        open_checkouts: Callable[[], int],
        launch: Callable[[str], object],
        *,
        check_interval_s: float = 3600.0,
        settle_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.installation = installation
        self._client_for = client_for
        self._channel = channel
        self._open_checkouts = open_checkouts
        self._launch = launch
        self._interval = check_interval_s
        self._clock = clock
        self.policy = ApplyPolicy(settle_s, clock)
        self._next_check = clock()
        self._last_error: str | None = None
        self._decision = Decision(Verdict.NOTHING, "not checked yet")
        self._launched: str | None = None

    def step(self) -> Decision:
        """One round: check when due, then decide about what is staged (launching it when allowed)."""
        if self._clock() >= self._next_check:
            self._next_check = self._clock() + self._interval
            self.check()
        staged = self.installation.staged()
        decision = self.policy.decide(staged if staged != self._launched else None, self._open_checkouts())
        if decision.verdict is not self._decision.verdict:
            log.info(decision.reason)
        self._decision = decision
        if decision.verdict is Verdict.APPLY and staged is not None:
            self._launched = staged
            log.warning("launching the update", extra={"version": staged})
            self._launch(staged)
        return decision

    def check(self) -> None:
        channel = self._channel()
        try:
            self._client_for(channel).check_and_stage()
            self._last_error = None
        except (UpdateRefused, LayoutError, OSError) as exc:
            self._last_error = str(exc)
            log.error("update check failed: %s", exc, extra={"channel": channel})

    def view(self) -> UpdateView:
        return UpdateView(
            channel=self._channel(),
            running=self.installation.current(),
            staged=self.installation.staged(),
            decision=self._decision.reason,
            last_result=self.installation.state().last_result,
            last_error=self._last_error,
        )

    def run(self, stop: threading.Event, nap_s: float = 5.0) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # an update bug must never take the agent down
                log.exception("update step failed")
            stop.wait(nap_s)
