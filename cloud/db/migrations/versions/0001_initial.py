"""Initial schema: tenants, stores, registers, enrollment codes, receipts and their conflicts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written by hand to match the models (cloud/db/tables.py lists them); tests/cloud/test_migrations.py checks that they agree.
Plain SQLAlchemy types only: a migration must not change when the application's code does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit ids on PostgreSQL; SQLite auto-increments only INTEGER PRIMARY KEY (already 64-bit there).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant"),
        sa.UniqueConstraint("api_key_hash", name="uq_tenant_api_key_hash"),
    )
    op.create_table(
        "store",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_store_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_store"),
    )
    op.create_index("ix_store_tenant_id", "store", ["tenant_id"])
    op.create_table(
        "register",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", TS, nullable=False),
        sa.Column("last_heartbeat_at", TS, nullable=True),
        sa.Column("queue_depth", sa.Integer(), nullable=False),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("oldest_unsynced_age_s", sa.Float(), nullable=True),
        sa.Column("last_sync_at", TS, nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("clock_skew_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_register_store_id_store"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_register_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_register"),
        sa.UniqueConstraint("token_hash", name="uq_register_token_hash"),
    )
    op.create_index("ix_register_store_id", "register", ["store_id"])
    op.create_index("ix_register_tenant_id", "register", ["tenant_id"])
    op.create_table(
        "enrollment_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("register_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["register_id"], ["register.id"], name="fk_enrollment_code_register_id_register"
        ),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_enrollment_code_store_id_store"),
        sa.PrimaryKeyConstraint("id", name="pk_enrollment_code"),
        sa.UniqueConstraint("code_hash", name="uq_enrollment_code_code_hash"),
    )
    op.create_index("ix_enrollment_code_store_id", "enrollment_code", ["store_id"])
    op.create_table(
        "receipt",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("fn_serial", sa.String(length=16), nullable=False),
        sa.Column("fd_number", sa.BigInteger(), nullable=False),
        sa.Column("fpd", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("calculation_type", sa.Integer(), nullable=False),
        sa.Column("contact_kind", sa.String(length=8), nullable=True),
        sa.Column("contact_hash", sa.String(length=64), nullable=True),
        sa.Column("contact_value", sa.String(length=320), nullable=True),
        sa.Column("loyalty_card", sa.String(length=64), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["register_id"], ["register.id"], name="fk_receipt_register_id_register"),
        sa.ForeignKeyConstraint(["store_id"], ["store.id"], name="fk_receipt_store_id_store"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_receipt_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_receipt"),
        # The natural key: ingest inserts with ON CONFLICT DO NOTHING against it.
        sa.UniqueConstraint("fn_serial", "fd_number", "fpd", name="uq_receipt_fn_serial_fd_number_fpd"),
    )
    op.create_index("ix_receipt_contact_hash", "receipt", ["contact_hash"])
    op.create_index("ix_receipt_register_id", "receipt", ["register_id"])
    op.create_index("ix_receipt_store_id_id", "receipt", ["store_id", "id"])
    op.create_index("ix_receipt_tenant_id_received_at", "receipt", ["tenant_id", "received_at"])
    op.create_table(
        "receipt_conflict",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("receipt_id", BIG_ID, nullable=False),
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipt.id"], name="fk_receipt_conflict_receipt_id_receipt"
        ),
        sa.ForeignKeyConstraint(
            ["register_id"], ["register.id"], name="fk_receipt_conflict_register_id_register"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipt_conflict"),
        sa.UniqueConstraint("receipt_id", "content_hash", name="uq_receipt_conflict_receipt_id_content_hash"),
    )


def downgrade() -> None:
    op.drop_table("receipt_conflict")
    for name in ("ix_receipt_tenant_id_received_at", "ix_receipt_store_id_id", "ix_receipt_register_id"):
        op.drop_index(name, table_name="receipt")
    op.drop_index("ix_receipt_contact_hash", table_name="receipt")
    op.drop_table("receipt")
    op.drop_index("ix_enrollment_code_store_id", table_name="enrollment_code")
    op.drop_table("enrollment_code")
    op.drop_index("ix_register_tenant_id", table_name="register")
    op.drop_index("ix_register_store_id", table_name="register")
    op.drop_table("register")
    op.drop_index("ix_store_tenant_id", table_name="store")
    op.drop_table("store")
    op.drop_table("tenant")
