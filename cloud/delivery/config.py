"""A tenant's delivery configuration: channels (with credentials), policy and prices. Validated on the way
in; shown only with secrets redacted; credentials encrypted at rest with the cloud's key (`cloud.secret_key`)
and decrypted only here, for the adapters."""

import logging
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import MultiFernet
from sqlmodel import Session, select

from cloud import secret_key
from cloud.accounts.models import Tenant
from cloud.db.types import utcnow
from cloud.delivery.cascade import DEFAULT_POLICY, Channel, Step, format_policy, parse_policy
from cloud.delivery.channels.registry import SECRET_FIELDS, redacted, validate_settings
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


def _box(session: Session) -> MultiFernet:
    return secret_key.box_for(session.get_bind().engine.url)


def sealed(box: MultiFernet, values: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored: every credential encrypted."""
    return {
        k: secret_key.encrypt(box, v) if k in SECRET_FIELDS and isinstance(v, str) and v else v
        for k, v in values.items()
    }


def opened(box: MultiFernet, values: dict[str, Any]) -> dict[str, Any]:
    """The settings as the adapters need them: credentials decrypted."""
    return {k: secret_key.decrypt(box, v) if isinstance(v, str) else v for k, v in values.items()}


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
        channels={Channel(r.channel): opened(_box(session), dict(r.settings)) for r in rows if r.enabled},
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
    box = _box(session)
    current = opened(box, dict(row.settings)) if row else {}
    clean = validate_settings(channel, {**current, **values})
    stored = sealed(box, clean)
    if row is None:
        row = DeliveryChannel(
            tenant_id=tenant_id, channel=channel.value, settings=stored, updated_at=utcnow()
        )
    row.settings, row.enabled, row.updated_at = stored, enabled, utcnow()
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
        "channels": {
            r.channel: {"enabled": r.enabled, "settings": redacted(opened(_box(session), dict(r.settings)))}
            for r in rows
        },
    }


def reencrypt_all(session: Session) -> int:
    """After a key rotation (new key first in ECHECK_SECRET_KEY): every credential re-encrypted with the
    first key, so the old key can be dropped. Returns the number of channel rows rewritten."""
    box = _box(session)
    rows = list(session.exec(select(DeliveryChannel)))
    for row in rows:
        row.settings = {
            k: secret_key.rotate(box, v) if k in SECRET_FIELDS and isinstance(v, str) and v else v
            for k, v in row.settings.items()
        }
        session.add(row)
    session.commit()
    event(log, logging.INFO, "channels.reencrypted", rows=len(rows))
    return len(rows)
