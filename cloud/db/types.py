"""Column types that behave the same on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC timestamp. SQLite keeps no zone, so values come back naive there: re-attach UTC so the
    code never compares naive and aware datetimes (and never mistakes a register's local time for UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them naive so '+00:00' suffixes never skew ordering.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Receipts are the big table: a 64-bit id on PostgreSQL. SQLite only auto-increments INTEGER PRIMARY KEY
# (its rowid, 64-bit anyway), so the variant keeps autoincrement working there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
Json: Any = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)
