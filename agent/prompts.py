"""The prompt channel between the agent and the cashier's UI, as values and a condition variable.

A hook (the localhost API, the ATOL proxy, the Shtrih-M tap) asks for a contact and waits a bounded
time; any UI process sees the open prompts (long-poll on `wait_change`) and answers one. The asker gets
the answer, or TIMED_OUT when nobody answered in time, or WITHDRAWN when the POS moved on, or NO_UI at once
when no UI is listening (none long-polls now or did within `UI_GRACE_S`). Nothing here ever blocks without
a timeout: the till must not wait on a cashier's UI that is not there.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from pos_plugin.contract import AskMode


class AnswerKind(StrEnum):
    KNOWN = "known"  # the contact was already given: nothing was asked
    CONFIRMED = "confirmed"  # Enter on "…your phone ends in 45-67?"
    CONTACT = "contact"  # a typed phone or e-mail (validated before it gets here)
    SKIPPED = "skipped"  # Esc: no e-receipt
    TIMED_OUT = "timed_out"  # nobody answered in time
    WITHDRAWN = "withdrawn"  # the checkout closed or was cancelled on the POS meanwhile
    NO_UI = "no_ui"  # no cashier UI is listening: answered at once, nobody was asked


@dataclass(frozen=True, slots=True)
class PromptAnswer:
    kind: AnswerKind
    contact: str | None = None  # normalized, only with CONTACT


@dataclass(frozen=True, slots=True)
class PromptRequest:
    checkout_id: str
    mode: AskMode
    masked_phone: str | None = None
    phone_tail: str | None = None
    buyer_name: str | None = None
    timeout_s: float = 30.0
    prompt_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class _Slot:
    request: PromptRequest
    deadline: float
    answer: PromptAnswer | None = None


# A UI long-polls without pause: between the end of one poll and the start of the next it still counts as
# listening for this long (generous for a loaded machine; a crashed UI is noticed this much later).
UI_GRACE_S = 2.0


class PromptBroker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._version = 0
        self._changed = threading.Condition()
        self._polling = 0  # UIs inside wait_change now
        self._last_poll_end = -UI_GRACE_S  # clock() when the last one left it

    def ui_connected(self) -> bool:
        """Whether a cashier UI is listening: long-polling now, or it was a moment ago."""
        with self._changed:
            return self._ui_connected()

    def _ui_connected(self) -> bool:
        return self._polling > 0 or self._clock() - self._last_poll_end < UI_GRACE_S

    def publish(self, request: PromptRequest) -> None:
        with self._changed:
            self._slots[request.prompt_id] = _Slot(request, self._clock() + request.timeout_s)
            self._bump()

    def wait_answer(self, prompt_id: str, timeout: float | None = None) -> PromptAnswer:
        """Blocks the asking hook until an answer, the prompt's timeout or `timeout`, whichever is first."""
        with self._changed:
            slot = self._slots.get(prompt_id)
            if slot is None:
                return PromptAnswer(AnswerKind.WITHDRAWN)
            if slot.answer is None and self._clock() < slot.deadline and not self._ui_connected():
                slot.answer = PromptAnswer(AnswerKind.NO_UI)  # nobody would see it: the till goes on now
            deadline = slot.deadline if timeout is None else min(slot.deadline, self._clock() + timeout)
            while slot.answer is None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    slot.answer = PromptAnswer(AnswerKind.TIMED_OUT)
                    break
                self._changed.wait(remaining)
            del self._slots[prompt_id]
            self._bump()
            return slot.answer

    def answer(self, prompt_id: str, answer: PromptAnswer) -> bool:
        """From a UI. False when the prompt is gone (answered, timed out, withdrawn): the UI just closes."""
        with self._changed:
            slot = self._slots.get(prompt_id)
            if slot is None or slot.answer is not None or self._clock() >= slot.deadline:
                return False
            slot.answer = answer
            self._bump()
            return True

    def withdraw(self, checkout_id: str) -> None:
        """The POS closed or cancelled the checkout: any open prompt for it ends now."""
        with self._changed:
            for slot in self._slots.values():
                if slot.request.checkout_id == checkout_id and slot.answer is None:
                    slot.answer = PromptAnswer(AnswerKind.WITHDRAWN)
            self._bump()

    def expires_in(self, prompt_id: str) -> float:
        """Seconds until the asker stops waiting for this prompt; 0 when it is gone."""
        with self._changed:
            slot = self._slots.get(prompt_id)
            return max(0.0, slot.deadline - self._clock()) if slot and slot.answer is None else 0.0

    def snapshot(self) -> tuple[int, list[PromptRequest]]:
        with self._changed:
            return self._version, self._open()

    def wait_change(self, since_version: int, timeout: float) -> tuple[int, list[PromptRequest]]:
        """Long-poll for UIs: returns when the set of open prompts changed after `since_version`."""
        with self._changed:
            self._polling += 1
            try:
                self._changed.wait_for(lambda: self._version != since_version, timeout=timeout)
            finally:
                self._polling -= 1
                self._last_poll_end = self._clock()
            return self._version, self._open()

    def _open(self) -> list[PromptRequest]:
        now = self._clock()
        return [s.request for s in self._slots.values() if s.answer is None and now < s.deadline]

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()
