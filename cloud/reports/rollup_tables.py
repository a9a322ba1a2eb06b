"""The dashboards' daily rollups (`cloud.db.tables` lists this module for Alembic; docs/reports.md).

One row per tenant, local day (the tenant's zone) and the dimensions the dashboards group and filter by;
a day's rows are rewritten whole by `cloud.reports.rollup.roll_day`. No primary key on the dimensions:
some are NULL (no delivery, no cashier, no block), and rows are only ever read grouped.

- `report_receipt_day`: receipts by received day × store × register × cashier × segment × delivery channel
  × delivery status: receipts, with a contact, deliveries, opened by a person, page fetched (Sending).
- `report_attempt_day`: delivery attempts by the delivery's creation day × store × delivery channel ×
  attempt channel: attempts and their price (Sending's cost).
- `report_event_day`: page events (not bots) by the event's day × its receipt's store × segment × delivery
  channel × block × type (Template elements' counts).
- `report_rollup_day`: which days of a tenant are rolled up (the dashboards read raw rows for the others);
  `report_rollup_state`: the tenant's watermark of page events already looked at.
"""

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field


class ReportReceiptDay(CloudModel, table=True):
    __tablename__ = "report_receipt_day"
    __table_args__ = (sa.Index(None, "tenant_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    store_id: int
    register_id: int
    cashier: str | None = Field(default=None, sa_type=sa.Text)
    segment: str = Field(max_length=9)  # card | contact | anonymous
    channel: str | None = Field(default=None, max_length=8)  # the delivery's channel
    status: str | None = Field(default=None, max_length=12)  # the delivery's status; None: no delivery
    receipts: int = Field(sa_type=sa.BigInteger)
    with_contact: int = Field(sa_type=sa.BigInteger)
    deliveries: int = Field(sa_type=sa.BigInteger)
    opened: int = Field(sa_type=sa.BigInteger)
    viewed: int = Field(sa_type=sa.BigInteger)


class ReportAttemptDay(CloudModel, table=True):
    __tablename__ = "report_attempt_day"
    __table_args__ = (sa.Index(None, "tenant_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    store_id: int
    channel: str | None = Field(default=None, max_length=8)  # the delivery's channel (the channel filter)
    attempt_channel: str = Field(max_length=8)
    attempts: int = Field(sa_type=sa.BigInteger)
    price: int = Field(sa_type=sa.BigInteger)


class ReportEventDay(CloudModel, table=True):
    __tablename__ = "report_event_day"
    __table_args__ = (sa.Index(None, "tenant_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    day: date
    store_id: int
    segment: str = Field(max_length=9)
    channel: str | None = Field(default=None, max_length=8)
    block_id: str | None = Field(default=None, max_length=64)
    type: str = Field(max_length=24)
    events: int = Field(sa_type=sa.BigInteger)


class ReportRollupDay(CloudModel, table=True):
    __tablename__ = "report_rollup_day"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    day: date = Field(primary_key=True)
    receipts: int = Field(default=0, sa_type=sa.BigInteger)
    rolled_at: datetime = timestamp_field()


class ReportRollupState(CloudModel, table=True):
    __tablename__ = "report_rollup_state"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    events_seen_until: datetime = timestamp_field()
