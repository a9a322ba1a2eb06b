"""Privacy: consent records with the texts shown, and the erasure log.

Revision ID: 0008_privacy
Revises: 0007_tenant_keys_landing_sealed
Create Date: 2026-11-30

Written to match cloud/privacy/models.py; tests/cloud/test_migrations.py checks that they agree. Existing
receipts' plain SHA-256 contact hashes become keyed hashes at the next `serve`/`migrate`
(`cloud.privacy.retention.rekey`), which needs the identity key and so does not run inside the migration.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_privacy"
down_revision: str | None = "0007_tenant_keys_landing_sealed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consent_text",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_consent_text_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_consent_text"),
        sa.UniqueConstraint(
            "tenant_id", "purpose", "version", name="uq_consent_text_tenant_id_purpose_version"
        ),
    )
    op.create_table(
        "consent",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=8), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("text_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("ad_sha256", sa.String(length=64), nullable=True),
        sa.Column("ad_sha256_e164", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_consent_tenant_id_tenant"),
        sa.ForeignKeyConstraint(["text_id"], ["consent_text.id"], name="fk_consent_text_id_consent_text"),
        sa.PrimaryKeyConstraint("id", name="pk_consent"),
    )
    op.create_index(
        "ix_consent_tenant_id_subject_hash_purpose", "consent", ["tenant_id", "subject_hash", "purpose"]
    )
    op.create_table(
        "erasure_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_erasure_request_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_erasure_request"),
    )


def downgrade() -> None:
    op.drop_table("erasure_request")
    op.drop_index("ix_consent_tenant_id_subject_hash_purpose", table_name="consent")
    op.drop_table("consent")
    op.drop_table("consent_text")
