"""E-receipt templates: immutable versions, the published pointer, holdout exposures, buyers' answers and
the CRM webhook they are posted to.

Revision ID: 0012_page_templates
Revises: 0013_identity
Create Date: 2026-12-01

Written to match cloud/pages/models.py; tests/cloud/test_migrations.py checks that they agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_page_templates"
down_revision: str | None = "0013_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "page_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_page_template_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("id", name="pk_page_template"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_page_template_tenant_id_number"),
    )
    op.create_table(
        "page_template_pointer",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(length=254), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name="fk_page_template_pointer_tenant_id_tenant"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["page_template.id"], name="fk_page_template_pointer_version_id_page_template"
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["page_template.id"], name="fk_page_template_pointer_previous_id_page_template"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_page_template_pointer"),
    )
    op.create_table(
        "page_exposure",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", BIG_ID, nullable=False),
        sa.Column("block_id", sa.String(length=32), nullable=False),
        sa.Column("held_out", sa.Boolean(), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_page_exposure_tenant_id_tenant"),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.id"], name="fk_page_exposure_receipt_id_receipt"),
        sa.PrimaryKeyConstraint("id", name="pk_page_exposure"),
        sa.UniqueConstraint("receipt_id", "block_id", name="uq_page_exposure_receipt_id_block_id"),
    )
    op.create_index(
        "ix_page_exposure_tenant_id_block_id_held_out", "page_exposure", ["tenant_id", "block_id", "held_out"]
    )
    op.create_table(
        "page_answer",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", BIG_ID, nullable=False),
        sa.Column("block_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=True),
        sa.Column("consent_id", BIG_ID, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_page_answer_tenant_id_tenant"),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.id"], name="fk_page_answer_receipt_id_receipt"),
        sa.ForeignKeyConstraint(["consent_id"], ["consent.id"], name="fk_page_answer_consent_id_consent"),
        sa.PrimaryKeyConstraint("id", name="pk_page_answer"),
        sa.UniqueConstraint(
            "receipt_id", "block_id", "field", name="uq_page_answer_receipt_id_block_id_field"
        ),
    )
    op.create_index("ix_page_answer_tenant_id_at", "page_answer", ["tenant_id", "at"])
    op.create_table(
        "page_webhook",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_page_webhook_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_page_webhook"),
    )
    op.create_index("ix_page_answer_tenant_id_contact_hash", "page_answer", ["tenant_id", "contact_hash"])


def downgrade() -> None:
    op.drop_table("page_webhook")
    op.drop_table("page_answer")
    op.drop_table("page_exposure")
    op.drop_table("page_template_pointer")
    op.drop_table("page_template")
