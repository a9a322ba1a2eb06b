"""Promo tables (`cloud.db.tables` lists this module for Alembic).

- `promo_rule`: a tenant's kind of promo code (discount, categories, validity, code shape), by name.
- `promo_code`: one code per receipt and rule, unique per tenant; its redemption is written on the row
  once, by a conditional UPDATE (`redeemed_at IS NULL`), so concurrent redemptions redeem it once.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


class PromoRule(CloudModel, table=True):
    __tablename__ = "promo_rule"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    name: str = Field(max_length=64)
    percent: int | None = None
    amount: int | None = Field(default=None, sa_type=sa.BigInteger)  # kopecks
    headline: str = Field(default="", max_length=120)
    categories: list[Any] = Field(default_factory=list, sa_column=sa.Column(Json, nullable=False))
    valid_days: int
    start_delay_h: int = 0
    remind_before_h: int | None = None
    length: int
    alphabet: str = Field(max_length=36)
    planned_codes: int = Field(sa_type=sa.BigInteger)
    active: bool = True
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class PromoCode(CloudModel, table=True):
    __tablename__ = "promo_code"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "code"),  # what the POS looks a code up by; no two alike
        sa.UniqueConstraint("receipt_id", "rule_id"),  # issued once per receipt and rule
        sa.Index(None, "rule_id", "store_id"),  # stats per rule, scoped by the issuing store
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    rule_id: int = Field(foreign_key="promo_rule.id")
    receipt_id: int = Field(sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), nullable=False))
    store_id: int = Field(foreign_key="store.id")  # the store of the receipt that issued it
    code: str = Field(max_length=20)
    issued_at: datetime = timestamp_field()
    starts_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    # The redemption, written once (conditional UPDATE); linked to the purchase that used it.
    redeemed_at: datetime | None = timestamp_field(nullable=True)
    redeem_key: str | None = Field(default=None, max_length=100)  # the caller's idempotency key
    redeemed_store_id: int | None = Field(default=None, foreign_key="store.id")
    redeemed_register_id: int | None = Field(default=None, foreign_key="register.id")
    redeemed_receipt_id: int | None = Field(
        default=None, sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), nullable=True)
    )
    redeemed_purchase: str | None = Field(default=None, max_length=100)  # the POS's or CRM's own reference
    redeemed_by: str | None = Field(default=None, max_length=120)  # "key:<name>" of the API key
    # The reminder: sent, or skipped and why (redeemed, no_consent, erased, no_channel, ...).
    reminder: str | None = Field(default=None, max_length=20)
    reminder_at: datetime | None = timestamp_field(nullable=True)
