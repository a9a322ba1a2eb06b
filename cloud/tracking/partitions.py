"""Monthly partitions of `tracking_event` on PostgreSQL (migration 0015_tracking_partitions).

The table is `PARTITION BY RANGE (received_at)`; each month is a table
`tracking_partitions.tracking_event_YYYY_MM` (its own schema, so the application's schema holds only the
parent and Alembic compares just that), plus a default partition that catches a month nobody made in time.
The periodic job `tracking.partitions` makes the current month and the next `MONTHS_AHEAD`; if rows already
landed in the default partition for such a month, they are moved into the new one in the same transaction.
Old months are dropped by retention as whole tables (`DROP TABLE`), never by a DELETE over millions of rows.
On SQLite nothing happens.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cloud.jobs import Job, JobArgs

SCHEMA = "tracking_partitions"
PARENT = "tracking_event"
DEFAULT = f"{SCHEMA}.{PARENT}_default"
MONTHS_AHEAD = 3

ENSURE = Job("tracking.partitions", every_s=6 * 3600)


def month_start(at: datetime, plus: int = 0) -> datetime:
    index = at.year * 12 + (at.month - 1) + plus
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{PARENT}_{start:%Y_%m}"


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        sa.text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(:name)"), {"name": PARENT}
    ).scalar()
    return kind == "p"


def existing(conn: Connection) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": PARENT},
    )
    return {r[0] for r in rows}


def ensure_months(conn: Connection, now: datetime, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of this month and the next `ahead` months that are missing; returns their names.
    Runs in the caller's transaction."""
    if not is_partitioned(conn):
        return []
    have = existing(conn)
    made: list[str] = []
    for plus in range(ahead + 1):
        start, end = month_start(now, plus), month_start(now, plus + 1)
        name = partition_name(start)
        if name in have:
            continue
        bounds = {"start": start, "end": end}
        stray = conn.execute(
            sa.text(f"SELECT 1 FROM {DEFAULT} WHERE received_at >= :start AND received_at < :end LIMIT 1"),
            bounds,
        ).first()
        if stray is None:
            conn.execute(sa.text(_create(name, start, end)))
        else:  # rows for this month went to the default partition: move them into their month
            conn.execute(sa.text(f"ALTER TABLE {PARENT} DETACH PARTITION {DEFAULT}"))
            conn.execute(sa.text(_create(name, start, end)))
            conn.execute(
                sa.text(
                    f"WITH moved AS (DELETE FROM {DEFAULT} "
                    "WHERE received_at >= :start AND received_at < :end "
                    f"RETURNING *) INSERT INTO {PARENT} SELECT * FROM moved"
                ),
                bounds,
            )
            conn.execute(sa.text(f"ALTER TABLE {PARENT} ATTACH PARTITION {DEFAULT} DEFAULT"))
        made.append(name)
    return made


def _create(name: str, start: datetime, end: datetime) -> str:
    return (
        f"CREATE TABLE {SCHEMA}.{name} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


class PartitionJob:
    """The periodic job's handler: keeps months ahead on PostgreSQL (a no-op on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, args: JobArgs) -> None:
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            # One maker at a time across workers: the DDL below takes locks on the parent anyway.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('tracking.partitions'))"))
            ensure_months(conn, datetime.now(UTC))
