"""Promo codes: a tenant's promo rules and the codes issued per receipt, with their redemption.

Revision ID: 0011_promo_codes
Revises: 0010_tracking_events
Create Date: 2026-12-02

Written to match cloud/pages/promo/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_promo_codes"
down_revision: str | None = "0010_tracking_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "promo_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("headline", sa.String(length=120), nullable=False),
        sa.Column("categories", Json, nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("start_delay_h", sa.Integer(), nullable=False),
        sa.Column("remind_before_h", sa.Integer(), nullable=True),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("alphabet", sa.String(length=36), nullable=False),
        sa.Column("planned_codes", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_promo_rule_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_promo_rule"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_promo_rule_tenant_id_name"),
    )
    op.create_table(
        "promo_code",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", BigId, nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        _ts("issued_at"),
        _ts("starts_at"),
        _ts("expires_at"),
        _ts("redeemed_at", nullable=True),
        sa.Column("redeem_key", sa.String(length=100), nullable=True),
        sa.Column("redeemed_store_id", sa.Integer(), nullable=True),
        sa.Column("redeemed_register_id", sa.Integer(), nullable=True),
        sa.Column("redeemed_receipt_id", BigId, nullable=True),
        sa.Column("redeemed_purchase", sa.String(length=100), nullable=True),
        sa.Column("redeemed_by", sa.String(length=120), nullable=True),
        sa.Column("reminder", sa.String(length=20), nullable=True),
        _ts("reminder_at", nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_promo_code_tenant_id_tenant"),
        sa.ForeignKeyConstraint(["rule_id"], ["promo_rule.id"], name="fk_promo_code_rule_id_promo_rule"),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.id"], name="fk_promo_code_receipt_id_receipt"),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_promo_code_store_id_store"),
        sa.ForeignKeyConstraint(
            ["redeemed_store_id"], ["store.id"], name="fk_promo_code_redeemed_store_id_store"
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_register_id"], ["register.id"], name="fk_promo_code_redeemed_register_id_register"
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_receipt_id"], ["receipt.id"], name="fk_promo_code_redeemed_receipt_id_receipt"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_promo_code"),
        sa.UniqueConstraint("tenant_id", "code", name="uq_promo_code_tenant_id_code"),
        sa.UniqueConstraint("receipt_id", "rule_id", name="uq_promo_code_receipt_id_rule_id"),
    )
    op.create_index("ix_promo_code_rule_id_store_id", "promo_code", ["rule_id", "store_id"])


def downgrade() -> None:
    op.drop_index("ix_promo_code_rule_id_store_id", table_name="promo_code")
    op.drop_table("promo_code")
    op.drop_table("promo_rule")
