"""The cloud's tables. Tenants (retailers) own stores; stores own registers; registers send receipts.

Secrets (tenant api keys, register tokens, enrollment codes) are stored only as SHA-256 hashes: a leaked
database does not let anyone write receipts. The raw buyer contact is kept on the receipt because
delivery needs it; identity joins use `contact_hash`.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from cloud.db.types import BigId, Json, UTCDateTime, utcnow

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


def _ts(nullable: bool = False, **kw: Any) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, **kw))


class Tenant(CloudModel, table=True):
    __tablename__ = "tenant"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    api_key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()


class Store(CloudModel, table=True):
    __tablename__ = "store"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=200)


class Register(CloudModel, table=True):
    __tablename__ = "register"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    hostname: str = Field(default="", max_length=255)
    agent_version: str = Field(default="", max_length=64)
    enrolled_at: datetime = _ts()
    # What the last heartbeat said: store IT and head office read these to find stale registers.
    last_heartbeat_at: datetime | None = _ts(nullable=True)
    queue_depth: int = 0
    rejected_count: int = 0
    oldest_unsynced_age_s: float | None = None
    last_sync_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=1000)
    clock_skew_s: float | None = None
    # Added by the fleet-health migration (0003): what the optional heartbeat fields say, and clone evidence.
    instance_id: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=64)
    heartbeat_interval_s: float | None = None
    outbox_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    outbox_quota_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    outbox_recovered: list[str] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    write_error: str | None = Field(default=None, max_length=1000)
    dead_letter: list[str] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    clone_suspected_at: datetime | None = _ts(nullable=True)
    clone_detail: str | None = Field(default=None, max_length=500)


class EnrollmentCode(CloudModel, table=True):
    __tablename__ = "enrollment_code"

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)
    register_id: int | None = Field(default=None, foreign_key="register.id")


class ReceiptRow(CloudModel, table=True):
    """One fiscal receipt, stored once per natural key (FN serial, FD number, FPD)."""

    __tablename__ = "receipt"
    __table_args__ = (
        sa.UniqueConstraint("fn_serial", "fd_number", "fpd"),
        # The read endpoint pages a store's receipts by id; tenant reports scan by tenant and time.
        sa.Index(None, "store_id", "id"),
        sa.Index(None, "tenant_id", "received_at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    store_id: int = Field(foreign_key="store.id")
    register_id: int = Field(foreign_key="register.id", index=True)
    fn_serial: str = Field(max_length=16)
    fd_number: int = Field(sa_type=sa.BigInteger)
    fpd: int = Field(sa_type=sa.BigInteger)
    # The register's local time (tag 1012), naive on purpose: it is what the receipt prints.
    issued_at: datetime = Field(sa_type=sa.DateTime(timezone=False))
    total: int = Field(sa_type=sa.BigInteger)  # kopecks
    calculation_type: int
    contact_kind: str | None = Field(default=None, max_length=8)
    contact_hash: str | None = Field(default=None, max_length=64, index=True)
    contact_value: str | None = Field(default=None, max_length=320)  # raw: delivery needs it
    loyalty_card: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    content_hash: str = Field(max_length=64)
    received_at: datetime = _ts()


class ReceiptConflict(CloudModel, table=True):
    """A resend of a known key with different content. The first receipt stays; this is kept for audit."""

    __tablename__ = "receipt_conflict"
    __table_args__ = (sa.UniqueConstraint("receipt_id", "content_hash"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    receipt_id: int = Field(sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), nullable=False))
    register_id: int = Field(foreign_key="register.id")
    payload: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    content_hash: str = Field(max_length=64)
    received_at: datetime = _ts()


__all__ = [
    "CloudModel",
    "EnrollmentCode",
    "ReceiptConflict",
    "ReceiptRow",
    "Register",
    "Store",
    "Tenant",
    "metadata",
    "utcnow",
]

# Capabilities keep their tables next to their code, on this metadata; importing them here makes every
# user of `metadata` (Alembic, the migrations test) see them. At the bottom: they import CloudModel.
import cloud.delivery.models  # noqa: E402, F401
from cloud.fleet import models as _fleet_models  # noqa: E402, F401
