"""The outbox on a real SQLite file: idempotent enqueue, state transitions, stats, purge."""

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sync.outbox import Outbox, OutboxEntry, RejectedEntry
from sync.protocol import receipt_from_wire
from tests.support.receipts import make_receipt


def test_file_is_wal_with_full_sync_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "outbox.db"
    box = Outbox(path)
    try:
        assert path.exists()
        with box._engine.connect() as conn:  # the pragmas are per connection: ask one of the pool's
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        box.close()
    # WAL mode is persistent in the file itself: another client sees it too.
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_enqueue_is_idempotent_by_fiscal_key(outbox: Outbox) -> None:
    receipt = make_receipt(1)
    assert outbox.enqueue(receipt) is True
    assert outbox.enqueue(receipt) is False
    assert outbox.enqueue(make_receipt(1, with_contact=False)) is False  # same key, first content stays
    [entry] = outbox.pending(10)
    assert entry.key == str(receipt.key) == "9251440300227597:2:617635938"
    assert receipt_from_wire(entry.payload) == receipt
    assert outbox.stats().total == 1


def test_a_second_close_does_not_revive_an_acked_or_rejected_row(outbox: Outbox) -> None:
    outbox.enqueue(make_receipt(1))
    outbox.enqueue(make_receipt(2))
    first, second = outbox.pending(10)
    outbox.mark_acked([first.id])
    outbox.mark_rejected(second.id, "items.0.price: bad")
    assert outbox.enqueue(make_receipt(1)) is False
    assert outbox.enqueue(make_receipt(2)) is False
    assert outbox.pending(10) == []
    stats = outbox.stats()
    assert (stats.pending, stats.acked, stats.rejected) == (0, 1, 1)


def test_pending_is_oldest_first_and_limited(outbox: Outbox) -> None:
    for n in (5, 3, 9, 1):
        outbox.enqueue(make_receipt(n))
    entries = outbox.pending(3)
    assert [e.payload["fiscal"]["fd_number"] for e in entries] == [6, 4, 10]
    assert all(isinstance(e, OutboxEntry) for e in entries)
    assert entries[0].closed_at.tzinfo is UTC


def test_closed_at_is_kept_in_utc(outbox: Outbox) -> None:
    msk = datetime(2024, 3, 1, 18, 0, tzinfo=timezone(timedelta(hours=3)))
    outbox.enqueue(make_receipt(1), closed_at=msk)
    [entry] = outbox.pending(1)
    assert entry.closed_at == datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
    assert entry.closed_at.utcoffset() == timedelta(0)


def test_state_transitions_and_stats(outbox: Outbox) -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for n in range(5):
        outbox.enqueue(make_receipt(n), closed_at=t0 + timedelta(seconds=n))
    empty = outbox.stats()
    assert (empty.pending, empty.acked, empty.rejected, empty.total) == (5, 0, 0, 5)
    assert empty.oldest_pending_closed_at == t0
    assert empty.last_acked_at is None

    ids = [e.id for e in outbox.pending(10)]
    outbox.record_failure(ids[:2], "ConnectError: connection refused")
    outbox.record_failure(ids[:1], "HTTP 503")
    assert outbox.attempts(str(make_receipt(0).key)) == (2, "HTTP 503")
    assert outbox.attempts(str(make_receipt(1).key)) == (1, "ConnectError: connection refused")

    outbox.mark_acked(ids[:2], at=t0 + timedelta(seconds=10))
    outbox.mark_rejected(ids[2], "fiscal.fn_serial: must be 16 digits")
    stats = outbox.stats()
    assert (stats.pending, stats.acked, stats.rejected, stats.total) == (2, 2, 1, 5)
    assert stats.oldest_pending_closed_at == t0 + timedelta(seconds=3)
    assert stats.last_acked_at == t0 + timedelta(seconds=10)
    assert sorted(outbox.ack_latencies()) == [9.0, 10.0]
    assert outbox.attempts(str(make_receipt(0).key)) == (2, None)  # acked: the error is history

    # Rejected rows are final: no ack, no retry, no second rejection overwrites the reason.
    outbox.mark_acked([ids[2]])
    outbox.mark_rejected(ids[2], "another reason")
    outbox.mark_rejected(ids[3], "late")
    outbox.mark_acked([ids[3]])  # a rejected row is not acked afterwards either
    [later, first] = outbox.rejected()
    assert isinstance(first, RejectedEntry)
    assert first.reason == "fiscal.fn_serial: must be 16 digits"
    assert later.reason == "late"
    assert [e.id for e in outbox.pending(10)] == [ids[4]]
    assert outbox.rejected(limit=1) == [later]


def test_purge_removes_only_old_acked_rows(outbox: Outbox) -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    for n in range(6):
        outbox.enqueue(make_receipt(n), closed_at=t0)
    ids = [e.id for e in outbox.pending(10)]
    outbox.mark_acked(ids[:2], at=t0 + timedelta(days=1))
    outbox.mark_acked(ids[2:4], at=t0 + timedelta(days=40))
    outbox.mark_rejected(ids[4], "bad")
    assert outbox.purge_acked(t0 + timedelta(days=30)) == 2
    assert outbox.purge_acked(t0 + timedelta(days=30)) == 0
    stats = outbox.stats()
    assert (stats.pending, stats.acked, stats.rejected) == (1, 2, 1)
    # A purged key stays purged: the cloud has it, a re-enqueue would only be acked as a duplicate.
    assert outbox.purge_acked(datetime.now(UTC) + timedelta(days=365)) == 2
    assert outbox.stats().total == 2


def test_ids_are_never_reused_after_a_purge(outbox: Outbox) -> None:
    outbox.enqueue(make_receipt(1))
    [first] = outbox.pending(1)
    outbox.mark_acked([first.id])
    outbox.purge_acked(datetime.now(UTC) + timedelta(days=1))
    outbox.enqueue(make_receipt(2))
    [second] = outbox.pending(1)
    assert second.id > first.id


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as box:
        for n in range(3):
            box.enqueue(make_receipt(n))
        box.mark_acked([box.pending(1)[0].id])
    with Outbox(path) as box:
        stats = box.stats()
        assert (stats.pending, stats.acked) == (2, 1)
        assert box.enqueue(make_receipt(0)) is False


def test_concurrent_enqueue_from_threads_loses_and_duplicates_nothing(outbox: Outbox) -> None:
    # Two tills' worth of threads closing overlapping receipts at once, as a retrying POS would.
    results: list[bool] = []
    lock = threading.Lock()

    def close_many(offset: int) -> None:
        for n in range(offset, offset + 60):
            new = outbox.enqueue(make_receipt(n))
            with lock:
                results.append(new)

    threads = [threading.Thread(target=close_many, args=(o,)) for o in (0, 30, 0, 60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 120  # keys 0..119
    assert len(outbox.pending(1000)) == 120
    assert len({e.key for e in outbox.pending(1000)}) == 120


def test_empty_id_lists_are_no_ops(outbox: Outbox) -> None:
    outbox.mark_acked([])
    outbox.record_failure([], "nothing")
    assert outbox.stats().total == 0
