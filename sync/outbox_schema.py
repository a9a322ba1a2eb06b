"""The outbox file's tables: the outbox itself, the POS's checkouts, and the recovered corrupt files.

Plain SQLAlchemy Core on its own metadata; `Outbox` creates what is missing when it opens a file.
"""

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa

SCHEMA_VERSION = 2  # 2: checkouts and recovered_files beside the outbox table


class State(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    REJECTED = "rejected"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes stored as UTC (SQLite keeps no zone) and read back as aware UTC datetimes.

    The same storage and behaviour as SQLModel's UTCDateTime, which this table used until it became plain
    SQLAlchemy Core (docs/performance.md: SQLModel's ORM layer was ~7 MB of the agent's 80 MB budget).
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("outbox timestamps must be aware datetimes (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


# Own metadata: the cloud's models (and its Alembic autogenerate) must never see the register's table
# when both are imported in one process (tests, the demo).
METADATA = sa.MetaData()

# Plain SQLAlchemy Core, not an SQLModel class: the outbox only ever used the table, and SQLModel brings
# the ORM along (~7 MB resident in the agent). The schema is the one SQLModel created, column for column,
# so existing outbox files open unchanged.
OUTBOX = sa.Table(
    "outbox",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),  # "fn:fd:fpd"
    sa.Column("payload", sa.String, nullable=False),  # the wire dict of receipt_to_wire, as JSON text
    sa.Column("state", sa.String(16), nullable=False, default=State.PENDING.value),
    sa.Column("reason", sa.String),
    sa.Column("closed_at", UTCDateTime(), nullable=False),
    sa.Column("acked_at", UTCDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.String),
    sa.Index("ix_outbox_state_id", "state", "id"),
    sa.Index("ix_outbox_state_acked_at", "state", "acked_at"),
    # AUTOINCREMENT: ids are never reused after a purge, so "oldest first" by id stays true forever.
    sqlite_autoincrement=True,
)


# The POS's checkouts, open and recently ended, as the agent's checkout service records them (JSON).
CHECKOUTS = sa.Table(
    "checkouts",
    METADATA,
    sa.Column("checkout_id", sa.String(64), primary_key=True),
    sa.Column("record", sa.String, nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_checkouts_open_updated", "is_open", "updated_at"),
)

# Quarantined files whose readable pending receipts were copied into this outbox: each exactly once.
RECOVERED = sa.Table(
    "recovered_files",
    METADATA,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("receipts", sa.Integer, nullable=False),
    sa.Column("recovered_at", UTCDateTime(), nullable=False),
)
