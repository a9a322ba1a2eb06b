"""The one job table (cloud/jobs), and a step job for every delivery still under way: deliveries used to
be polled by their own worker; from here on each has a `delivery.step` job due at its `due_at`.

Revision ID: 0005_jobs
Revises: 0004_delivery_report_lookup
Create Date: 2026-11-30

Written to match cloud/jobs/models.py (JobRow); tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from cloud.db.types import BigId, Json, UTCDateTime

revision: str = "0005_jobs"
down_revision: str | None = "0004_delivery_report_lookup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    job = op.create_table(
        "job",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("args", Json, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("lock", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job"),
    )
    op.create_index("ix_job_status_due_at", "job", ["status", "due_at"], unique=False)
    todo, doing = sa.text("status = 'todo'"), sa.text("status = 'doing'")
    op.create_index("uq_job_key_todo", "job", ["key"], unique=True, sqlite_where=todo, postgresql_where=todo)
    op.create_index(
        "uq_job_lock_doing", "job", ["lock"], unique=True, sqlite_where=doing, postgresql_where=doing
    )

    conn = op.get_bind()
    delivery = sa.table("delivery", sa.column("id"), sa.column("due_at", UTCDateTime()))
    rows = conn.execute(sa.select(delivery.c.id, delivery.c.due_at).where(delivery.c.due_at.is_not(None)))
    now = datetime.now(UTC)
    jobs = [
        {
            "name": "delivery.step",
            "args": {"delivery_id": delivery_id},
            "status": "todo",
            "due_at": due_at,
            "key": f"delivery.step:{delivery_id}",
            "lock": f"delivery.step:{delivery_id}",
            "attempts": 0,
            "max_attempts": 10,
            "created_at": now,
        }
        for delivery_id, due_at in rows
    ]
    if jobs:
        op.bulk_insert(job, jobs)


def downgrade() -> None:
    op.drop_index("uq_job_lock_doing", table_name="job")
    op.drop_index("uq_job_key_todo", table_name="job")
    op.drop_index("ix_job_status_due_at", table_name="job")
    op.drop_table("job")
