"""Update channels: the channel head office assigns to a store, and the one each register reports.

Revision ID: 0014_update_channels
Revises: 0011_promo_codes
Create Date: 2026-12-10

Written to match cloud/accounts/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_update_channels"
down_revision: str | None = "0011_promo_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("store") as batch:
        batch.add_column(
            sa.Column("update_channel", sa.String(length=16), nullable=False, server_default="stable")
        )
    with op.batch_alter_table("register") as batch:
        batch.add_column(sa.Column("update_channel", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("register") as batch:
        batch.drop_column("update_channel")
    with op.batch_alter_table("store") as batch:
        batch.drop_column("update_channel")
