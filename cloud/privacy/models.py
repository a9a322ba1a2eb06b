"""Privacy tables: consents as an append-only record, the texts that were shown, and the erasure log.

A consent is not a flag: each grant or withdrawal is a row saying which text (by version and SHA-256 of its
exact wording) the buyer saw, when, and where (a till, a page, a form). The latest row per purpose wins.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import BigId, Json


class ConsentText(CloudModel, table=True):
    """The exact wording of a consent, once per tenant, purpose and version."""

    __tablename__ = "consent_text"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "purpose", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    purpose: str = Field(max_length=16)
    version: str = Field(max_length=32)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    text_sha256: str = Field(max_length=64)
    created_at: datetime = timestamp_field()


class ConsentRecord(CloudModel, table=True):
    __tablename__ = "consent"
    __table_args__ = (sa.Index(None, "tenant_id", "subject_hash", "purpose"),)

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))
    tenant_id: int = Field(foreign_key="tenant.id")
    subject_hash: str = Field(max_length=64)  # the keyed hash of the phone or e-mail
    subject_kind: str = Field(max_length=8)
    purpose: str = Field(max_length=16)  # e_receipt | advertising | loyalty
    granted: bool
    text_id: int = Field(foreign_key="consent_text.id")
    source: str = Field(max_length=16)  # till | page | form | api
    source_ref: str = Field(default="", max_length=200)  # register id, page URL, form name
    recorded_at: datetime = timestamp_field()
    # Only for an advertising grant: the plain SHA-256 forms that ad platforms match on (Meta: the phone
    # without '+', Google: E.164 with '+'). Nobody else gets a reversible hash.
    ad_sha256: str | None = Field(default=None, max_length=64)
    ad_sha256_e164: str | None = Field(default=None, max_length=64)


class ErasureRequest(CloudModel, table=True):
    """That an erasure was asked for and done, with how many rows of each kind; nothing of the buyer."""

    __tablename__ = "erasure_request"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenant.id")  # None: every tenant (operator)
    requested_by: str = Field(max_length=100)
    reason: str = Field(default="", max_length=200)
    requested_at: datetime = timestamp_field()
    finished_at: datetime = timestamp_field()
    counts: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
