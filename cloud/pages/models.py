"""The pages' tables: template versions (immutable), the per-tenant published pointer, holdout exposures,
and the buyer's answers (loyalty sign-ups, profile answers, survey ratings).

- `page_template`: one row per saved version, never updated; `number` counts a tenant's versions.
- `page_template_pointer`: which version the tenant's buyers see, and the one before it (rollback).
- `page_exposure`: per (receipt, block with a holdout): shown or held out, decided once when the page is
  first opened; lift compares sign-ups and repeat purchases of the two groups.
- `page_answer`: what a buyer sent from the page, with the consent record it was given under.
- `page_webhook`: where the tenant's CRM wants each answer posted (the signing secret encrypted at rest).
- `page_kept`: a receipt's page as last rendered for its message link, with the per-fetch values left as
  slots and a stamp of everything it was rendered from (`cloud.pages.kept`): a cache, never a record.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


class PageTemplate(CloudModel, table=True):
    __tablename__ = "page_template"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    number: int
    body: dict[str, Any] = Field(
        sa_column=sa.Column(Json, nullable=False)
    )  # Template.model_dump(mode="json")
    note: str = Field(default="", max_length=200)  # what changed, in the editor's words
    created_by: str = Field(max_length=254)
    created_at: datetime = timestamp_field()


class PageTemplatePointer(CloudModel, table=True):
    __tablename__ = "page_template_pointer"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    version_id: int = Field(foreign_key="page_template.id")
    previous_id: int | None = Field(default=None, foreign_key="page_template.id")
    updated_by: str = Field(max_length=254)
    updated_at: datetime = timestamp_field()


class PageExposure(CloudModel, table=True):
    __tablename__ = "page_exposure"
    __table_args__ = (
        sa.UniqueConstraint("receipt_id", "block_id"),
        sa.Index(None, "tenant_id", "block_id", "held_out"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    receipt_id: int = Field(sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), nullable=False))
    block_id: str = Field(max_length=32)
    held_out: bool
    contact_hash: str | None = Field(default=None, max_length=64)
    at: datetime = timestamp_field()


class PageAnswer(CloudModel, table=True):
    __tablename__ = "page_answer"
    __table_args__ = (
        sa.UniqueConstraint("receipt_id", "block_id", "field"),
        sa.Index(None, "tenant_id", "at"),
        sa.Index(None, "tenant_id", "contact_hash"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    receipt_id: int = Field(sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), nullable=False))
    block_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)  # loyalty | enrichment | survey
    field: str = Field(max_length=16)  # signup | email | birthday | pet | rating
    value: str = Field(default="", max_length=320)
    comment: str = Field(default="", max_length=1000)
    contact_hash: str | None = Field(default=None, max_length=64)
    consent_id: int | None = Field(default=None, sa_column=sa.Column(BigId, sa.ForeignKey("consent.id")))
    at: datetime = timestamp_field()


class PageWebhook(CloudModel, table=True):
    __tablename__ = "page_webhook"

    tenant_id: int = Field(foreign_key="tenant.id", primary_key=True)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=500)  # "fernet:…" (cloud.secret_key)
    enabled: bool = True
    updated_by: str = Field(max_length=254)
    updated_at: datetime = timestamp_field()


class PageKept(CloudModel, table=True):
    """A receipt's page kept rendered (cloud.pages.kept). Deleted with the buyer's data on erasure (the
    page prints the masked contact and the answers' state); rows older than `kept.KEEP_FOR` are pruned."""

    __tablename__ = "page_kept"
    __table_args__ = (sa.Index(None, "contact_hash"), sa.Index(None, "kept_at"))

    receipt_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("receipt.id"), primary_key=True, autoincrement=False)
    )
    tenant_id: int = Field(foreign_key="tenant.id")
    contact_hash: str | None = Field(default=None, max_length=64)
    stamp: str = Field(max_length=32)  # kept.stamp_of: what the page was rendered from
    html: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # with kept.SLOT marks
    slots: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))  # what each mark stands for
    valid_until: datetime | None = timestamp_field(nullable=True)  # a promo's start or end changes the page
    kept_at: datetime = timestamp_field()
