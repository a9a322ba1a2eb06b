"""kill -9 right after `enqueue` returned loses nothing: a child process enqueues receipts and prints each
key once `enqueue` returned; it is SIGKILLed at a random point while writing, several times over one file."""

import random
import signal
from pathlib import Path

from sync.outbox import Outbox
from tests.sync.helpers import child

KILLS = 4


def _run_and_kill(path: Path, start: int, after: int) -> list[str]:
    """Start the child, SIGKILL it once it printed `after` keys; return every key it printed."""
    writer = child("tests.sync.enqueue_child", str(path), str(start))
    assert writer.stdout is not None
    printed: list[str] = []
    try:
        assert writer.stdout.readline().strip() == "ready"
        while len(printed) < after:
            line = writer.stdout.readline()
            assert line, f"child exited early with {writer.poll()}"
            printed.append(line.strip())
        # The child keeps closing receipts while we read: the kill lands inside some later enqueue.
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait(timeout=10)
    # Keys it printed between our last read and the kill are in the pipe: each one was committed too.
    printed.extend(line.strip() for line in writer.stdout if line.strip())
    writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    return printed


def test_every_printed_key_survives_sigkill_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(20240501)
    path = tmp_path / "outbox.db"
    confirmed: list[str] = []
    start = 0
    for _ in range(KILLS):
        printed = _run_and_kill(path, start, after=rng.randint(20, 120))
        assert printed
        confirmed.extend(printed)
        # The next run starts a little before where this one was confirmed to be, so it also re-closes
        # receipts that are already in the file (a POS retrying after a crash) and ones maybe half-written.
        start = start + len(printed) - 5

    with Outbox(path) as box:
        entries = box.pending(1_000_000)
        keys = [e.key for e in entries]
        assert len(keys) == len(set(keys)), "a key is in the outbox twice"
        assert set(confirmed) <= set(keys), f"lost after kill -9: {sorted(set(confirmed) - set(keys))[:5]}"
        assert box.stats().total == len(keys)
        with box._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
