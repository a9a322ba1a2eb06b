"""Delivery cascade: tenant channel settings and policy, push devices, opt-outs, deliveries, attempts, reports.

Revision ID: 0002_delivery
Revises: 0001
Create Date: 2026-11-24

Written to match cloud/delivery/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_delivery"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delivery_channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_delivery_channel_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_channel"),
        sa.UniqueConstraint("tenant_id", "channel", name="uq_delivery_channel_tenant_id_channel"),
    )
    op.create_table(
        "delivery_opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_delivery_opt_out_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_opt_out"),
        sa.UniqueConstraint(
            "tenant_id", "contact_hash", "channel", name="uq_delivery_opt_out_tenant_id_contact_hash_channel"
        ),
    )
    op.create_table(
        "delivery_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=500), nullable=False),
        sa.Column("prices", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_delivery_settings_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_delivery_settings"),
    )
    op.create_table(
        "push_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_push_device_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_push_device"),
        sa.UniqueConstraint("tenant_id", "token", name="uq_push_device_tenant_id_token"),
    )
    op.create_index(
        "ix_push_device_tenant_id_contact_hash", "push_device", ["tenant_id", "contact_hash"], unique=False
    )
    op.create_table(
        "delivery",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("receipt_id", BIG_ID, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("link_token", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("steps", sa.String(length=500), nullable=False),
        sa.Column("skipped", sa.String(length=100), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("first_accepted_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("opened_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.id"], name="fk_delivery_receipt_id_receipt"),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_delivery_store_id_store"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_delivery_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery"),
        sa.UniqueConstraint("link_token", name="uq_delivery_link_token"),
        sa.UniqueConstraint("receipt_id", name="uq_delivery_receipt_id"),
    )
    op.create_index("ix_delivery_due_at", "delivery", ["due_at"], unique=False)
    op.create_index("ix_delivery_tenant_id_created_at", "delivery", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "delivery_attempt",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", BIG_ID, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("read_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("history", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["delivery.id"], name="fk_delivery_attempt_delivery_id_delivery"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_delivery_attempt_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempt"),
        sa.UniqueConstraint("delivery_id", "step", name="uq_delivery_attempt_delivery_id_step"),
    )
    op.create_index(
        "ix_delivery_attempt_channel_message_id", "delivery_attempt", ["channel", "message_id"], unique=False
    )
    op.create_table(
        "delivery_report",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempt_id", BIG_ID, nullable=True),
        sa.Column("effect", sa.String(length=12), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["delivery_attempt.id"], name="fk_delivery_report_attempt_id_delivery_attempt"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_delivery_report_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_report"),
    )


def downgrade() -> None:
    for table in (
        "delivery_report",
        "delivery_attempt",
        "delivery",
        "push_device",
        "delivery_settings",
        "delivery_opt_out",
        "delivery_channel",
    ):
        op.drop_table(table)
