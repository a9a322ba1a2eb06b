"""The one job table (`cloud.db.tables` lists this module for Alembic).

A row is a job waiting (`todo`, due at `due_at`), running (`doing`, leased until `due_at`) or given up
(`failed`, kept for inspection). A finished job's row is deleted. Two partial unique indexes carry the
guarantees that need no code: at most one waiting job per `key` (a schedule is replaced, not duplicated)
and at most one running job per `lock` (two workers never run jobs of one lock at once).
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json

# A job waits as "todo" (the stored value, kept for existing rows), runs as "doing", ends "failed" or deleted.
QUEUED, DOING, FAILED = "todo", "doing", "failed"


def _partial_unique(name: str, column: str, status: str) -> sa.Index:
    where = sa.text(f"status = '{status}'")
    return sa.Index(name, column, unique=True, sqlite_where=where, postgresql_where=where)


class JobRow(CloudModel, table=True):
    __tablename__ = "job"
    __table_args__ = (
        sa.Index(None, "status", "due_at"),
        _partial_unique("uq_job_key_todo", "key", QUEUED),
        _partial_unique("uq_job_lock_doing", "lock", DOING),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=100)
    args: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    status: str = Field(max_length=8)
    due_at: datetime = timestamp_field()  # todo: when to run; doing: when the lease runs out
    key: str | None = Field(default=None, max_length=200)
    lock: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    max_attempts: int = 1
    worker: str | None = Field(default=None, max_length=100)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = timestamp_field()
