"""Ingest's tables: each fiscal receipt once per natural key, and conflicting resends kept for audit.

The raw buyer contact is kept on the receipt because delivery needs it; identity joins use `contact_hash`.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


class ReceiptRow(CloudModel, table=True):
    """One fiscal receipt, stored once per tenant and natural key (FN serial, FD number, FPD).

    The tenant is part of the key: a key is unique worldwide only if every sender tells the truth, and a
    register of another retailer that posts this tenant's key first must neither block the genuine receipt
    (it would be a "conflict", never delivered) nor learn that the key exists ("duplicate").
    """

    __tablename__ = "receipt"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "fn_serial", "fd_number", "fpd"),
        # The read endpoint pages a store's receipts by id; tenant reports scan by tenant and time.
        sa.Index(None, "store_id", "id"),
        sa.Index(None, "tenant_id", "received_at"),
        sa.Index(None, "tenant_id", "store_id", "received_at"),  # a store or region's dashboards
        # Attribution reads a tenant's receipts by the local day they were issued (migration 0017).
        sa.Index(None, "tenant_id", "issued_at"),
        # The popup's QR landing finds a register's receipt by the token the agent put in `extra.landing`.
        sa.Index(None, "register_id", "landing"),
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
    landing: str | None = Field(default=None, max_length=32)  # extra.landing: the popup's QR token
    payload: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    content_hash: str = Field(max_length=64)
    received_at: datetime = timestamp_field()


class ReceiptConflict(CloudModel, table=True):
    """A resend of a known key with different content. The first receipt stays; this is kept for audit."""

    __tablename__ = "receipt_conflict"
    __table_args__ = (sa.UniqueConstraint("receipt_id", "content_hash"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    receipt_id: int = Field(sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), nullable=False))
    register_id: int = Field(foreign_key="register.id")
    payload: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    content_hash: str = Field(max_length=64)
    received_at: datetime = timestamp_field()
