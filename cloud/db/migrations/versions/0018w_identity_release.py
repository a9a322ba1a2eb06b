"""Per-tenant quarantine release: a tenant's admin lifts a quarantine for that tenant's links only.

Revision ID: 0018w_identity_release
Revises: 0017_attribution
Create Date: 2026-12-04

Written to match cloud/identity/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018w_identity_release"
down_revision: str | None = "0017_attribution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_release",
        sa.Column("node_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_identity_release_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("node_id", "tenant_id", name="pk_identity_release"),
    )
    # Releases made before this table (the old global release cleared the flag itself) need nothing.


def downgrade() -> None:
    op.drop_table("identity_release")
