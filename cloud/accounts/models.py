"""Accounts' tables: tenants (retailers) own stores and registers, head-office users, API keys, sessions,
invitations, the audit log and the rate-limit counters.

Secrets (api keys, register tokens, session ids, invitation tokens) are stored only as SHA-256 hashes and
passwords only as argon2 hashes: a leaked database lets nobody write receipts or sign in.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import Json


class Tenant(CloudModel, table=True):
    __tablename__ = "tenant"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = timestamp_field()
    # What the buyer's e-receipt page prints about the seller (migration 0009; checked in accounts/legal.py).
    legal_name: str | None = Field(default=None, max_length=300)
    inn: str | None = Field(default=None, max_length=12)
    taxation: str | None = Field(default=None, max_length=32)  # tag 1055: a key of legal.TAXATION


class Store(CloudModel, table=True):
    __tablename__ = "store"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=200)
    # A regional manager's scope names regions: every store of the region, including ones added later.
    region: str | None = Field(default=None, max_length=100)
    # The receipt page's address and place of settlement, and the zone its times are shown in (0009).
    address: str | None = Field(default=None, max_length=500)
    settlement_place: str | None = Field(default=None, max_length=500)
    time_zone: str | None = Field(default=None, max_length=64)  # IANA name, e.g. "Europe/Moscow"
    # The update channel of the store's registers (0014): stable, or beta for the stores that get a
    # release first. Head office sets it (`echeck-cloud store channel`); heartbeat answers carry it.
    update_channel: str = Field(
        default="stable", max_length=16, sa_column_kwargs={"server_default": "stable"}
    )


class Register(CloudModel, table=True):
    __tablename__ = "register"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    hostname: str = Field(default="", max_length=255)
    agent_version: str = Field(default="", max_length=64)
    enrolled_at: datetime = timestamp_field()
    # Set when store IT revoked the register: its tokens are refused with 403 `register_revoked`.
    revoked_at: datetime | None = timestamp_field(nullable=True)
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
    # The update channel the register's agent follows, as its heartbeat says (0014; None: not packaged).
    update_channel: str | None = Field(default=None, max_length=16)


class RegisterToken(CloudModel, table=True):
    """Every token a register was given. A revoked one stays, so its caller hears `register_revoked`
    (and keeps its queue) instead of an anonymous 401."""

    __tablename__ = "register_token"

    id: int | None = Field(default=None, primary_key=True)
    register_id: int = Field(foreign_key="register.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = timestamp_field()
    revoked_at: datetime | None = timestamp_field(nullable=True)
    revoked_reason: str | None = Field(default=None, max_length=200)


class ApiKey(CloudModel, table=True):
    """One integration's key: `read` reads receipts, reports and fleet state; `write` also registers push
    devices, opt-outs and app events."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # the first characters, so people can tell keys apart
    scopes: str = Field(max_length=50)  # "read" or "read,write"
    created_at: datetime = timestamp_field()
    last_used_at: datetime | None = timestamp_field(nullable=True)
    # A rotated key keeps working until then (the integration swaps keys without an outage).
    expires_at: datetime | None = timestamp_field(nullable=True)
    revoked_at: datetime | None = timestamp_field(nullable=True)


class User(CloudModel, table=True):
    """A head-office person. `stores` and `regions` empty = every store of the tenant."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    stores: list[int] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    regions: list[str] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    created_at: datetime = timestamp_field()
    disabled_at: datetime | None = timestamp_field(nullable=True)


class Invitation(CloudModel, table=True):
    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    email: str = Field(max_length=254)
    role: str = Field(max_length=20)
    stores: list[int] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    regions: list[str] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    accepted_at: datetime | None = timestamp_field(nullable=True)


class UserSession(CloudModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its hash is here."""

    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    id_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = timestamp_field()
    last_seen_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    revoked_at: datetime | None = timestamp_field(nullable=True)
    client: str = Field(default="", max_length=200)  # the browser, as the user agent names itself


class AuditEntry(CloudModel, table=True):
    """An admin action: who did what to what. Never a secret, never a raw e-mail of a buyer."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    at: datetime = timestamp_field()
    actor: str = Field(max_length=254)  # a user's e-mail, "cli" or "system"
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=254)
    detail: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))


class RateCounter(CloudModel, table=True):
    """Failed attempts per key ("login-ip:…", "login-account:…", "enroll-ip:…", "enroll-prefix:…") in the
    current window. In the database so every worker process counts the same attempts."""

    __tablename__ = "rate_counter"

    key: str = Field(primary_key=True, max_length=120)
    window_start: datetime = timestamp_field()
    failures: int = 0
    locked_until: datetime | None = timestamp_field(nullable=True)
