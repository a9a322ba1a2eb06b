"""A job's declaration (`Job`) and how a job gets into the table: deferred, scheduled, cancelled.

All writes join the caller's transaction (the session is not committed here), so "store the receipt and
enqueue what follows from it" is one atomic step: a job is never lost and never runs for work that was
rolled back.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db.types import utcnow
from cloud.jobs.models import QUEUED, JobRow

JobArgs = Mapping[str, Any]  # JSON: ids and small values, never personal data
TABLE = cast(sa.Table, JobRow.__table__)  # type: ignore[attr-defined]
RETRY_MAX_S = 300.0
_WAITING = sa.text(f"status = '{QUEUED}'")  # the partial unique index on `key` covers waiting jobs only


@dataclass(frozen=True, slots=True)
class Job:
    """What a job is called and how it runs; the handler is bound at bootstrap (`JobRegistry.register`).

    - `lock_by`: an argument whose value names a lock (`"<name>:<value>"`): jobs with the same lock never
      run at once, on any worker; `schedule` keeps at most one waiting job per lock.
    - `max_attempts`, `retry_base_s`: a failing job is retried after `retry_base_s * 2**(attempt-1)` s
      (at most 5 min), then kept as `failed`.
    - `every_s`: a periodic job; the worker keeps one waiting and enqueues the next after each run.
    """

    name: str
    lock_by: str | None = None
    max_attempts: int = 5
    retry_base_s: float = 1.0
    every_s: float | None = None

    def lock(self, args: JobArgs) -> str | None:
        if self.lock_by:
            return f"{self.name}:{args[self.lock_by]}"
        return self.name if self.every_s else None  # a periodic job never overlaps itself

    def retry_in(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(RETRY_MAX_S, self.retry_base_s * 2 ** max(0, attempts - 1)))

    def _row(self, args: JobArgs, at: datetime, key: str | None) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": dict(args),
            "status": QUEUED,
            "due_at": at,
            "key": key,
            "lock": self.lock(args),
            "attempts": 0,
            "max_attempts": self.max_attempts,
            "created_at": utcnow(),
        }

    def defer(self, session: Session, args: JobArgs, at: datetime | None = None) -> None:
        """Run once with `args`, at `at` (default: now). Not committed: joins the caller's transaction."""
        session.execute(sa.insert(TABLE), [self.deferred_row(args, at)])

    def deferred_row(self, args: JobArgs, at: datetime | None = None) -> dict[str, Any]:
        """The `job` row `defer` inserts, for a writer that inserts it within a statement of its own."""
        return self._row(args, at or utcnow(), None)

    def schedule_new(self, session: Session, many: Iterable[JobArgs], at: datetime) -> int:
        """`schedule` for many new things at once (one statement): where one already has a waiting job,
        that job stays as it is. Returns how many were given."""
        rows = [self._row(args, at, self.lock(args)) for args in many]
        if rows:
            stmt = _insert(session).on_conflict_do_nothing(index_elements=["key"], index_where=_WAITING)
            session.execute(stmt, rows)
        return len(rows)

    def schedule(self, session: Session, args: JobArgs, at: datetime, *, move: bool = True) -> None:
        """The one waiting job of this lock runs at `at` with `args`: created, or moved if it exists.

        For state machines whose next step has a time (a delivery's deadline): each change of the state
        calls this under the state's own row lock, so the schedule always follows the newest state.
        `move=False` keeps an existing waiting job as it is (a periodic job's first run).
        """
        key = self.lock(args)
        if key is None:
            raise ValueError(f"job {self.name}: schedule() needs lock_by or every_s")
        row = self._row(args, at, key)
        stmt = _insert(session).values(row)
        if not move:
            session.execute(stmt.on_conflict_do_nothing(index_elements=["key"], index_where=_WAITING))
            return
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            index_where=_WAITING,
            set_={"due_at": stmt.excluded.due_at, "args": stmt.excluded.args},
        )
        session.execute(stmt)

    def cancel(self, session: Session, args: JobArgs) -> None:
        """Drop the waiting job of this lock, if any (a running one finishes)."""
        key = self.lock(args)
        session.execute(sa.delete(TABLE).where(TABLE.c.key == key, TABLE.c.status == QUEUED))


def _insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(TABLE)
    if name == "sqlite":
        return sqlite.insert(TABLE)
    raise RuntimeError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")
