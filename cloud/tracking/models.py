"""The event store's tables: events append-only, and the ids already taken (the dedup key).

Events are the biggest table the cloud has (every page view of every retailer site), so on PostgreSQL it is
meant to be partitioned by month of `received_at`; a partitioned table's unique keys must contain the
partition column, so deduplication by `event_id` alone lives in its own small table, `tracking_event_key`,
which the store inserts into first (ON CONFLICT DO NOTHING) and which is purged after the dedup window.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from cloud.db.base import CloudModel, timestamp_field
from cloud.db.types import Json
from cloud.tracking.events import MAX_TOKEN, MAX_URL


class TrackingEventKey(CloudModel, table=True):
    __tablename__ = "tracking_event_key"

    event_id: str = Field(primary_key=True, max_length=36)
    received_at: datetime = timestamp_field(index=True)


class TrackingEvent(CloudModel, table=True):
    __tablename__ = "tracking_event"
    __table_args__ = (
        sa.Index(None, "tenant_id", "received_at"),
        sa.Index(None, "browser_id", "received_at"),
        sa.Index(None, "receipt_id", "type"),
    )

    event_id: str = Field(primary_key=True, max_length=36)
    received_at: datetime = timestamp_field(primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    type: str = Field(max_length=24)
    client_at: datetime | None = timestamp_field(nullable=True)
    browser_id: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=64)
    url: str | None = Field(default=None, max_length=MAX_URL)
    referrer: str | None = Field(default=None, max_length=MAX_URL)
    utm_source: str | None = Field(default=None, max_length=MAX_TOKEN)
    utm_medium: str | None = Field(default=None, max_length=MAX_TOKEN)
    utm_campaign: str | None = Field(default=None, max_length=MAX_TOKEN)
    utm_term: str | None = Field(default=None, max_length=MAX_TOKEN)
    utm_content: str | None = Field(default=None, max_length=MAX_TOKEN)
    yclid: str | None = Field(default=None, max_length=MAX_TOKEN)
    gclid: str | None = Field(default=None, max_length=MAX_TOKEN)
    ec_click: str | None = Field(default=None, max_length=MAX_TOKEN)
    ym_client_id: str | None = Field(default=None, max_length=64)
    receipt_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    block_id: str | None = Field(default=None, max_length=64)
    identifiers: list[dict[str, str]] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    properties: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json, nullable=True))
    bot: str | None = Field(default=None, max_length=64)


class TrackingSite(CloudModel, table=True):
    """A retailer's web site (one or more origins) with the tracker: its public key names it in the
    script's and the collector's URLs (`/t/{site_key}/t.js`, `/t/{site_key}/collect`)."""

    __tablename__ = "tracking_site"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    site_key: str = Field(max_length=40, unique=True)
    created_at: datetime = timestamp_field()


class TrackingSiteOrigin(CloudModel, table=True):
    """An origin (`https://shop.example`) allowed to send events for a site: CORS answers only these."""

    __tablename__ = "tracking_site_origin"

    origin: str = Field(primary_key=True, max_length=255)
    site_id: int = Field(foreign_key="tracking_site.id", index=True)
    added_at: datetime = timestamp_field()
