"""What the privacy endpoints take and answer. A contact goes in; no contact or hash ever comes out."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloud.privacy.consent import Purpose, Source


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErasureIn(_In):
    contact: str = Field(min_length=3, max_length=320, description="The buyer's phone or e-mail, as typed.")
    reason: str = Field(default="", max_length=200, examples=["запрос покупателя от 30.11.2026"])


class ErasureOut(BaseModel):
    id: int
    requested_at: datetime
    finished_at: datetime
    counts: dict[str, Any] = Field(description="Rows changed or removed, per kind: receipts, push_devices, …")


class ConsentIn(_In):
    contact: str = Field(min_length=3, max_length=320)
    purpose: Purpose
    granted: bool = True
    text: str = Field(min_length=10, max_length=20_000, description="The exact wording the buyer saw.")
    text_version: str = Field(min_length=1, max_length=32, examples=["2026-11"])
    source: Source = Source.API
    source_ref: str = Field(default="", max_length=200, description="Page URL, form or till that asked.")


class ConsentOut(BaseModel):
    id: int
    purpose: Purpose
    granted: bool
    recorded_at: datetime
