"""A receipt's page kept rendered for its message link (cloud.pages.kept): a cache, filled on fetch.

Revision ID: 0020_page_kept
Revises: 0019_attribution_purchase_keys
Create Date: 2026-12-06

Written to match cloud/pages/models.py (`PageKept`); tests/cloud/test_migrations.py checks that they agree.
Nothing to fill: the first fetch of each receipt after the upgrade keeps its page.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_page_kept"
down_revision: str | None = "0019_attribution_purchase_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "page_kept",
        sa.Column("receipt_id", BigId, autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=True),
        sa.Column("stamp", sa.String(length=32), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("slots", Json, nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.id"], name="fk_page_kept_receipt_id_receipt"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_page_kept_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("receipt_id", name="pk_page_kept"),
    )
    op.create_index("ix_page_kept_contact_hash", "page_kept", ["contact_hash"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # lz4 where the server has it (PostgreSQL 14+ built with it): a kept page is ~12 KB of HTML, and
        # pglz, the default, cost PostgreSQL ~0.16 ms of CPU per page written, lz4 ~0.06 (performance.md).
        lz4 = bind.execute(
            sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
        if lz4:
            op.execute("ALTER TABLE page_kept ALTER COLUMN html SET COMPRESSION lz4")
    op.create_index("ix_page_kept_kept_at", "page_kept", ["kept_at"])


def downgrade() -> None:
    op.drop_index("ix_page_kept_kept_at", table_name="page_kept")
    op.drop_index("ix_page_kept_contact_hash", table_name="page_kept")
    op.drop_table("page_kept")
