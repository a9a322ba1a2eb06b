"""The worker against peers that fail: 500, 503/429 with Retry-After, slow answers, dropped, reset and
truncated connections, odd batch answers. Each peer is a fake on loopback; the worker and outbox are real."""

import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import JSONResponse

from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.outcome import OutcomeKind
from sync.settings import SyncSettings
from sync.worker import SyncWorker
from tests.support.receipts import make_receipt
from tests.sync.fake_peer import FakeCloud, Receipts, RudePeer, key_of, slow, status
from tests.sync.helpers import Served, running, wait_for

STORE = 7


def _fill(outbox: Outbox, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        outbox.enqueue(make_receipt(n))


def _worker(outbox: Outbox, client: httpx.Client, **options: Any) -> SyncWorker:
    return SyncWorker(outbox, client, SyncSettings(STORE, **options), rng=random.Random(3))


def test_the_bearer_token_is_sent_and_never_shown(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 3)
    assert _worker(outbox, client).run_once().acked == 3
    assert peer.authorizations == ["Bearer tok-123"]
    assert "tok-123" not in repr(BearerToken("tok-123"))


def test_503_with_retry_after_keeps_rows_and_waits_at_least_as_asked(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 5)
    peer.script.append(status(503, retry_after="7"))
    worker = _worker(outbox, client)
    outcome = worker.run_once()
    assert (outcome.kind, outcome.status_code, outcome.retry_after) == (OutcomeKind.FAILED, 503, 7.0)
    assert outcome.delay >= 7.0
    assert outbox.stats().pending == 5
    assert outbox.attempts(str(make_receipt(0).key)) == (1, "HTTP 503")
    status_ = worker.status
    assert not status_.online
    assert status_.consecutive_failures == 1
    assert status_.next_attempt_at is not None
    assert status_.next_attempt_at > datetime.now(UTC) + timedelta(seconds=5)
    # The next attempt (here forced by calling run_once) goes through and clears the failure state.
    assert worker.run_once().acked == 5
    assert worker.status.consecutive_failures == 0
    assert worker.status.next_attempt_at is None
    assert worker.status.last_error is None


def test_429_with_an_http_date_retry_after(peer: FakeCloud, client: httpx.Client, outbox: Outbox) -> None:
    _fill(outbox, 1)
    when = datetime.now(UTC) + timedelta(seconds=120)
    peer.script.append(status(429, retry_after=format_datetime(when, usegmt=True)))
    outcome = _worker(outbox, client).run_once()
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.retry_after is not None
    assert 60 < outcome.retry_after <= 121
    assert outcome.delay >= outcome.retry_after


def test_500s_back_off_exponentially_with_a_cap(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    # One row: nothing behind it to tell "this receipt breaks the cloud" from "the cloud is down".
    _fill(outbox, 1)
    peer.script.extend(status(500) for _ in range(12))
    worker = _worker(outbox, client, backoff_base_s=0.5, backoff_cap_s=4.0)
    delays = [worker.run_once().delay for _ in range(12)]
    ceilings = [min(4.0, 0.5 * 2**i) for i in range(12)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert worker.status.consecutive_failures == 12
    assert (worker.status.last_error or "").startswith("HTTP 500: scripted 500")
    assert outbox.attempts(str(make_receipt(0).key))[0] == 12
    assert outbox.stats().rejected == 0, "a cloud failing for everyone never dead-letters anything"
    assert worker.run_once().acked == 1
    assert list(peer.stored) == [str(make_receipt(0).key)]


def test_a_slow_cloud_times_out_and_rows_stay(peer: FakeCloud, outbox: Outbox) -> None:
    _fill(outbox, 3)
    peer.script.append(slow(1.0))
    with httpx.Client(base_url=peer.url, auth=BearerToken("t")) as c:
        worker = _worker(outbox, c, timeout_s=0.2)
        outcome = worker.run_once()
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.error is not None
    assert "Timeout" in outcome.error
    assert outbox.stats().pending == 3


@pytest.mark.parametrize("mode", ["close", "reset", "truncate"])
def test_dropped_reset_and_truncated_connections_keep_rows(mode: str, outbox: Outbox) -> None:
    _fill(outbox, 4)
    rude = RudePeer(mode)
    with rude.serving(), httpx.Client(base_url=rude.url, auth=BearerToken("t"), timeout=2) as c:
        worker = _worker(outbox, c)
        outcomes = [worker.run_once() for _ in range(3)]
    assert rude.connections >= 3
    assert all(o.kind is OutcomeKind.FAILED for o in outcomes)
    assert worker.status.consecutive_failures == 3
    stats = outbox.stats()
    assert (stats.pending, stats.acked) == (4, 0)


def test_a_refused_connection_is_a_failure_and_a_heartbeat_ends_the_backoff(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 2)
    served: Served = peer.served
    served.stop()
    worker = _worker(outbox, client, backoff_base_s=60, backoff_cap_s=60)
    assert worker.run_once().kind is OutcomeKind.FAILED
    assert worker.heartbeat() is None  # still down
    served.start()
    assert worker.heartbeat() is not None
    # The cloud answers again: the batch need not wait out the rest of its backoff.
    next_at = worker.status.next_attempt_at
    assert next_at is not None
    assert next_at <= datetime.now(UTC)
    assert peer.heartbeats[-1]["queue_depth"] == 2
    assert peer.heartbeats[-1]["last_error"].startswith("ConnectError")


def test_rejected_items_are_kept_with_the_reason_and_logs_hold_no_phone(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(outbox, 4)

    def reject_second(receipts: Receipts) -> JSONResponse:
        accepted = [
            {"index": i, "key": key_of(r), "status": "stored"} for i, r in enumerate(receipts) if i != 1
        ]
        reason = "contact: +7 916 123-45-67 is not a valid phone"
        return JSONResponse({"accepted": accepted, "rejected": [{"index": 1, "reason": reason}]})

    peer.script.append(reject_second)
    worker = _worker(outbox, client)
    with caplog.at_level(logging.DEBUG, logger="echeck.sync"):
        outcome = worker.run_once()
    assert (outcome.acked, outcome.rejected) == (3, 1)
    [bad] = outbox.rejected()
    assert bad.key == str(make_receipt(1).key)
    assert "not a valid phone" in bad.reason
    assert worker.run_once().kind is OutcomeKind.IDLE  # a poison item does not come back
    # The message and the extras, not the record's bookkeeping (pid, timestamps hold random digits).
    standard = set(vars(logging.makeLogRecord({})))
    logged = " ".join(
        f"{record.getMessage()} " + " ".join(str(v) for k, v in vars(record).items() if k not in standard)
        for record in caplog.records
    )
    assert "rejected" in logged
    assert "123-45-67" not in logged
    assert "916" not in logged


def test_an_answer_about_other_keys_or_missing_items_acks_nothing_wrong(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 3)

    def confused(receipts: Receipts) -> JSONResponse:
        return JSONResponse(
            {
                "accepted": [
                    {"index": 0, "key": key_of(receipts[0]), "status": "stored"},
                    {"index": 1, "key": "0000000000000000:1:1", "status": "stored"},  # not the row sent
                    {"index": 99, "key": "x", "status": "stored"},  # no such position
                ],
                "rejected": [],
            }
        )

    peer.script.extend([confused, lambda _r: JSONResponse({"nonsense": True})])
    worker = _worker(outbox, client)
    assert worker.run_once().acked == 1
    assert [e.key for e in outbox.pending(10)] == [str(make_receipt(n).key) for n in (1, 2)]
    assert outbox.attempts(str(make_receipt(2).key)) == (1, "missing from the cloud's answer")
    garbled = worker.run_once()  # a 200 whose body is not a BatchResult
    assert garbled.kind is OutcomeKind.FAILED
    assert outbox.stats().pending == 2
    assert worker.run_once().acked == 2


def test_413_halves_the_batch(peer: FakeCloud, client: httpx.Client, outbox: Outbox) -> None:
    _fill(outbox, 100)
    peer.script.extend([status(413), status(413)])
    worker = _worker(outbox, client, batch_size=100)
    assert [worker.run_once().kind for _ in range(2)] == [OutcomeKind.FAILED] * 2
    assert worker.run_once().acked == 25
    assert peer.batches[:3] == [100, 50, 25]


def test_one_of_two_batches_in_flight_fails_the_other_is_acked_and_the_worker_backs_off(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 200)
    peer.script.append(status(500))  # whichever of the two batches reaches the cloud first gets it
    worker = _worker(outbox, client, batch_size=100)
    outcome = worker.run_once()
    assert peer.batches == [100, 100]
    assert (outcome.kind, outcome.status_code) == (OutcomeKind.FAILED, 500)
    stats = outbox.stats()
    assert (stats.pending, stats.acked) == (100, 100), "only the answered batch's rows left pending"
    assert len(peer.stored) == 100
    status_ = worker.status
    assert status_.consecutive_failures == 1, "the success did not undo the failure's backoff"
    assert status_.batch_limit == 50, "the failed batch is being bisected"
    # After a failure one batch at a time, until one goes through; then two again.
    assert worker.run_once().sent == 50
    assert worker.run_once().sent == 50
    assert outbox.stats().pending == 0
    assert peer.batches == [100, 100, 50, 50]
    assert len(peer.stored) == 200


def test_a_413_caps_the_backlog_batch_below_the_refused_size(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 700)
    worker = _worker(outbox, client, batch_size=100, in_flight=1)
    assert [worker.run_once().sent for _ in range(2)] == [100, 200]  # full batches: the size doubles
    peer.script.append(status(413))
    assert worker.run_once().kind is OutcomeKind.FAILED  # 400 refused as too large
    assert [worker.run_once().sent for _ in range(2)] == [200, 200]  # never 400 again
    assert peer.batches == [100, 200, 400, 200, 200]
    assert outbox.stats().pending == 0


def test_the_loop_delivers_everything_once_through_a_storm_of_faults(peer: FakeCloud, outbox: Outbox) -> None:
    rng = random.Random(42)
    faults = [status(500), status(503, "0"), status(429, "0"), status(502), slow(0.4)]
    peer.script.extend(rng.choice(faults) for _ in range(30))
    with httpx.Client(base_url=peer.url, auth=BearerToken("t"), timeout=0.25) as c:
        worker = _worker(
            outbox,
            c,
            batch_size=40,
            linger_s=0.0,
            backoff_base_s=0.01,
            backoff_cap_s=0.05,
            poll_interval_s=0.1,
        )
        with running(worker):
            for n in range(300):
                outbox.enqueue(make_receipt(n))
                if n % 25 == 0:
                    worker.wake()
            wait_for(lambda: outbox.stats().acked == 300, "all 300 acked through the faults")
    assert peer.faults == 30, "every scripted fault was injected"
    assert set(peer.stored) == {str(make_receipt(n).key) for n in range(300)}
    # At-least-once: a slow answer's batch was stored but its ack lost, so it came again as a duplicate.
    assert sum(peer.received.values()) >= 300
    assert outbox.stats().pending == 0
    assert peer.heartbeats, "the loop sent a heartbeat"


def test_a_revoked_register_stops_sending_keeps_its_queue_and_says_so(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 3)
    peer.revoked = True
    worker = _worker(outbox, client, refused_backoff_s=3600, heartbeat_interval_s=0.01, poll_interval_s=0.01)
    outcome = worker.run_once()
    assert (outcome.kind, outcome.status_code, outcome.delay) == (OutcomeKind.REFUSED, 403, 3600)
    status_ = worker.status
    assert status_.register_revoked
    assert status_.token_refused
    assert "revoked" in (status_.last_error or "")
    assert worker.heartbeat() is None
    assert worker.status.register_revoked
    peer.refused.clear()
    with running(worker):
        # Closes go on at the till: each wakes the worker, none may make it call the cloud again.
        for n in range(3, 23):
            outbox.enqueue(make_receipt(n))
            worker.wake()
            time.sleep(0.02)  # a till's pace, not a wait for a condition
    assert peer.refused == [], "nothing was sent before the slow re-check"
    assert outbox.stats().pending == 23, "the whole queue is kept"
    assert peer.stored == {}


def test_a_revoked_register_re_checks_slowly_and_syncs_once_enrolled_again(
    peer: FakeCloud, client: httpx.Client, outbox: Outbox
) -> None:
    _fill(outbox, 5)
    peer.revoked = True
    worker = _worker(outbox, client, refused_backoff_s=0.3, heartbeat_interval_s=0.05, poll_interval_s=0.05)
    with running(worker):
        wait_for(lambda: worker.status.register_revoked, "the revocation seen")
        peer.revoked = False  # store IT enrolled the register again (the cloud takes its token now)
        wait_for(lambda: outbox.stats().acked == 5, "the queue synced after the re-check")
        wait_for(lambda: not worker.status.register_revoked, "the status cleared")
    assert len(peer.stored) == 5


def test_the_agents_status_says_the_register_is_revoked_and_keeps_the_queue(
    peer: FakeCloud, tmp_path: Path
) -> None:
    """What `status` and `doctor` read: the agent's own status, from its real sync worker."""
    from agent.bootstrap import Agent
    from agent.config import AgentConfig
    from agent.credentials import open_store
    from agent.enrollment import TOKEN_NAME

    peer.revoked = True
    config = AgentConfig(data_dir=tmp_path, credentials="file")
    open_store("file", tmp_path).set(TOKEN_NAME, "tok-123")
    enrollment = {"cloud_url": peer.url, "tenant_id": 1, "store_id": STORE, "register_id": 3}
    config.enrollment_path.write_text(json.dumps(enrollment), encoding="utf-8")
    agent = Agent(config)
    _fill(agent.outbox, 4)
    agent.start()
    try:
        wait_for(lambda: bool(agent.status().sync and agent.status().sync.register_revoked), "revoked shown")
        status_ = agent.status()
        assert status_.outbox.pending == 4
        assert status_.sync is not None
        assert status_.sync.token_refused
    finally:
        agent.stop()
