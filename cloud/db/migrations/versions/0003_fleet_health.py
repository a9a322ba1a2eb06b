"""Fleet health: optional heartbeat fields on the register, and agent sessions for clone detection.

Revision ID: 0003_fleet_health
Revises: 0002_delivery
Create Date: 2026-11-24

Written to match cloud/accounts/models.py (Register) and cloud/fleet/models.py; tests/cloud/test_migrations.py
checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_fleet_health"
down_revision: str | None = "0002_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("register") as batch:
        batch.add_column(sa.Column("instance_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("session_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("heartbeat_interval_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("outbox_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("outbox_quota_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("outbox_recovered", JSON, nullable=True))
        batch.add_column(sa.Column("write_error", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("dead_letter", JSON, nullable=True))
        batch.add_column(sa.Column("clone_suspected_at", TS, nullable=True))
        batch.add_column(sa.Column("clone_detail", sa.String(length=500), nullable=True))
    op.create_table(
        "register_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=True),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("beats", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["register_id"], ["register.id"], name="fk_register_session_register_id_register"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_register_session"),
        sa.UniqueConstraint("register_id", "session_id", name="uq_register_session_register_id_session_id"),
    )
    op.create_index("ix_register_session_register_id", "register_session", ["register_id"])


def downgrade() -> None:
    op.drop_index("ix_register_session_register_id", table_name="register_session")
    op.drop_table("register_session")
    with op.batch_alter_table("register") as batch:
        for column in (
            "clone_detail",
            "clone_suspected_at",
            "dead_letter",
            "write_error",
            "outbox_recovered",
            "outbox_quota_bytes",
            "outbox_bytes",
            "heartbeat_interval_s",
            "session_id",
            "instance_id",
        ):
            batch.drop_column(column)
