"""The collector's write on PostgreSQL: a batch claimed, stored, and its jobs queued in one round trip.

`store.record_events` in a session costs the collector four round trips per batch (the pool's pre-ping, the
insert, the identity job's row, COMMIT), each a wake-up of the server process and of PostgreSQL. Here one
statement does all of it, run in autocommit mode, so it is its own transaction: the claim on each event id
(`tracking_event_key`), the insert of the events whose ids were new, and the job rows (identity's
`EventsTracked`) when any new event holds something identity links. All or nothing, like the session's
version; a resent batch stores nothing twice and queues no job.

The connections come from an engine of their own without pre-ping (`collector_engine`): a connection the
server closed fails the statement, which is retried once on a fresh connection (a fresh pool). The retry
cannot store twice: the claim on the ids makes the statement idempotent.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from cloud.db.engine import make_engine
from cloud.tracking.events import TrackedEvent
from cloud.tracking.store import _PG_COLUMNS, _PG_NAMES, _row

_INPUT_COLUMNS = ", ".join(
    f"{name} {kind}"
    for name, kind in (*_PG_COLUMNS, ("b", "integer"), ("n", "integer"), ("links", "boolean"))
)
_JOB_COLUMNS = (
    ("name", "text"),
    ("args", "jsonb"),
    ("status", "text"),
    ("due_at", "timestamptz"),
    ("key", "text"),
    ("lock", "text"),
    ("attempts", "integer"),
    ("max_attempts", "integer"),
    ("created_at", "timestamptz"),
)
_JOB_NAMES = ", ".join(f'"{name}"' for name, _ in _JOB_COLUMNS)
_JOB_INPUT = ", ".join(f'"{name}" {kind}' for name, kind in (*_JOB_COLUMNS, ("b", "integer")))
# `synchronous_commit = off` for this transaction as set_config(..., true) in the input's FROM (a volatile
# one-row relation joined to every row, so it runs once, before the rows are read): the statement's own
# implicit transaction commits without waiting for the WAL flush (docs/tracking.md, "Durability").
# Rows and jobs carry `b`, their browser batch's place in the statement: each job's args get `event_ids`,
# the new events' ids of its own batch in order, and a job is queued only if one of them links.
RECORD = f"""
WITH input AS (
    SELECT r.* FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_wait,
        json_to_recordset(%(rows)s::json) AS r({_INPUT_COLUMNS})
), claimed AS (
    INSERT INTO tracking_event_key (event_id, received_at)
    SELECT event_id, received_at FROM input ON CONFLICT (event_id) DO NOTHING RETURNING event_id
), stored AS (
    INSERT INTO tracking_event ({_PG_NAMES})
    SELECT {_PG_NAMES} FROM input JOIN claimed USING (event_id) RETURNING event_id
), fresh AS (
    SELECT input.event_id, input.b, input.n, input.links FROM input JOIN stored USING (event_id)
), queued AS (
    INSERT INTO job ({_JOB_NAMES})
    SELECT j.name,
        j.args || jsonb_build_object(
            'event_ids', (SELECT jsonb_agg(f.event_id ORDER BY f.n) FROM fresh f WHERE f.b = j.b)
        ),
        j.status, j.due_at, j.key, j.lock, j.attempts, j.max_attempts, j.created_at
    FROM json_to_recordset(%(jobs)s::json) AS j({_JOB_INPUT})
    WHERE EXISTS (SELECT 1 FROM fresh f WHERE f.b = j.b AND f.links)
)
SELECT event_id, b FROM fresh ORDER BY n
"""
_RETRIES = 1


def collector_engine(url: str, *, connections: int) -> Engine:
    """Autocommit connections without pre-ping, at most `connections` (one per request thread)."""
    return make_engine(
        url,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        pool_size=connections,
        max_overflow=0,
        pool_timeout=30,
    )


@dataclass(frozen=True, slots=True)
class Batch:
    """One browser's batch: its events, whether each holds something identity links, and the jobs to queue
    (rows as `Job.deferred_row` makes them; `event_ids` is added to their args) when a new one does."""

    events: Sequence[TrackedEvent]
    links: Sequence[bool]
    jobs: Sequence[Mapping[str, Any]] = ()


def record_batches(engine: Engine, batches: Sequence[Batch]) -> list[list[str]]:
    """Stores the events not seen before, and each batch's jobs when one of its new events links, in one
    statement. Returns each batch's stored event ids, in order."""
    rows: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for b, batch in enumerate(batches):
        # An id twice in one batch is one event (the last one said, at the first one's place), as in
        # `record_events`; an id another batch of this statement holds is that batch's (it came first).
        mine: dict[str, tuple[TrackedEvent, bool]] = {}
        for event, linked in zip(batch.events, batch.links, strict=True):
            if event.event_id not in seen:
                mine[event.event_id] = (event, linked)
        seen.update(mine)
        for event, linked in mine.values():
            row = _row(event)
            row["b"], row["n"], row["links"] = b, len(rows), linked
            rows.append(row)
        jobs += ({**job, "b": b} for job in batch.jobs)
    stored: list[list[str]] = [[] for _ in batches]
    if not rows:
        return stored
    params = {"rows": orjson.dumps(rows).decode(), "jobs": orjson.dumps(jobs).decode()}
    for attempt in range(_RETRIES + 1):
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(RECORD, params)
                for event_id, b in cursor.fetchall():
                    stored[b].append(event_id)
                return stored
            finally:
                cursor.close()
        except Exception as exc:
            if attempt < _RETRIES and _connection_lost(raw):
                # The server went away (a restart, an idle timeout): the pool's other idle connections
                # are most likely dead too, so the pool starts over rather than trying them one by one.
                raw.invalidate(exc)
                engine.dispose()
                continue
            raise
        finally:
            raw.close()
    raise AssertionError("unreachable")


def _connection_lost(raw: Any) -> bool:
    driver = getattr(raw, "driver_connection", None)
    return bool(getattr(driver, "closed", False) or getattr(driver, "broken", False))
