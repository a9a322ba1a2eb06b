"""The sync worker against the real cloud app over loopback HTTP (SQLite, and PostgreSQL when configured)."""

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.outcome import OutcomeKind
from sync.settings import SyncSettings
from sync.worker import SyncWorker
from tests.support.receipts import make_receipt
from tests.sync.conftest import Cloud
from tests.sync.helpers import running, wait_for


@pytest.fixture
def client(cloud: Cloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.url, auth=BearerToken(cloud.token), timeout=10) as c:
        yield c


def test_drains_the_outbox_in_batches_and_the_cloud_holds_each_receipt_once(
    cloud: Cloud, client: httpx.Client, outbox: Outbox
) -> None:
    for n in range(450):
        outbox.enqueue(make_receipt(n))
    # One batch at a time, never larger than batch_size: the backlog path is the next test's.
    worker = SyncWorker(
        outbox, client, SyncSettings(cloud.store_id, batch_size=200, backlog_batch_size=200, in_flight=1)
    )
    outcomes = [worker.run_once() for _ in range(4)]
    assert [o.kind for o in outcomes] == [OutcomeKind.SYNCED] * 3 + [OutcomeKind.IDLE]
    assert [o.sent for o in outcomes] == [200, 200, 50, 0]
    assert sum(o.acked for o in outcomes) == 450
    stats = outbox.stats()
    assert (stats.pending, stats.acked, stats.rejected) == (0, 450, 0)
    keys = cloud.receipt_keys()
    assert len(keys) == 450
    assert set(keys) == {str(make_receipt(n).key) for n in range(450)}
    status = worker.status
    assert status.online
    assert status.last_sync_at is not None
    assert status.consecutive_failures == 0
    assert len(outbox.ack_latencies()) == 450


def test_a_backlog_goes_in_growing_batches_two_at_a_time_and_each_receipt_is_stored_once(
    cloud: Cloud, client: httpx.Client, outbox: Outbox
) -> None:
    for n in range(2500):
        outbox.enqueue(make_receipt(n))
    worker = SyncWorker(outbox, client, SyncSettings(cloud.store_id, batch_size=100))
    outcomes = [worker.run_once() for _ in range(4)]
    # Two batches per round; each full one doubles the size up to the protocol's 1000: 2×100, 2×400,
    # then 1000 + the last 500. The half-full one ends the backlog: the size is back to batch_size.
    assert [o.sent for o in outcomes] == [200, 800, 1500, 0]
    assert [o.kind for o in outcomes] == [OutcomeKind.SYNCED] * 3 + [OutcomeKind.IDLE]
    assert sum(o.acked for o in outcomes) == 2500
    assert worker.status.batch_limit == 100
    stats = outbox.stats()
    assert (stats.pending, stats.acked, stats.rejected) == (0, 2500, 0)
    keys = cloud.receipt_keys()
    assert sorted(keys) == sorted(str(make_receipt(n).key) for n in range(2500))


def test_a_resend_after_a_lost_ack_is_acked_as_duplicate_and_stored_once(
    cloud: Cloud, client: httpx.Client, tmp_path: Path
) -> None:
    # The ack of the first send never reached the outbox (the agent died between send and mark_acked):
    # the same receipts go again from a copy of the queue. The cloud must keep one of each.
    first, second = Outbox(tmp_path / "a.db"), Outbox(tmp_path / "b.db")
    try:
        for n in range(30):
            first.enqueue(make_receipt(n))
            second.enqueue(make_receipt(n))
        assert SyncWorker(first, client, SyncSettings(cloud.store_id)).run_once().acked == 30
        again = SyncWorker(second, client, SyncSettings(cloud.store_id)).run_once()
        assert (again.kind, again.acked) == (OutcomeKind.SYNCED, 30)
        assert second.stats().acked == 30
        assert sorted(cloud.receipt_keys()) == sorted(str(make_receipt(n).key) for n in range(30))
    finally:
        first.close()
        second.close()


def test_a_receipt_the_cloud_refuses_is_kept_as_rejected_and_does_not_block_the_rest(
    cloud: Cloud, client: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as box:
        for n in range(5):
            box.enqueue(make_receipt(n))
    # A row written by an older agent whose payload the cloud no longer accepts (edited in the file the
    # way such a row would look on disk): the worker cannot produce one through the domain model.
    with sqlite3.connect(path) as raw:
        (payload,) = raw.execute("SELECT payload FROM outbox WHERE id = 3").fetchone()
        data = json.loads(payload)
        data["fiscal"]["fn_serial"] = "12345"
        raw.execute("UPDATE outbox SET payload = ? WHERE id = 3", (json.dumps(data),))
    with Outbox(path) as box:
        worker = SyncWorker(box, client, SyncSettings(cloud.store_id))
        outcome = worker.run_once()
        assert (outcome.kind, outcome.sent, outcome.acked, outcome.rejected) == (OutcomeKind.SYNCED, 5, 4, 1)
        assert worker.run_once().kind is OutcomeKind.IDLE  # not retried
        [bad] = box.rejected()
        assert bad.id == 3
        assert "fn_serial" in bad.reason
        stats = box.stats()
        assert (stats.pending, stats.acked, stats.rejected) == (0, 4, 1)
    assert len(cloud.receipt_keys()) == 4


def test_a_register_cannot_write_to_another_store(cloud: Cloud, client: httpx.Client, outbox: Outbox) -> None:
    outbox.enqueue(make_receipt(1))
    worker = SyncWorker(outbox, client, SyncSettings(cloud.other_store_id))
    outcome = worker.run_once()
    assert (outcome.kind, outcome.status_code) == (OutcomeKind.REFUSED, 403)
    assert outcome.delay >= 60  # store IT has to act: no hammering the cloud meanwhile
    assert outbox.stats().pending == 1  # kept, to be sent once the register is enrolled right
    status = worker.status
    assert status.token_refused
    assert not status.online
    assert status.next_attempt_at is not None
    assert status.last_error is not None
    assert "refused" in status.last_error
    assert cloud.receipt_keys(cloud.other_store_id) == []


def test_an_unknown_token_is_refused_and_rows_are_kept(cloud: Cloud, outbox: Outbox) -> None:
    outbox.enqueue(make_receipt(1))
    with httpx.Client(base_url=cloud.url, auth=BearerToken("not-a-token")) as bad:
        outcome = SyncWorker(outbox, bad, SyncSettings(cloud.store_id)).run_once()
    assert (outcome.kind, outcome.status_code) == (OutcomeKind.REFUSED, 401)
    assert outbox.stats().pending == 1
    assert outbox.attempts(str(make_receipt(1).key))[0] == 1


def test_heartbeat_reports_the_queue_and_reads_the_clock_skew(
    cloud: Cloud, client: httpx.Client, outbox: Outbox
) -> None:
    outbox.enqueue(make_receipt(1))
    worker = SyncWorker(outbox, client, SyncSettings(cloud.store_id, agent_version="9.9.9"))
    ack = worker.heartbeat()
    assert ack is not None
    assert abs(ack.clock_skew_s) < 300  # same machine: the clocks agree to well within minutes
    status = worker.status
    assert status.online
    assert status.last_heartbeat_at is not None
    assert status.clock_skew_s == ack.clock_skew_s
    head_office = {"Authorization": f"Bearer {cloud.api_key}"}
    stores = httpx.get(cloud.url + "/v1/stores", headers=head_office).json()
    assert "9.9.9" in json.dumps(stores)


def test_the_loop_syncs_on_wake_and_survives_the_cloud_going_away(
    cloud: Cloud, client: httpx.Client, outbox: Outbox
) -> None:
    worker = SyncWorker(
        outbox,
        client,
        SyncSettings(
            cloud.store_id, batch_size=50, backoff_cap_s=0.3, poll_interval_s=0.2, heartbeat_interval_s=1.0
        ),
    )
    with running(worker):
        for n in range(120):
            outbox.enqueue(make_receipt(n))
            worker.wake()
        wait_for(lambda: outbox.stats().acked == 120, "the first 120 acked online")

        cloud.stop()
        for n in range(120, 300):
            outbox.enqueue(make_receipt(n))
            worker.wake()
        wait_for(lambda: worker.status.consecutive_failures >= 2, "failures while the cloud is down")
        assert outbox.stats().pending == 180
        assert not worker.status.online

        cloud.start()
        wait_for(lambda: outbox.stats().acked == 300, "the backlog drained after the cloud came back")
    assert sorted(cloud.receipt_keys()) == sorted(str(make_receipt(n).key) for n in range(300))
    assert worker.status.consecutive_failures == 0
