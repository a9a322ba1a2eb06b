"""The cloud's one declarative base. Every capability keeps its tables in `cloud/<capability>/models.py`
on this metadata; `cloud.db.tables` imports them all for Alembic and the migrations test.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from cloud.db.types import UTCDateTime, utcnow

# The cloud's own metadata, not SQLModel's global one: the agent's outbox tables live in the same
# interpreter in tests and must never end up in the cloud's migrations (or the other way round).
# Explicit constraint names: Alembic batch mode on SQLite and autogenerate comparisons need them.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class CloudModel(SQLModel, registry=registry(metadata=metadata)):
    pass


def timestamp_field(nullable: bool = False, **kw: Any) -> Any:
    """A timezone-aware UTC timestamp column."""
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, **kw))


__all__ = ["CloudModel", "metadata", "timestamp_field", "utcnow"]
