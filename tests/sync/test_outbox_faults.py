"""The outbox under faults it must survive on its own: a corrupt file at start, a full disk, a quota, a
poison receipt, a cloud that does not take gzip, and the retention purge run by the worker."""

import logging
import os
import random
import sqlite3
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from agent.local_schemas import SECRET_FILE, SECRET_HEADER
from sync.outbox import Outbox, OutboxWriteError
from sync.outcome import OutcomeKind
from sync.quarantine import quarantined_files
from sync.settings import SyncSettings
from sync.worker import SyncWorker
from tests.support.receipts import make_receipt
from tests.sync.fake_peer import FakeCloud, status

STORE = 7


def _worker(outbox: Outbox, client: httpx.Client, **options: Any) -> SyncWorker:
    return SyncWorker(outbox, client, SyncSettings(STORE, **options), rng=random.Random(5))


def _drain(worker: SyncWorker, rounds: int = 50) -> None:
    for _ in range(rounds):
        if worker.run_once().kind is OutcomeKind.IDLE:
            return
    raise AssertionError("the worker did not drain the outbox")


# --- corruption at start ------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_moved_aside_intact(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite3"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with caplog.at_level(logging.CRITICAL, logger="echeck.outbox"), Outbox(path) as box:
        assert box.recovered_from is not None
        assert box.recovered_from.read_bytes() == garbage, "moved, never altered or deleted"
        assert box.quarantined() == [box.recovered_from]
        assert box.enqueue(make_receipt(1)) is True  # the till goes on with a new outbox
    assert "OUTBOX CORRUPT" in caplog.text
    with Outbox(path) as again:  # the next start finds a healthy file: nothing more is moved
        assert again.recovered_from is None
        assert again.stats().pending == 1
        assert len(again.quarantined()) == 1


def test_a_damaged_page_is_detected_and_the_file_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as box:
        box.enqueue_many(make_receipt(n) for n in range(2000))
    size = path.stat().st_size
    with path.open("r+b") as f:  # scribble over pages in the middle (a bad sector, a torn write)
        f.seek(size // 2)
        f.write(b"\xff" * 8192)
    damaged = path.read_bytes()
    with Outbox(path) as box:
        assert box.recovered_from is not None
        assert box.recovered_from.read_bytes() == damaged, "recovery read a copy: the file is unaltered"
        # The readable pending receipts came along into the new outbox, each once; the damaged ones not.
        recovered = [e.key for e in box.pending(10_000)]
        assert 0 < len(recovered) < 2000
        assert len(recovered) == len(set(recovered)) == box.recovered
        assert set(recovered) <= {str(make_receipt(n).key) for n in range(2000)}
    assert len(quarantined_files(path)) == 1
    conn = sqlite3.connect(quarantined_files(path)[0])  # the same damage, for store IT to examine
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    finally:
        conn.close()
    assert verdict != "ok"


# --- full disk ----------------------------------------------------------------------------------------


def _cap_pages(box: Outbox, pages: int) -> None:
    """SQLite's own limit on the file's size: the same SQLITE_FULL a full disk gives."""
    sa.event.listen(box._engine, "connect", lambda conn, _r: conn.execute(f"PRAGMA max_page_count={pages}"))
    box._engine.dispose()


def test_a_full_database_fails_the_write_clearly_and_recovers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite3")
    box.enqueue(make_receipt(0))
    with box._engine.connect() as conn:
        used = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    _cap_pages(box, used + 2)

    def fill() -> None:
        for n in range(1, 500):
            box.enqueue(make_receipt(n))

    with pytest.raises(OutboxWriteError, match="full"):
        fill()
    health = box.write_health()
    assert health.error is not None
    assert "full" in health.error
    assert health.failures == 1
    stored = box.stats().total
    assert stored >= 1
    _cap_pages(box, 1_000_000)  # space freed
    assert box.enqueue(make_receipt(10_000)) is True
    assert box.write_health().error is None
    assert box.write_health().failures == 1
    box.close()


def _mount_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=False, capture_output=True
    )
    return done.returncode == 0


def test_a_really_full_filesystem_answers_the_pos_with_507(tmp_path: Path) -> None:
    """A real full disk: a 600 KB tmpfs (needs root; skipped otherwise), the agent's checkout API."""
    mount = tmp_path / "tiny"
    if not _mount_tmpfs(mount, "600k"):
        pytest.skip("mounting a tmpfs needs root")
    try:
        from agent.bootstrap import Agent, create_app
        from agent.config import AgentConfig
        from tests.support.live_server import live_server

        agent = Agent(AgentConfig(data_dir=mount, credentials="file"))
        close_codes: list[int] = []
        with live_server(create_app(agent)) as url, httpx.Client(base_url=url, timeout=10) as pos:
            for n in range(5000):
                receipt = make_receipt(n)
                cid = pos.post("/pos/v1/checkouts", json={}).json()["checkout_id"]
                fiscal = receipt.fiscal
                body = {
                    "fiscal": {
                        "fn_serial": fiscal.fn_serial,
                        "fd_number": fiscal.fd_number,
                        "fpd": fiscal.fpd,
                        "registration_number": fiscal.registration_number,
                        "shift_number": fiscal.shift_number,
                        "receipt_number": fiscal.receipt_number,
                        "issued_at": fiscal.issued_at.isoformat(),
                    },
                    "items": [
                        {
                            "name": "Хлеб",
                            "price": receipt.total,
                            "quantity": "1",
                            "total": receipt.total,
                            "vat": "vat10",
                        }
                    ],
                    "payments": [{"kind": "card", "amount": receipt.total}],
                    "total": receipt.total,
                }
                answer = pos.post(f"/pos/v1/checkouts/{cid}/close", json=body)
                close_codes.append(answer.status_code)
                if answer.status_code != 200:
                    break
            assert close_codes[-1] == 507, close_codes[-3:]
            assert "not queued" in answer.json()["detail"]
            assert "full" in answer.json()["detail"]
            secret = {SECRET_HEADER: (mount / SECRET_FILE).read_text().strip()}  # the full status needs it
            status_ = pos.get("/agent/v1/status", headers=secret).json()
        assert "full" in status_["outbox"]["write_error"]
        assert status_["outbox"]["write_failures"] >= 1
        assert status_["outbox"]["pending"] == close_codes.count(200), "every 200 close is in the outbox"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# --- quota ---------------------------------------------------------------------------------------------


def test_the_quota_alarms_but_never_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, peer: FakeCloud, client: httpx.Client
) -> None:
    with Outbox(tmp_path / "o.sqlite3", quota_bytes=64 * 1024) as box:
        box.enqueue_many(make_receipt(n) for n in range(400))
        stats = box.stats()
        assert stats.over_quota
        assert stats.pending == 400
        assert box.enqueue(make_receipt(400)) is True, "over quota, a close is still queued"
        worker = _worker(box, client)
        with caplog.at_level(logging.ERROR, logger="echeck.sync"):
            worker.maintain()
        assert "OVER QUOTA" in caplog.text
        assert worker.status.over_quota
        assert box.stats().pending == 401


# --- retention ------------------------------------------------------------------------------------------


def test_the_worker_purges_acked_rows_past_the_retention_only(
    outbox: Outbox, peer: FakeCloud, client: httpx.Client
) -> None:
    outbox.enqueue_many(make_receipt(n) for n in range(10))
    worker = _worker(outbox, client, retention=timedelta(days=30))
    _drain(worker)
    outbox.enqueue(make_receipt(10))  # pending: never purged
    assert worker.maintain() == 0  # acked just now: kept
    assert worker.maintain(now=datetime.now(UTC) + timedelta(days=31)) == 10
    stats = outbox.stats()
    assert (stats.pending, stats.acked) == (1, 0)
    assert worker.status.purged == 10


# --- poison receipts --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [400, 422, 500])
def test_a_poison_receipt_is_dead_lettered_and_never_blocks_the_queue(
    code: int, outbox: Outbox, peer: FakeCloud, client: httpx.Client
) -> None:
    outbox.enqueue_many(make_receipt(n) for n in range(40))
    bad = str(make_receipt(13).key)
    peer.poison[bad] = code  # any batch holding it fails as a whole, for ever
    worker = _worker(outbox, client, backoff_base_s=0.0, backoff_cap_s=0.0, batch_size=16)
    _drain(worker, rounds=200)
    [dead] = outbox.rejected()
    assert dead.key == bad
    assert f"HTTP {code}" in dead.reason
    assert sorted(peer.stored) == sorted(str(make_receipt(n).key) for n in range(40) if n != 13)
    assert outbox.stats().pending == 0
    # Fixed on the cloud: store IT sends it again and it goes through.
    del peer.poison[bad]
    assert outbox.requeue_rejected() == 1
    _drain(worker)
    assert bad in peer.stored


def test_a_receipt_too_large_even_alone_is_dead_lettered_and_the_receipts_behind_it_sync(
    outbox: Outbox, peer: FakeCloud, client: httpx.Client
) -> None:
    """A 35 MB receipt that the cloud answers 413 even when it is sent alone."""
    outbox.enqueue_many(make_receipt(n) for n in range(10))
    huge = replace(make_receipt(10), extra={"scan": "0123456789abcdef" * 2_187_500})  # 35 MB of JSON
    outbox.enqueue(huge)
    outbox.enqueue_many(make_receipt(n) for n in range(11, 40))
    peer.max_body = 1_000_000
    worker = _worker(outbox, client, backoff_base_s=0.0, backoff_cap_s=0.0, batch_size=16)
    _drain(worker, rounds=200)
    [dead] = outbox.rejected()
    assert dead.key == str(huge.key)
    assert "too large" in dead.reason
    assert "HTTP 413" in dead.reason
    assert sorted(peer.stored) == sorted(str(make_receipt(n).key) for n in range(40) if n != 10)
    stats = outbox.stats()
    assert (stats.pending, stats.rejected) == (0, 1)
    assert worker.status.consecutive_failures == 0


def test_a_cloud_failing_for_everyone_dead_letters_nothing(
    outbox: Outbox, peer: FakeCloud, client: httpx.Client
) -> None:
    outbox.enqueue_many(make_receipt(n) for n in range(8))
    peer.script.extend(status(500) for _ in range(60))
    worker = _worker(outbox, client, backoff_base_s=0.0, backoff_cap_s=0.0)
    for _ in range(60):
        worker.run_once()
    assert outbox.stats().rejected == 0
    _drain(worker)
    assert len(peer.stored) == 8


# --- gzip ------------------------------------------------------------------------------------------------


def test_batches_go_gzipped_and_plain_after_a_415(
    outbox: Outbox, peer: FakeCloud, client: httpx.Client
) -> None:
    outbox.enqueue_many(make_receipt(n) for n in range(3))
    peer.script.append(status(415))
    worker = _worker(outbox, client)
    first = worker.run_once()
    assert (first.kind, first.status_code, first.delay) == (OutcomeKind.FAILED, 415, 0)
    assert worker.run_once().acked == 3
    assert peer.encodings == ["gzip", ""]
    assert worker.status.gzip is False
