"""Attribution over stored data: days, purchases with their journeys, credits, holdouts; receipts by issued day.

Revision ID: 0017_attribution
Revises: 0012_page_templates
Create Date: 2026-12-03

Written to match cloud/attribution/tables.py (and the receipt index in cloud/ingest/models.py);
tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017_attribution"
down_revision: str | None = "0012_page_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=f"fk_{table}_tenant_id_tenant")


def upgrade() -> None:
    op.create_table(
        "attribution_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("half_life_days", sa.Float(), nullable=False),
        _ts("updated_at"),
        _tenant_fk("attribution_settings"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_attribution_settings"),
    )
    op.create_table(
        "attribution_day",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        _ts("computed_at", nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        _tenant_fk("attribution_day"),
        sa.PrimaryKeyConstraint("tenant_id", "day", name="pk_attribution_day"),
    )
    op.create_table(
        "attribution_purchase",
        sa.Column("receipt_id", BigId, autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _ts("at"),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=True),
        sa.Column("touched", sa.Boolean(), nullable=False),
        sa.Column("touches", Json, nullable=True),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipt.id"], name="fk_attribution_purchase_receipt_id_receipt"
        ),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_attribution_purchase_store_id_store"),
        _tenant_fk("attribution_purchase"),
        sa.PrimaryKeyConstraint("receipt_id", name="pk_attribution_purchase"),
    )
    op.create_index("ix_attribution_purchase_tenant_id_day", "attribution_purchase", ["tenant_id", "day"])
    op.create_index(
        "ix_attribution_purchase_tenant_id_profile_id", "attribution_purchase", ["tenant_id", "profile_id"]
    )
    op.create_table(
        "attribution_result",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=24), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=24), nullable=False),
        sa.Column("campaign", sa.String(length=300), nullable=False),
        sa.Column("conversions", sa.Float(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_attribution_result_store_id_store"),
        _tenant_fk("attribution_result"),
        sa.PrimaryKeyConstraint("id", name="pk_attribution_result"),
        sa.UniqueConstraint(
            "tenant_id",
            "day",
            "model",
            "store_id",
            "channel",
            "campaign",
            name="uq_attribution_result_key",
        ),
    )
    op.create_index(
        "ix_attribution_result_tenant_id_model_day", "attribution_result", ["tenant_id", "model", "day"]
    )
    op.create_table(
        "attribution_holdout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("target_kind", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        _ts("starts_at"),
        _ts("ends_at"),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        _tenant_fk("attribution_holdout"),
        sa.PrimaryKeyConstraint("id", name="pk_attribution_holdout"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_attribution_holdout_tenant_id_name"),
    )
    op.create_table(
        "attribution_assignment",
        sa.Column("holdout_id", sa.Integer(), nullable=False),
        sa.Column("unit_key", sa.String(length=64), nullable=False),
        sa.Column("held_out", sa.Boolean(), nullable=False),
        _ts("assigned_at"),
        sa.ForeignKeyConstraint(
            ["holdout_id"],
            ["attribution_holdout.id"],
            name="fk_attribution_assignment_holdout_id_attribution_holdout",
        ),
        sa.PrimaryKeyConstraint("holdout_id", "unit_key", name="pk_attribution_assignment"),
    )
    op.create_table(
        "attribution_cursor",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_attribution_cursor"),
    )
    op.create_index("ix_receipt_tenant_id_issued_at", "receipt", ["tenant_id", "issued_at"])


def downgrade() -> None:
    op.drop_index("ix_receipt_tenant_id_issued_at", table_name="receipt")
    op.drop_table("attribution_cursor")
    op.drop_table("attribution_assignment")
    op.drop_table("attribution_holdout")
    op.drop_index("ix_attribution_result_tenant_id_model_day", table_name="attribution_result")
    op.drop_table("attribution_result")
    op.drop_index("ix_attribution_purchase_tenant_id_profile_id", table_name="attribution_purchase")
    op.drop_index("ix_attribution_purchase_tenant_id_day", table_name="attribution_purchase")
    op.drop_table("attribution_purchase")
    op.drop_table("attribution_day")
    op.drop_table("attribution_settings")
