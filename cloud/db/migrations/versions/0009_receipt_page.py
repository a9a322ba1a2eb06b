"""The receipt page's seller fields: tenant legal name, INN, taxation; store address, place, time zone.

Revision ID: 0009_receipt_page
Revises: 0008_privacy
Create Date: 2026-12-01

Written to match cloud/accounts/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_receipt_page"
down_revision: str | None = "0008_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(sa.Column("legal_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("inn", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("taxation", sa.String(length=32), nullable=True))
    with op.batch_alter_table("store") as batch:
        batch.add_column(sa.Column("address", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("settlement_place", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("store") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("settlement_place")
        batch.drop_column("address")
    with op.batch_alter_table("tenant") as batch:
        batch.drop_column("taxation")
        batch.drop_column("inn")
        batch.drop_column("legal_name")
