"""Small helpers for worker tests: build a worker on a client, run its loop in a thread, wait for a state."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sync.worker import SyncWorker

WAIT_S = 15.0  # a generous ceiling for conditions, not a speed assertion


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.02)


@contextmanager
def running(worker: SyncWorker) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="sync-test", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        worker.wake()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the sync worker did not stop"
