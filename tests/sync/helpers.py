"""Small helpers for worker tests: build a worker on a client, run its loop in a thread, wait for a state."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sync.worker import SyncWorker
from tests.support.live_server import free_port, live_server

REPO = Path(__file__).resolve().parents[2]
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


class Served:
    """An ASGI app on a fixed loopback port that can be stopped and started again, like a restarted peer."""

    def __init__(self, app_factory: Callable[[], Any]) -> None:
        self.app_factory = app_factory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack = ExitStack()

    def start(self) -> "Served":
        self._stack = ExitStack()
        self._stack.enter_context(live_server(self.app_factory(), port=self.port))
        return self

    def stop(self) -> None:
        self._stack.close()


def child(module: str, *args: str) -> subprocess.Popen[str]:
    """Another real process running `python -m module args`, its stdout a text pipe, unbuffered."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
