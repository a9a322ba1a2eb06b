"""Delivery tables, on the cloud's MetaData (`cloud.db.tables` lists this module for Alembic).

A `delivery` row per receipt with a contact is the job: its `due_at` is when a worker must look at it next
(send, retry, or check a deadline), so deadlines survive restarts. `delivery_attempt` is one row per step
tried, with every try and report in its history. Channel credentials live in `delivery_channel.settings`
and are never logged.
"""

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


def _big_fk(target: str, nullable: bool = False, **kw: Any) -> Any:
    return Field(sa_column=sa.Column(BigId, sa.ForeignKey(target), nullable=nullable, **kw))


class DeliverySettings(CloudModel, table=True):
    """A tenant's cascade policy and price table (kopecks); absent means the defaults."""

    __tablename__ = "delivery_settings"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    policy: str = Field(max_length=500)
    prices: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    updated_at: datetime = timestamp_field()


class DeliveryChannel(CloudModel, table=True):
    __tablename__ = "delivery_channel"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    channel: str = Field(max_length=8)
    enabled: bool = True
    settings: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))  # includes credentials
    updated_at: datetime = timestamp_field()


class PushDevice(CloudModel, table=True):
    """An app installation of a buyer (by contact hash), registered by the retailer's app backend."""

    __tablename__ = "push_device"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "token"), sa.Index(None, "tenant_id", "contact_hash"))

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    contact_hash: str = Field(max_length=64)
    token: str = Field(max_length=512)
    created_at: datetime = timestamp_field()


class OptOut(CloudModel, table=True):
    """A buyer who asked not to get e-receipts on one channel, or on any ('*')."""

    __tablename__ = "delivery_opt_out"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "contact_hash", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    contact_hash: str = Field(max_length=64)
    channel: str = Field(max_length=8)
    created_at: datetime = timestamp_field()


# The optimistic lock of the delivery and its attempts (one aggregate): `store.save` bumps the version on
# every change of either, and SQLAlchemy's UPDATE says WHERE version = <the version that was read>. SQLite
# has no SELECT ... FOR UPDATE, so a provider's callback and the worker could both read a delivery and
# the second write would silently undo the first ("delivered" back to "accepted"); now that write fails
# with StaleDataError and is done again on the fresh rows (`store.retry_stale`).
_VERSION = sa.Column("version", sa.Integer(), nullable=False, default=0)


class DeliveryRow(CloudModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (sa.Index(None, "due_at"), sa.Index(None, "tenant_id", "created_at"))
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _VERSION, "version_id_generator": False}

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    receipt_id: int = _big_fk("receipt.id", unique=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    store_id: int = Field(foreign_key="store.id")
    link_token: str = Field(max_length=32, unique=True)  # the unguessable part of {public_url}/r/{token}
    status: str = Field(max_length=12)
    steps: str = Field(default="", max_length=500)  # the planned steps, as a policy string
    skipped: str = Field(default="", max_length=100)
    step_index: int = 0
    due_at: datetime | None = timestamp_field(nullable=True)
    version: int = Field(default=0, sa_column=_VERSION)  # bumped by store.save on every change
    channel: str | None = Field(default=None, max_length=8)  # the channel that succeeded
    created_at: datetime = timestamp_field()
    first_accepted_at: datetime | None = timestamp_field(nullable=True)
    finished_at: datetime | None = timestamp_field(nullable=True)
    opened_at: datetime | None = timestamp_field(nullable=True)  # the buyer viewed the e-receipt page


class AttemptRow(CloudModel, table=True):
    __tablename__ = "delivery_attempt"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "step"), sa.Index(None, "channel", "message_id"))

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    delivery_id: int = _big_fk("delivery.id")
    tenant_id: int = Field(foreign_key="tenant.id")
    step: int
    channel: str = Field(max_length=8)
    status: str = Field(max_length=12)
    tries: int = 0
    message_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    price: int = 0  # kopecks billed for this attempt
    started_at: datetime | None = timestamp_field(nullable=True)
    accepted_at: datetime | None = timestamp_field(nullable=True)
    delivered_at: datetime | None = timestamp_field(nullable=True)
    read_at: datetime | None = timestamp_field(nullable=True)
    closed_at: datetime | None = timestamp_field(nullable=True)
    history: list[Any] = Field(sa_column=sa.Column(Json, nullable=False))


class ReportRow(CloudModel, table=True):
    """Every delivery report as received (no contact in it): applied, late, ignored or unknown."""

    __tablename__ = "delivery_report"
    # Parked reports (ones that overtook the worker) are found again by message id.
    __table_args__ = (sa.Index(None, "tenant_id", "channel", "message_id"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    channel: str = Field(max_length=8)
    message_id: str = Field(max_length=200)
    status: str = Field(max_length=12)
    attempt_id: int | None = _big_fk("delivery_attempt.id", nullable=True)
    effect: str = Field(max_length=12)
    received_at: datetime = timestamp_field()


class ReportSeen(CloudModel, table=True):
    """A provider callback's event, remembered for a while so that a replayed callback is not applied again.
    Rows older than twice the replay window are pruned as new callbacks arrive (`cloud.delivery.replay`)."""

    __tablename__ = "delivery_report_seen"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "channel", "event_key"), sa.Index(None, "seen_at"))

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    channel: str = Field(max_length=8)
    event_key: str = Field(max_length=200)
    seen_at: datetime = timestamp_field()
