"""A tenant's delivery configuration: channels (with credentials), policy and prices. Validated on the way
in; shown only with secrets redacted."""

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from cloud.accounts.models import Tenant
from cloud.db.types import utcnow
from cloud.delivery.cascade import DEFAULT_POLICY, Channel, Step, format_policy, parse_policy
from cloud.delivery.channels.registry import redacted, validate_settings
from cloud.delivery.models import DeliveryChannel, DeliverySettings
from cloud.delivery.prices import merged
from cloud.errors import NotFound
from cloud.logs import event

log = logging.getLogger("cloud.delivery")


@dataclass(frozen=True, slots=True)
class TenantDelivery:
    tenant_id: int
    tenant_name: str
    policy: tuple[Step, ...]
    prices: dict[str, int]
    channels: dict[Channel, dict[str, Any]]  # enabled channels only, with their (secret) settings


def load(session: Session, tenant_id: int) -> TenantDelivery:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    settings = session.get(DeliverySettings, tenant_id)
    rows = session.exec(select(DeliveryChannel).where(DeliveryChannel.tenant_id == tenant_id))
    return TenantDelivery(
        tenant_id=tenant_id,
        tenant_name=tenant.name,
        policy=parse_policy(settings.policy) if settings else DEFAULT_POLICY,
        prices=merged(settings.prices if settings else None),
        channels={Channel(r.channel): dict(r.settings) for r in rows if r.enabled},
    )


def set_channel(
    session: Session, tenant_id: int, channel: Channel, values: dict[str, Any], enabled: bool = True
) -> dict[str, Any]:
    """Create or replace a channel's settings (merged over the stored ones). Returns them redacted."""
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    row = session.exec(
        select(DeliveryChannel).where(
            DeliveryChannel.tenant_id == tenant_id, DeliveryChannel.channel == channel
        )
    ).first()
    current = dict(row.settings) if row else {}
    clean = validate_settings(channel, {**current, **values})
    if row is None:
        row = DeliveryChannel(tenant_id=tenant_id, channel=channel.value, settings=clean, updated_at=utcnow())
    row.settings, row.enabled, row.updated_at = clean, enabled, utcnow()
    session.add(row)
    session.commit()
    event(log, logging.INFO, "channel.configured", tenant_id=tenant_id, channel=channel, enabled=enabled)
    return redacted(clean)


def set_policy(
    session: Session, tenant_id: int, policy: str | None = None, prices: dict[str, int] | None = None
) -> tuple[str, dict[str, int]]:
    if session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    row = session.get(DeliverySettings, tenant_id)
    if row is None:
        row = DeliverySettings(
            tenant_id=tenant_id, policy=format_policy(DEFAULT_POLICY), prices={}, updated_at=utcnow()
        )
    if policy is not None:
        row.policy = format_policy(parse_policy(policy))
    if prices:
        row.prices = {**row.prices, **prices}
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    return row.policy, merged(row.prices)


def describe(session: Session, tenant_id: int) -> dict[str, Any]:
    """Everything about a tenant's delivery setup, secrets redacted: for `channels list` and the API."""
    cfg = load(session, tenant_id)
    rows = session.exec(select(DeliveryChannel).where(DeliveryChannel.tenant_id == tenant_id))
    return {
        "tenant_id": tenant_id,
        "policy": format_policy(cfg.policy),
        "prices_kopecks": cfg.prices,
        "channels": {r.channel: {"enabled": r.enabled, "settings": redacted(dict(r.settings))} for r in rows},
    }
