"""The event store: tracking_event (append-only) and tracking_event_key (the dedup claim on event_id).

Revision ID: 0010_tracking_events
Revises: 0009_receipt_page
Create Date: 2026-12-01

Written to match cloud/tracking/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_tracking_events"
down_revision: str | None = "0009_receipt_page"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tracking_event_key",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_tracking_event_key"),
    )
    op.create_index("ix_tracking_event_key_received_at", "tracking_event_key", ["received_at"])
    op.create_table(
        "tracking_event",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("client_at", TS, nullable=True),
        sa.Column("browser_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("referrer", sa.String(length=2000), nullable=True),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("utm_term", sa.String(length=200), nullable=True),
        sa.Column("utm_content", sa.String(length=200), nullable=True),
        sa.Column("yclid", sa.String(length=200), nullable=True),
        sa.Column("gclid", sa.String(length=200), nullable=True),
        sa.Column("ec_click", sa.String(length=200), nullable=True),
        sa.Column("ym_client_id", sa.String(length=64), nullable=True),
        sa.Column("receipt_id", sa.BigInteger(), nullable=True),
        sa.Column("block_id", sa.String(length=64), nullable=True),
        sa.Column("identifiers", Json, nullable=True),
        sa.Column("properties", Json, nullable=True),
        sa.Column("bot", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_tracking_event_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("event_id", "received_at", name="pk_tracking_event"),
    )
    op.create_index("ix_tracking_event_tenant_id_received_at", "tracking_event", ["tenant_id", "received_at"])
    op.create_index(
        "ix_tracking_event_browser_id_received_at", "tracking_event", ["browser_id", "received_at"]
    )
    op.create_index("ix_tracking_event_receipt_id_type", "tracking_event", ["receipt_id", "type"])


def downgrade() -> None:
    op.drop_table("tracking_event")
    op.drop_table("tracking_event_key")
