"""Attribution's tables (`cloud.db.tables` lists this module for Alembic).

(`models.py` is taken by the attribution models themselves, the domain; the tables live here.)

- `attribution_settings`: a tenant's lookback and time-decay half-life (defaults when no row).
- `attribution_day`: which local days of a tenant are attributed, and which must be again (`dirty`: a late
  receipt, a late identity merge). The daily job computes missing and dirty days.
- `attribution_purchase`: one row per offline receipt of an attributed day: its buyer's profile (None:
  unidentified), revenue, and the journey's touches (channel, campaign, time) as the job saw them. The ROPO
  figures by store, region, period, channel and campaign are read from here (distinct buyers over any period).
- `attribution_purchase_key`: each touched, identified purchase's channels and campaigns, each once (the
  same purchase's columns beside them): the ROPO tables by channel and by campaign group these plain rows.
  Expanding every stored purchase's touches JSON in the request took ~0.75 s for a tenth of a chain's month.
- `attribution_result`: per day, model, store, channel and campaign: credited conversions and revenue.
  Rewritten whole for a day when the day is attributed again.
- `attribution_holdout` and `attribution_assignment`: a share of buyers, receipts or stores kept out
  of a campaign or an e-receipt block; each unit's group drawn by hash (deterministic) and recorded.
"""

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


class AttributionSettings(CloudModel, table=True):
    __tablename__ = "attribution_settings"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    lookback_days: int = 30
    half_life_days: float = 7.0
    updated_at: datetime = timestamp_field()


class AttributionDay(CloudModel, table=True):
    __tablename__ = "attribution_day"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    day: date = Field(primary_key=True)
    dirty: bool = True
    reason: str = Field(default="", max_length=40)  # "new", "late receipt", "identity merge", "rerun"
    purchases: int = 0
    computed_at: datetime | None = timestamp_field(nullable=True)
    seconds: float | None = None  # how long the last computation took


class AttributionPurchase(CloudModel, table=True):
    __tablename__ = "attribution_purchase"
    __table_args__ = (
        sa.Index(None, "tenant_id", "day"),
        sa.Index(None, "tenant_id", "profile_id"),
    )

    receipt_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), primary_key=True, autoincrement=False)
    )
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    at: datetime = timestamp_field()
    store_id: int = Field(foreign_key="store.id")
    revenue: int = Field(sa_type=sa.BigInteger)  # kopecks
    profile_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # None: the buyer is not identified
    touched: bool = False  # at least one online touch in the lookback before the purchase
    # [{"at": iso, "kind": ..., "channel": ..., "campaign": "source / medium / campaign"}], oldest first
    touches: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))


class AttributionPurchaseKey(CloudModel, table=True):
    __tablename__ = "attribution_purchase_key"
    __table_args__ = (sa.Index(None, "tenant_id", "day"),)

    receipt_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), primary_key=True, autoincrement=False)
    )
    field: str = Field(max_length=8, primary_key=True)  # channel | campaign
    key: str = Field(max_length=300, primary_key=True)  # the channel, or "source / medium / campaign"
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    store_id: int = Field(foreign_key="store.id")
    revenue: int = Field(sa_type=sa.BigInteger)  # kopecks, the purchase's
    profile_id: int = Field(sa_type=sa.BigInteger)


class AttributionResult(CloudModel, table=True):
    __tablename__ = "attribution_result"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant_id", "day", "model", "store_id", "channel", "campaign", name="uq_attribution_result_key"
        ),
        sa.Index(None, "tenant_id", "model", "day"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    model: str = Field(max_length=24)
    store_id: int = Field(foreign_key="store.id")
    channel: str = Field(max_length=24)
    campaign: str = Field(max_length=300)  # "source / medium / campaign"
    conversions: float
    revenue: int = Field(sa_type=sa.BigInteger)  # kopecks


class AttributionHoldout(CloudModel, table=True):
    __tablename__ = "attribution_holdout"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    name: str = Field(max_length=64)
    unit: str = Field(max_length=8)  # buyer | receipt | store
    target_kind: str = Field(max_length=8)  # campaign | block
    target: str = Field(max_length=200)  # the campaign (utm_campaign) or the e-receipt block id
    share: float  # the share of units held out, (0, 1)
    salt: str = Field(max_length=32)  # the draw's seed: a unit's group is a hash of (salt, unit)
    starts_at: datetime = timestamp_field()
    ends_at: datetime = timestamp_field()
    created_at: datetime = timestamp_field()
    created_by: str = Field(default="", max_length=120)


class AttributionHoldoutAssignment(CloudModel, table=True):
    __tablename__ = "attribution_assignment"

    holdout_id: int = Field(foreign_key="attribution_holdout.id", primary_key=True)
    unit_key: str = Field(max_length=64, primary_key=True)  # a buyer's contact hash, a receipt or store id
    held_out: bool
    assigned_at: datetime = timestamp_field()


class AttributionCursor(CloudModel, table=True):
    """How far the job has read a log of another capability (identity's merge log: the last entry's id)."""

    __tablename__ = "attribution_cursor"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime = timestamp_field()
