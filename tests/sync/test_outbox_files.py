"""The outbox file against other programs and other eyes: a write lock held by another real process is
waited out (never a quarantine), a corrupt file's pending receipts come back into the new outbox exactly
once, and the files holding buyers' phones are owner-only."""

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from sync.outbox import Outbox
from sync.quarantine import OutboxBusy, quarantined_files
from tests.support.receipts import make_receipt
from tests.sync.helpers import child

LOCK_S = 15.0


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds the outbox's write lock for `seconds`; returns once it holds it."""
    locker = child("tests.sync.lock_child", str(path), str(seconds))
    assert locker.stdout is not None
    assert locker.stdout.readline().strip() == "locked"
    return locker


def test_a_healthy_outbox_locked_for_15_s_by_another_process_is_waited_for_not_quarantined(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as box:
        box.enqueue_many(make_receipt(n) for n in range(50))
    locker = _hold_lock(path, LOCK_S)
    try:
        with Outbox(path) as box:  # opens while the other process holds the lock
            assert box.recovered_from is None
            assert box.quarantined() == []
            assert box.stats().pending == 50, "the pending receipts are where they were"
            assert box.enqueue(make_receipt(50)) is True
        assert locker.wait(timeout=60) == 0, "the other process finished its transaction normally"
    finally:
        locker.kill()
        locker.wait()
    assert quarantined_files(path) == []
    with Outbox(path) as box:
        assert box.stats().pending == 51


def test_a_lock_that_outlasts_the_wait_fails_the_open_clearly_and_moves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as box:
        box.enqueue(make_receipt(1))
    locker = _hold_lock(path, 60)
    try:
        with pytest.raises(OutboxBusy, match="locked by another program"):
            Outbox(path, open_wait_s=0.5)
    finally:
        locker.kill()
        locker.wait()
    assert quarantined_files(path) == []
    with Outbox(path) as box:
        assert box.stats().pending == 1


def test_a_quarantined_files_pending_receipts_are_recovered_into_the_new_outbox_exactly_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as box:
        box.enqueue_many(make_receipt(n) for n in range(300))
        box.mark_acked([e.id for e in box.pending(100)])
        pending = {e.key for e in box.pending(1000)}
    size = path.stat().st_size
    with path.open("r+b") as f:  # a damaged page (a bad sector): SQLite's own check finds it
        f.seek(size - 8192)
        f.write(b"\xff" * 4096)
    with Outbox(path) as box:
        assert box.recovered_from is not None
        recovered = {e.key for e in box.pending(1000)}
        assert recovered, "readable pending receipts came back"
        assert recovered <= pending, "only pending ones: acked receipts are not sent again"
        assert box.recovered == len(recovered)
        assert box.stats().acked == 0
        box.enqueue(make_receipt(1000))
    # The next start (and the one after) recovers nothing again: each quarantined file once.
    for _ in range(2):
        with Outbox(path) as box:
            assert box.recovered == 0
            keys = [e.key for e in box.pending(1000)]
            assert len(keys) == len(set(keys)) == len(recovered) + 1


def test_a_recovery_that_finds_keys_already_in_the_new_outbox_adds_no_duplicate(tmp_path: Path) -> None:
    old, path = tmp_path / "old.sqlite3", tmp_path / "outbox.sqlite3"
    with Outbox(old) as box:
        box.enqueue_many(make_receipt(n) for n in range(20))
    with Outbox(path) as box:  # the new outbox already holds 5 of them (closed again by the POS)
        box.enqueue_many(make_receipt(n) for n in range(5))
    shutil.copyfile(old, tmp_path / "outbox.corrupt-20261130T000000000000Z.sqlite3")
    with Outbox(path) as box:
        assert box.recovered == 15
        keys = [e.key for e in box.pending(100)]
        assert len(keys) == len(set(keys)) == 20


def test_garbage_is_quarantined_and_recovers_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(os.urandom(8192))
    with Outbox(path) as box:
        assert box.recovered_from is not None
        assert box.recovered == 0
        assert box.stats().total == 0


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_outbox_is_owner_only_with_its_wal_and_shm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = data / "outbox.sqlite3"
    old = os.umask(0o022)
    try:
        with Outbox(path) as box:
            box.enqueue(make_receipt(1))
            assert _mode(data) == 0o700
            for name in ("outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"):
                assert _mode(data / name) == 0o600, name
    finally:
        os.umask(old)


def test_an_outbox_an_older_agent_left_world_readable_is_made_owner_only_on_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = data / "outbox.sqlite3"
    with Outbox(path) as box:
        box.enqueue(make_receipt(1))
        # What an older agent left: 0644 files in a 0755 directory, -wal and -shm still there.
        with sqlite3.connect(path) as keep:
            keep.execute("SELECT 1").fetchall()
            for name in os.listdir(data):
                os.chmod(data / name, 0o644)
            os.chmod(data, 0o755)
            with Outbox(path) as again:
                assert again.stats().pending == 1
                assert _mode(data) == 0o700
                for name in os.listdir(data):
                    assert _mode(data / name) == 0o600, name


def test_a_directory_made_traverse_only_for_a_group_stays_so(tmp_path: Path) -> None:
    """The .deb makes /var/lib/echeck 0710 (group echeck-ui: the cashier's UI opens ui-secret by name)."""
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o710)
    with Outbox(data / "outbox.sqlite3") as box:
        box.enqueue(make_receipt(1))
        assert _mode(data) == 0o710
        assert _mode(data / "outbox.sqlite3") == 0o600


def test_quarantined_files_are_owner_only_too(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(os.urandom(8192))
    os.chmod(path, 0o644)
    with Outbox(path) as box:
        assert box.recovered_from is not None
        assert _mode(box.recovered_from) == 0o600
