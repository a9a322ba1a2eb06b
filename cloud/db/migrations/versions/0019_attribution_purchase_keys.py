"""Each touched, identified purchase's channels and campaigns as plain rows, for the ROPO tables.

Revision ID: 0019_attribution_purchase_keys
Revises: 0018m_report_rollups
Create Date: 2026-12-05

Written to match cloud/attribution/tables.py (`AttributionPurchaseKey`); tests/cloud/test_migrations.py
checks that they agree. Purchases already stored get their rows here, from their stored touches (the same
expansion the ROPO page ran per request until now: a touch without a campaign counts under its channel).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_attribution_purchase_keys"
down_revision: str | None = "0018m_report_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_COLUMNS = "receipt_id, field, key, tenant_id, day, store_id, revenue, profile_id"
_EXPANDED = {
    "postgresql": (
        "jsonb_array_elements(p.touches) AS t(value)",
        "t.value ->> 'channel'",
        "coalesce(t.value ->> 'campaign', t.value ->> 'channel')",
    ),
    "sqlite": (
        "json_each(p.touches) AS t",
        "json_extract(t.value, '$.channel')",
        "coalesce(json_extract(t.value, '$.campaign'), json_extract(t.value, '$.channel'))",
    ),
}


def upgrade() -> None:
    op.create_table(
        "attribution_purchase_key",
        sa.Column("receipt_id", BigId, autoincrement=False, nullable=False),
        sa.Column("field", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipt.id"], name="fk_attribution_purchase_key_receipt_id_receipt"
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["store.id"], name="fk_attribution_purchase_key_store_id_store"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name="fk_attribution_purchase_key_tenant_id_tenant"
        ),
        sa.PrimaryKeyConstraint("receipt_id", "field", "key", name="pk_attribution_purchase_key"),
    )
    op.create_index(
        "ix_attribution_purchase_key_tenant_id_day", "attribution_purchase_key", ["tenant_id", "day"]
    )
    elements, channel, campaign = _EXPANDED[op.get_bind().dialect.name]
    for field, key in (("channel", channel), ("campaign", campaign)):
        op.execute(
            f"INSERT INTO attribution_purchase_key ({_COLUMNS}) "
            f"SELECT DISTINCT p.receipt_id, '{field}', {key}, p.tenant_id, p.day, p.store_id, p.revenue, "
            f"p.profile_id FROM attribution_purchase AS p CROSS JOIN {elements} "
            "WHERE p.touched AND p.profile_id IS NOT NULL AND p.touches IS NOT NULL"
        )


def downgrade() -> None:
    op.drop_index("ix_attribution_purchase_key_tenant_id_day", table_name="attribution_purchase_key")
    op.drop_table("attribution_purchase_key")
