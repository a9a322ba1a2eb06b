"""Two writers of one delivery row: the second never silently undoes the first.

PostgreSQL locks the row (SELECT ... FOR UPDATE); SQLite has no such lock, so a provider's callback and the
worker could both read a row and the later write would undo the earlier one. The version column makes that
write fail (StaleDataError) and the writer applies its change again on the fresh row. The competing write
is injected deterministically: from inside the worker's change, between its read and its write.
"""

import threading
from datetime import timedelta

import pytest
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import select

from cloud.bootstrap import Runtime
from cloud.delivery import service, store
from cloud.delivery.cascade import Delivery, accepted, send_failed
from cloud.delivery.models import DeliveryRow
from cloud.delivery.steps import Claimed
from fakes.behaviour import Mode
from tests.cloud.delivery.conftest import Rig


def _claimed(rig: Rig) -> tuple[Runtime, Claimed]:
    rig.fakes.mail.default = Mode.SILENT
    rig.send_receipts(["buyer@example.ru"])
    runtime = rig.runtime()
    assert runtime.worker().run_once() >= 1  # "receipt stored": delivery, identity, attribution
    with rig.session() as s:
        delivery_id = s.exec(select(DeliveryRow.id)).one()
    assert delivery_id is not None
    job = runtime.delivery.claim(delivery_id)
    assert job is not None
    return runtime, job


def test_a_write_based_on_a_stale_read_fails_instead_of_undoing_the_other(rig: Rig) -> None:
    rig.send_receipts(["buyer@example.ru"])
    worker = rig.worker()
    assert worker.run_once() >= 1  # "receipt stored": delivery, identity, attribution
    worker.close()
    with rig.session() as first, rig.session() as second:
        mine = first.exec(select(DeliveryRow)).one()
        theirs = second.exec(select(DeliveryRow)).one()
        theirs.status, theirs.version = "failed", theirs.version + 1  # as store.save writes
        second.add(theirs)
        second.commit()
        mine.status, mine.version = "delivered", mine.version + 1
        first.add(mine)
        with pytest.raises(StaleDataError):
            first.commit()
    with rig.session() as s:
        assert s.exec(select(DeliveryRow)).one().status == "failed"  # the first write stands


def test_the_workers_write_and_a_competing_one_both_land(rig: Rig) -> None:
    """The competing writer runs in a thread, started between the worker's read and its write. SQLite: it
    commits at once, the worker's write fails the version check and is applied again on the fresh row.
    PostgreSQL: it waits on the row lock until the worker commits, then applies on the fresh row."""
    runtime, job = _claimed(rig)
    steps = runtime.delivery
    with rig.session() as s:
        version_before = s.exec(select(DeliveryRow)).one().version
    now = service._now()
    seen: list[Delivery] = []
    competing: list[threading.Thread] = []

    def fail_once(new: Delivery) -> Delivery:
        return send_failed(new, job.send, now, "provider timed out", True, 30)

    def accept_after_a_competing_write(d: Delivery) -> Delivery:
        seen.append(d)
        if not competing:  # another writer, between our read and our write
            competing.append(threading.Thread(target=steps._apply, args=(job, fail_once)))
            competing[0].start()
            competing[0].join(timeout=1.0)  # SQLite: done; PostgreSQL: waiting for our row lock
        return accepted(d, job.send, now + timedelta(seconds=1), "msg-after-race")

    steps._apply(job, accept_after_a_competing_write)
    competing[0].join(timeout=10)
    runtime.close()

    sqlite = rig.cloud.engine.dialect.name == "sqlite"
    assert len(seen) == (2 if sqlite else 1), "SQLite: the change ran again on the fresh row"
    with rig.session() as s:
        row = s.exec(select(DeliveryRow)).one()
        assert row.version == version_before + 2  # both writes landed, one after the other
        assert row.id is not None
        [attempt] = store.attempts_of(s, row.id).values()
        notes = " | ".join(what for _, what in attempt.history)
        assert "provider timed out" in notes, notes  # the other writer's change was not undone
