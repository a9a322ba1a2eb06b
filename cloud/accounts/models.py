"""Accounts' tables: tenants (retailers) own stores; stores own registers, each with its own credential.

Secrets (tenant api keys, register tokens) are stored only as SHA-256 hashes: a leaked database does not let
anyone write receipts.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import Json


class Tenant(CloudModel, table=True):
    __tablename__ = "tenant"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    api_key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp_field()


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
    enrolled_at: datetime = timestamp_field()
    # What the last heartbeat said: store IT and head office read these to find stale registers.
    last_heartbeat_at: datetime | None = timestamp_field(nullable=True)
    queue_depth: int = 0
    rejected_count: int = 0
    oldest_unsynced_age_s: float | None = None
    last_sync_at: datetime | None = timestamp_field(nullable=True)
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
    clone_suspected_at: datetime | None = timestamp_field(nullable=True)
    clone_detail: str | None = Field(default=None, max_length=500)
