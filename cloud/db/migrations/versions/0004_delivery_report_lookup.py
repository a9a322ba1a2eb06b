"""Delivery reports looked up by message id: a report that overtakes the worker is parked as "unknown" and
found again by (tenant, channel, message id) once the worker has written the id.

Revision ID: 0004_delivery_report_lookup
Revises: 0003_fleet_health
Create Date: 2026-11-23

Written to match cloud/delivery/models.py (ReportRow); tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_delivery_report_lookup"
down_revision: str | None = "0003_fleet_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_delivery_report_tenant_id_channel_message_id",
        "delivery_report",
        ["tenant_id", "channel", "message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_report_tenant_id_channel_message_id", table_name="delivery_report")
