"""The dashboards' daily rollups, and receipts by (tenant, store, received time) for a store's or a region's
dashboards.

Revision ID: 0018m_report_rollups
Revises: 0018w_identity_release
Create Date: 2026-12-04

Written to match cloud/reports/rollup_tables.py and the receipt index in cloud/ingest/models.py;
tests/cloud/test_migrations.py checks that they agree. The tables start empty: the dashboards read raw
rows for every day until `echeck-cloud reports rollup` (or its periodic job) has rolled it up.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018m_report_rollups"
down_revision: str | None = "0018w_identity_release"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
COUNT = sa.BigInteger()


def _common(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=f"fk_{table}_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_index(
        "ix_receipt_tenant_id_store_id_received_at", "receipt", ["tenant_id", "store_id", "received_at"]
    )
    op.create_table(
        "report_receipt_day",
        *_common("report_receipt_day"),
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("cashier", sa.Text(), nullable=True),
        sa.Column("segment", sa.String(length=9), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=True),
        sa.Column("receipts", COUNT, nullable=False),
        sa.Column("with_contact", COUNT, nullable=False),
        sa.Column("deliveries", COUNT, nullable=False),
        sa.Column("opened", COUNT, nullable=False),
        sa.Column("viewed", COUNT, nullable=False),
    )
    op.create_table(
        "report_attempt_day",
        *_common("report_attempt_day"),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("attempt_channel", sa.String(length=8), nullable=False),
        sa.Column("attempts", COUNT, nullable=False),
        sa.Column("price", COUNT, nullable=False),
    )
    op.create_table(
        "report_event_day",
        *_common("report_event_day"),
        sa.Column("segment", sa.String(length=9), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("block_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("events", COUNT, nullable=False),
    )
    for table in ("report_receipt_day", "report_attempt_day", "report_event_day"):
        op.create_index(f"ix_{table}_tenant_id_day", table, ["tenant_id", "day"])
    op.create_table(
        "report_rollup_day",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("receipts", COUNT, nullable=False),
        sa.Column("rolled_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_report_rollup_day_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "day", name="pk_report_rollup_day"),
    )
    op.create_table(
        "report_rollup_state",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("events_seen_until", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_report_rollup_state_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_report_rollup_state"),
    )


def downgrade() -> None:
    for table in (
        "report_rollup_state",
        "report_rollup_day",
        "report_event_day",
        "report_attempt_day",
        "report_receipt_day",
    ):
        op.drop_table(table)
    op.drop_index("ix_receipt_tenant_id_store_id_received_at", table_name="receipt")
