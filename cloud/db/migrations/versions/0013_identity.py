"""The identity graph: nodes, edges (observations), revocations, the component mapping, profiles, the
merge log, per-tenant sightings and per-tenant blocked values.

Revision ID: 0013_identity
Revises: 0015_tracking_partitions
Create Date: 2026-12-02

Written to match cloud/identity/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_identity"
down_revision: str | None = "0015_tracking_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "identity_node",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=80), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("quarantined_at", TS, nullable=True),
        sa.Column("quarantine_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_node"),
        sa.UniqueConstraint("kind", "value", name="uq_identity_node_kind_value"),
    )
    op.create_table(
        "identity_edge",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("a_id", sa.BigInteger(), nullable=False),
        sa.Column("b_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_edge"),
    )
    op.create_index("ix_identity_edge_a_id", "identity_edge", ["a_id"])
    op.create_index("ix_identity_edge_b_id", "identity_edge", ["b_id"])
    op.create_index("ix_identity_edge_tenant_id_source_ref", "identity_edge", ["tenant_id", "source", "ref"])
    op.create_table(
        "identity_revocation",
        sa.Column("edge_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("revoked_at", TS, nullable=False),
        sa.Column("revoked_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("edge_id", name="pk_identity_revocation"),
    )
    op.create_table(
        "identity_member",
        sa.Column("node_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_identity_member"),
    )
    op.create_index("ix_identity_member_profile_id", "identity_member", ["profile_id"])
    op.create_table(
        "identity_profile",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_profile"),
    )
    op.create_table(
        "identity_merge_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=True),
        sa.Column("other_id", sa.BigInteger(), nullable=True),
        sa.Column("edge_id", sa.BigInteger(), nullable=True),
        sa.Column("node_id", sa.BigInteger(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("detail", Json, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_identity_merge_log"),
    )
    op.create_index("ix_identity_merge_log_profile_id", "identity_merge_log", ["profile_id"])
    op.create_index("ix_identity_merge_log_other_id", "identity_merge_log", ["other_id"])
    op.create_table(
        "identity_seen",
        sa.Column("node_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("node_id", "tenant_id", name="pk_identity_seen"),
    )
    op.create_index("ix_identity_seen_tenant_id_node_id", "identity_seen", ["tenant_id", "node_id"])
    op.create_table(
        "identity_blocked",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_identity_blocked_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "value_hash", name="pk_identity_blocked"),
    )


def downgrade() -> None:
    for table in (
        "identity_blocked",
        "identity_seen",
        "identity_merge_log",
        "identity_profile",
        "identity_member",
        "identity_revocation",
        "identity_edge",
        "identity_node",
    ):
        op.drop_table(table)
