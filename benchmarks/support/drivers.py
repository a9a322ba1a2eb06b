"""A pty pair whose master end a script drives (the POS's end of a virtual COM pair), and a cashier who
answers every prompt."""

import contextlib
import os
import select
import threading
import tty
from collections.abc import Iterator
from contextlib import contextmanager

from agent.prompts import AnswerKind, PromptAnswer, PromptBroker


class PtyPair:
    """A pseudo-terminal: the code under test opens `path` like a COM port; the test holds the master."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> object:
        return os.write(self.master, data)

    def read_some(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextmanager
def cashier(broker: PromptBroker, contact: str | None) -> Iterator[list[str]]:
    """A cashier's UI in a thread: answers every prompt with `contact` (None: Esc). Yields answered ids."""
    stop = threading.Event()
    answered: list[str] = []

    def run() -> None:
        version = -1
        while not stop.is_set():
            version, prompts = broker.wait_change(version, timeout=0.05)
            for prompt in prompts:
                if prompt.prompt_id in answered:
                    continue
                answer = (
                    PromptAnswer(AnswerKind.CONTACT, contact) if contact else PromptAnswer(AnswerKind.SKIPPED)
                )
                if broker.answer(prompt.prompt_id, answer):
                    answered.append(prompt.prompt_id)

    thread = threading.Thread(target=run, name="cashier", daemon=True)
    thread.start()
    while not broker.ui_connected():  # listening before the till asks (else the agent answers no_ui)
        stop.wait(0.005)
    try:
        yield answered
    finally:
        stop.set()
        thread.join(timeout=2)
