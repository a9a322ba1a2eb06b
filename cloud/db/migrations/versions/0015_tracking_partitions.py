"""Tracked sites (key + origins) and, on PostgreSQL, tracking_event partitioned by month of received_at.

Revision ID: 0015_tracking_partitions
Revises: 0014_update_channels
Create Date: 2026-12-02

On PostgreSQL the unpartitioned table of 0010 is replaced by `PARTITION BY RANGE (received_at)` with the
same columns, keys and index names; monthly partitions live in the schema `tracking_partitions` (made here
for this month and the next three, then by the periodic job `tracking.partitions`), with a default partition
for safety. Rows already stored are copied over. SQLite keeps the plain table.
Written to match cloud/tracking/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from cloud.tracking import partitions

revision: str = "0015_tracking_partitions"
down_revision: str | None = "0014_update_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
INDEXES = {
    "ix_tracking_event_tenant_id_received_at": "(tenant_id, received_at)",
    "ix_tracking_event_browser_id_received_at": "(browser_id, received_at)",
    "ix_tracking_event_receipt_id_type": "(receipt_id, type)",
}


def upgrade() -> None:
    op.create_table(
        "tracking_site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("site_key", sa.String(length=40), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_tracking_site_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_site"),
        sa.UniqueConstraint("site_key", name="uq_tracking_site_site_key"),
    )
    op.create_index("ix_tracking_site_tenant_id", "tracking_site", ["tenant_id"])
    op.create_table(
        "tracking_site_origin",
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["tracking_site.id"], name="fk_tracking_site_origin_site_id_tracking_site"
        ),
        sa.PrimaryKeyConstraint("origin", name="pk_tracking_site_origin"),
    )
    op.create_index("ix_tracking_site_origin_site_id", "tracking_site_origin", ["site_id"])
    if op.get_bind().dialect.name == "postgresql":
        _partition()


def _partition() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE tracking_event RENAME TO tracking_event_unpartitioned")
    op.execute(
        "ALTER TABLE tracking_event_unpartitioned RENAME CONSTRAINT pk_tracking_event TO pk_tracking_event_old"
    )
    op.execute(
        "ALTER TABLE tracking_event_unpartitioned "
        "RENAME CONSTRAINT fk_tracking_event_tenant_id_tenant TO fk_tracking_event_old_tenant"
    )
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    op.execute(
        """
        CREATE TABLE tracking_event (
            event_id VARCHAR(36) NOT NULL,
            received_at TIMESTAMP WITH TIME ZONE NOT NULL,
            tenant_id INTEGER NOT NULL,
            type VARCHAR(24) NOT NULL,
            client_at TIMESTAMP WITH TIME ZONE,
            browser_id VARCHAR(64),
            session_id VARCHAR(64),
            url VARCHAR(2000),
            referrer VARCHAR(2000),
            utm_source VARCHAR(200),
            utm_medium VARCHAR(200),
            utm_campaign VARCHAR(200),
            utm_term VARCHAR(200),
            utm_content VARCHAR(200),
            yclid VARCHAR(200),
            gclid VARCHAR(200),
            ec_click VARCHAR(200),
            ym_client_id VARCHAR(64),
            receipt_id BIGINT,
            block_id VARCHAR(64),
            identifiers JSONB,
            properties JSONB,
            bot VARCHAR(64),
            CONSTRAINT pk_tracking_event PRIMARY KEY (event_id, received_at),
            CONSTRAINT fk_tracking_event_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id)
        ) PARTITION BY RANGE (received_at)
        """
    )
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {partitions.SCHEMA}")
    op.execute(f"CREATE TABLE {partitions.DEFAULT} PARTITION OF tracking_event DEFAULT")
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON tracking_event {columns}")
    partitions.ensure_months(conn, datetime.now(UTC))
    op.execute("INSERT INTO tracking_event SELECT * FROM tracking_event_unpartitioned")
    op.execute("DROP TABLE tracking_event_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tracking_event RENAME TO tracking_event_partitioned")
        op.execute("ALTER TABLE tracking_event_partitioned RENAME CONSTRAINT pk_tracking_event TO pk_te_part")
        op.execute(
            "ALTER TABLE tracking_event_partitioned "
            "RENAME CONSTRAINT fk_tracking_event_tenant_id_tenant TO fk_te_part_tenant"
        )
        for name in INDEXES:
            op.execute(f"ALTER INDEX {name} RENAME TO {name}_part")
        op.execute(
            "CREATE TABLE tracking_event (LIKE tracking_event_partitioned INCLUDING DEFAULTS, "
            "CONSTRAINT pk_tracking_event PRIMARY KEY (event_id, received_at), "
            "CONSTRAINT fk_tracking_event_tenant_id_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (id))"
        )
        for name, columns in INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON tracking_event {columns}")
        op.execute("INSERT INTO tracking_event SELECT * FROM tracking_event_partitioned")
        op.execute("DROP TABLE tracking_event_partitioned")
        op.execute(f"DROP SCHEMA IF EXISTS {partitions.SCHEMA} CASCADE")
    op.drop_table("tracking_site_origin")
    op.drop_table("tracking_site")
