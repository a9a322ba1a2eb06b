"""The one job mechanism on SQLite and PostgreSQL: deferred jobs run once, failures are retried with backoff
and then kept as failed, jobs of one lock never run together, a schedule is moved rather than duplicated,
periodic jobs come back, and two workers never run one job twice."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.db import make_engine, migrate
from cloud.jobs import Job, JobArgs, JobRegistry, Worker, WorkerOptions
from cloud.jobs.job import TABLE

PING = Job("test.ping")
FLAKY = Job("test.flaky", max_attempts=3, retry_base_s=10)
LOCKED = Job("test.locked", lock_by="thing")
TICK = Job("test.tick", every_s=60)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(sa.select(TABLE).order_by(TABLE.c.id)).mappings()]


def enqueue(engine: Engine, job: Job, args: JobArgs, at: datetime) -> None:
    with Session(engine) as s:
        job.defer(s, args, at)
        s.commit()


def test_a_deferred_job_runs_once_at_its_time_and_leaves_no_row(engine: Engine) -> None:
    clock, seen = Clock(), []
    registry = JobRegistry()
    registry.register(PING, lambda args: seen.append(args["n"]))
    worker = Worker(engine, registry, clock=clock)
    enqueue(engine, PING, {"n": 1}, clock.now + timedelta(seconds=30))
    assert worker.run_once() == 0  # not due yet
    clock.advance(30)
    assert worker.run_once() == 1
    assert worker.run_once() == 0
    assert seen == [1]
    assert rows(engine) == []
    worker.close()


def test_a_failing_job_is_retried_with_backoff_then_kept_as_failed(engine: Engine) -> None:
    clock, calls = Clock(), []

    def flaky(args: JobArgs) -> None:
        calls.append(clock.now)
        raise RuntimeError("provider down")

    registry = JobRegistry()
    registry.register(FLAKY, flaky)
    worker = Worker(engine, registry, clock=clock)
    enqueue(engine, FLAKY, {}, clock.now)
    assert worker.run_once() == 1
    assert worker.run_once() == 0  # backing off: 10 s
    clock.advance(10)
    assert worker.run_once() == 1
    clock.advance(10)
    assert worker.run_once() == 0  # second backoff is 20 s
    clock.advance(10)
    assert worker.run_once() == 1
    clock.advance(3600)
    assert worker.run_once() == 0  # three attempts: given up
    [row] = rows(engine)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert "provider down" in row["last_error"]
    assert len(calls) == 3
    worker.close()


def test_jobs_of_one_lock_never_run_together_and_schedules_move(engine: Engine) -> None:
    clock = Clock()
    inside, most = [0], [0]
    release = threading.Event()
    guard = threading.Lock()

    def locked(args: JobArgs) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        release.wait(10)
        with guard:
            inside[0] -= 1

    registry = JobRegistry()
    registry.register(LOCKED, locked)
    with Session(engine) as s:
        LOCKED.schedule(s, {"thing": 1}, clock.now + timedelta(seconds=60))
        LOCKED.schedule(s, {"thing": 1}, clock.now)  # moved, not a second job
        LOCKED.defer(s, {"thing": 1}, clock.now)  # a plain second job of the same lock
        LOCKED.defer(s, {"thing": 2}, clock.now)
        s.commit()
    assert len(rows(engine)) == 3
    first, second = Worker(engine, registry, clock=clock), Worker(engine, registry, clock=clock)
    claimed = first.claim(10) + second.claim(10)
    assert sorted(c.args["thing"] for c in claimed) == [1, 2]  # thing 1 once, although two were due
    release.set()
    for c in claimed:
        first.run(c)
    assert first.run_once() + second.run_once() == 1  # now the other job of thing 1
    assert rows(engine) == []
    assert most[0] <= 2
    first.close()
    second.close()


def test_a_periodic_job_keeps_one_waiting_run(engine: Engine) -> None:
    clock, ticks = Clock(), []
    registry = JobRegistry()
    registry.register(TICK, lambda args: ticks.append(clock.now))
    workers = [Worker(engine, registry, clock=clock) for _ in range(2)]
    for w in workers:
        w.ensure_periodic()  # two workers starting: still one waiting run
    assert len(rows(engine)) == 1
    assert workers[0].run_once() == 1
    assert workers[1].run_once() == 0
    clock.advance(60)
    assert workers[1].run_once() == 1
    assert len(ticks) == 2
    [row] = rows(engine)
    assert row["status"] == "todo"
    for w in workers:
        w.close()


def test_a_lost_workers_job_runs_again_after_its_lease(engine: Engine) -> None:
    clock, seen = Clock(), []
    registry = JobRegistry()
    registry.register(PING, lambda args: seen.append(args["n"]))
    lost = Worker(engine, registry, WorkerOptions(name="lost", lease_s=30), clock=clock)
    enqueue(engine, PING, {"n": 7}, clock.now)
    [claimed] = lost.claim(10)  # ... and the process dies before running it
    other = Worker(engine, registry, WorkerOptions(name="other"), clock=clock)
    assert other.run_once() == 0  # leased
    clock.advance(30)
    assert other.run_once() == 1
    assert seen == [7]
    lost.run(claimed)  # the lost worker comes back late: its claim is no longer its own
    assert rows(engine) == []
    lost.close()
    other.close()


def test_many_workers_run_each_job_exactly_once(engine: Engine) -> None:
    seen: list[int] = []
    guard = threading.Lock()

    def ping(args: JobArgs) -> None:
        with guard:
            seen.append(int(args["n"]))

    registry = JobRegistry()
    registry.register(PING, ping)
    with Session(engine) as s:
        for n in range(200):
            PING.defer(s, {"n": n})
        s.commit()
    workers = [Worker(engine, registry, WorkerOptions(name=f"w{i}", batch=7, poll_s=0.01)) for i in range(4)]
    threads = [threading.Thread(target=lambda w=w: [w.run_once() for _ in range(60)]) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    while sum(w.run_once() for w in workers):
        pass
    assert sorted(seen) == list(range(200))
    for w in workers:
        w.close()


def test_a_lost_workers_job_keeps_its_lock_until_it_ran_again(engine: Engine) -> None:
    """A worker SIGKILLed mid-job leaves a running row whose lease ran out; a waiting job of the same lock
    (a delivery's next step) must not start beside it, nor make the claim fail: the lost one runs first."""
    clock, seen = Clock(), []
    registry = JobRegistry()
    registry.register(LOCKED, lambda args: seen.append(args["n"]))
    lost = Worker(engine, registry, WorkerOptions(name="lost", lease_s=30), clock=clock)
    enqueue(engine, LOCKED, {"thing": 1, "n": "first"}, clock.now)
    [_] = lost.claim(10)  # ... and the process dies
    enqueue(engine, LOCKED, {"thing": 1, "n": "second"}, clock.now)
    other = Worker(engine, registry, WorkerOptions(name="other", batch=1), clock=clock)
    assert other.run_once() == 0  # the lock is held
    clock.advance(30)
    assert other.run_once() == 1
    assert other.run_once() == 1
    assert seen == ["first", "second"]
    lost.close()
    other.close()
