"""The one job worker: claims due jobs with `FOR UPDATE SKIP LOCKED` and runs them in a thread pool.

Any number of workers (threads, processes, hosts) may run against PostgreSQL: a claim is one short
transaction that locks due rows (skipping rows another worker is claiming), marks them `doing` with a lease
(`due_at` = now + lease) and commits, so a handler runs with no job row locked. A worker killed mid-job
leaves the lease to run out; the next claim takes the job again (at-least-once: handlers are idempotent).
Jobs of one lock never run at once (a partial unique index on running jobs' `lock`). On SQLite (one writer
at a time, no row locks) one worker runs inside `echeck-cloud serve`.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cloud.db.types import utcnow
from cloud.jobs.job import TABLE, Job, JobArgs
from cloud.jobs.models import DOING, FAILED, QUEUED
from cloud.jobs.registry import JobRegistry
from cloud.logs import event

log = logging.getLogger("cloud.jobs")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    name: str = "jobs"
    concurrency: int = 16  # jobs running at once in this worker
    batch: int = 50  # most jobs claimed in one transaction
    poll_s: float = 0.2  # pause when nothing is due
    lease_s: float = 60.0  # > the longest job (a provider call times out within 60 s)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    job: Job
    args: JobArgs
    attempt: int  # 1 for the first run; the claim's identity when the result is written


class Worker:
    def __init__(
        self,
        engine: Engine,
        registry: JobRegistry,
        options: WorkerOptions | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.options = options or WorkerOptions()
        self.clock = clock
        self._pool = ThreadPoolExecutor(
            max_workers=self.options.concurrency, thread_name_prefix=f"{self.options.name}-job"
        )
        self._free = threading.Semaphore(self.options.concurrency)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- claiming -------------------------------------------------------------------------------------
    def claim(self, limit: int) -> list[Claimed]:
        """Due jobs this worker knows, at most one per lock, leased to this worker (one transaction)."""
        now = self.clock()
        t = TABLE
        # A lock is held by its running job, also one whose lease ran out: that job is claimed again
        # (below) before any waiting job of its lock may start.
        running = sa.select(t.c.lock).where(t.c.status == DOING, t.c.lock.is_not(None))
        due = (
            sa.select(t.c.id, t.c.name, t.c.args, t.c.status, t.c.lock, t.c.attempts, t.c.max_attempts)
            .where(
                t.c.status.in_((QUEUED, DOING)),
                t.c.due_at <= now,
                t.c.name.in_(self.registry.names()),
                sa.or_(t.c.lock.is_(None), t.c.status == DOING, t.c.lock.not_in(running)),
            )
            .order_by(t.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with Session(self.engine) as s:
            try:
                claimed = self._claim(s, due, now)
                s.commit()
            except IntegrityError:
                # Another worker started a job of the same lock meanwhile (PostgreSQL): none of ours ran;
                # they stay due for the next look.
                s.rollback()
                return []
        return claimed

    def _claim(self, s: Session, due: sa.Select[Any], now: datetime) -> list[Claimed]:
        t = TABLE
        claimed: list[Claimed] = []
        rows = s.execute(due).all()
        held = {r.lock for r in rows if r.status == DOING and r.lock is not None}
        lease_until = now + timedelta(seconds=self.options.lease_s)
        for r in rows:
            bound = self.registry.get(r.name)
            if bound is None or (r.status == QUEUED and r.lock is not None and r.lock in held):
                continue
            if r.status == QUEUED and r.lock is not None:
                held.add(r.lock)
            if r.attempts >= r.max_attempts:  # its last attempt's worker was lost
                self._finish(s, r.id, r.attempts, FAILED, "worker lost during the last attempt", now)
                continue
            # Compare-and-set: SQLite has no row locks (its SELECT above runs outside the write
            # transaction), so the row must still be as read; PostgreSQL's row lock makes it a formality.
            taken = s.execute(
                sa.update(t)
                .where(t.c.id == r.id, t.c.status == r.status, t.c.attempts == r.attempts)
                .values(
                    status=DOING, due_at=lease_until, attempts=r.attempts + 1, worker=self.options.name[:100]
                )
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(Claimed(r.id, bound.job, r.args, r.attempts + 1))
        return claimed

    # -- running --------------------------------------------------------------------------------------
    def run(self, claimed: Claimed) -> bool:
        """Run one claimed job and write its outcome. True when it succeeded."""
        bound = self.registry.get(claimed.job.name)
        assert bound is not None
        try:
            bound.handler(claimed.args)
        except Exception as exc:  # any failure of a job is retried or recorded, never fatal to the worker
            self._failed(claimed, exc)
            return False
        with Session(self.engine) as s:
            s.execute(sa.delete(TABLE).where(*self._ours(claimed)))
            self._next_period(s, claimed.job)
            s.commit()
        return True

    def _failed(self, claimed: Claimed, exc: Exception) -> None:
        job, now = claimed.job, self.clock()
        error = f"{type(exc).__name__}: {exc}"[:500]
        final = claimed.attempt >= job.max_attempts
        event(
            log,
            logging.ERROR if final else logging.WARNING,
            "job.failed" if final else "job.retry",
            job=job.name,
            job_id=claimed.id,
            attempt=claimed.attempt,
            error=error[:200],
        )
        if final:
            log.error("job %s gave up", job.name, exc_info=exc)
        with Session(self.engine) as s:
            if final:
                self._finish(s, claimed.id, claimed.attempt, FAILED, error, now)
                self._next_period(s, job)
            else:
                s.execute(
                    sa.update(TABLE)
                    .where(*self._ours(claimed))
                    .values(status=QUEUED, due_at=now + job.retry_in(claimed.attempt), last_error=error)
                )
            s.commit()

    def _finish(self, s: Session, job_id: int, attempts: int, status: str, error: str, now: datetime) -> None:
        t = TABLE
        # A failed job keeps its row for inspection but gives up its key and lock.
        s.execute(
            sa.update(t)
            .where(t.c.id == job_id, t.c.attempts == attempts)
            .values(status=status, key=None, lock=None, last_error=error, due_at=now)
        )

    def _next_period(self, s: Session, job: Job) -> None:
        if job.every_s:
            job.schedule(s, {}, self.clock() + timedelta(seconds=job.every_s))

    @staticmethod
    def _ours(claimed: Claimed) -> tuple[Any, ...]:
        # The row is still this claim's: not re-claimed by another worker after our lease ran out.
        t = TABLE
        return (t.c.id == claimed.id, t.c.status == DOING, t.c.attempts == claimed.attempt)

    # -- loops ----------------------------------------------------------------------------------------
    def ensure_periodic(self) -> None:
        """Each periodic job has one waiting run (several workers starting at once add only one)."""
        periodic = self.registry.periodic()
        if not periodic:
            return
        with Session(self.engine) as s:
            for job in periodic:
                job.schedule(s, {}, self.clock(), move=False)
            s.commit()

    def run_once(self) -> int:
        """Claim what is due and run it to the end (tests, the simulator). Returns jobs run."""
        claimed = self.claim(self.options.batch)
        list(self._pool.map(self.run, claimed))
        return len(claimed)

    def loop(self) -> None:
        """Until `stop()`: claim as many due jobs as there are free slots, run them in the pool, poll
        again. Database errors are logged and retried after a pause, never fatal."""
        event(
            log, logging.INFO, "worker.started", name=self.options.name, jobs=",".join(self.registry.names())
        )
        while not self._stop.is_set():
            try:
                self.ensure_periodic()
                break
            except SQLAlchemyError as exc:
                event(log, logging.WARNING, "worker.db_error", error=str(getattr(exc, "orig", exc))[:200])
                self._stop.wait(1.0)
        while not self._stop.is_set():
            free = 0
            while free < self.options.concurrency and self._free.acquire(blocking=False):
                free += 1
            try:
                claimed = self.claim(min(free, self.options.batch)) if free else []
            except SQLAlchemyError as exc:  # the database went away or refused: look again later
                event(log, logging.WARNING, "worker.db_error", error=str(getattr(exc, "orig", exc))[:200])
                claimed = []
                self._stop.wait(1.0)
            for _ in range(free - len(claimed)):
                self._free.release()
            for c in claimed:
                self._pool.submit(self._guarded, c)
            if len(claimed) < free:
                self._stop.wait(self.options.poll_s)
        self._pool.shutdown(wait=True)
        event(log, logging.INFO, "worker.stopped", name=self.options.name)

    def _guarded(self, claimed: Claimed) -> None:
        try:
            self.run(claimed)
        except Exception:  # writing the outcome failed (database gone): the lease runs out, it is retried
            log.exception("job outcome not recorded", extra={"fields": {"job_id": claimed.id}})
        finally:
            self._free.release()

    def start(self) -> "Worker":
        self._thread = threading.Thread(target=self.loop, name=self.options.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
