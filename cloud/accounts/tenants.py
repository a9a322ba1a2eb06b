"""Tenants (retailers) and their stores.

A new tenant gets one read+write API key, shown once (the same shape as before API keys had scopes;
`echeck-cloud key add` makes narrower ones).
"""

import logging
from typing import Any

from sqlmodel import Session, col, select

from cloud.accounts import api_keys, audit, legal
from cloud.accounts.models import Store, Tenant
from cloud.db.types import utcnow
from cloud.errors import InvalidInput, NotFound
from cloud.logs import event
from sync.protocol import UPDATE_CHANNELS

log = logging.getLogger("cloud.accounts")
FIRST_KEY_NAME = "основной ключ"


def create_tenant(session: Session, name: str) -> tuple[Tenant, str]:
    """Returns the tenant and its first api key (read+write). The key is shown once: only its hash is kept."""
    name = name.strip()
    if not name:
        raise InvalidInput("tenant name must not be empty")
    tenant = Tenant(name=name, created_at=utcnow())
    session.add(tenant)
    session.flush()
    assert tenant.id is not None
    _key, secret = api_keys.add(session, tenant.id, FIRST_KEY_NAME, api_keys.READ_WRITE, actor=audit.CLI)
    session.refresh(tenant)
    event(log, logging.INFO, "tenant.created", tenant_id=tenant.id, name=tenant.name)
    return tenant, secret


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.exec(select(Tenant).order_by(col(Tenant.id))))


def get_tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist (see `echeck-cloud tenant list`)")
    return tenant


def create_store(session: Session, tenant_id: int, name: str, region: str | None = None) -> Store:
    name = name.strip()
    if not name:
        raise InvalidInput("store name must not be empty")
    get_tenant(session, tenant_id)
    store = Store(tenant_id=tenant_id, name=name, region=(region or "").strip() or None)
    session.add(store)
    session.commit()
    session.refresh(store)
    event(
        log, logging.INFO, "store.created", tenant_id=tenant_id, store_id=store.id, region=store.region or ""
    )
    return store


def _store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"store {store_id} does not exist (see `echeck-cloud store list --tenant ID`)")
    return store


def set_region(session: Session, store_id: int, region: str | None, actor: str = audit.CLI) -> Store:
    store = _store(session, store_id)
    store.region = (region or "").strip() or None
    session.add(store)
    audit.record(session, store.tenant_id, actor, "store.region", f"store {store_id}", region=store.region)
    session.commit()
    session.refresh(store)
    return store


def set_update_channel(
    session: Session,
    tenant_id: int,
    channel: str,
    *,
    store_ids: list[int] | None = None,
    region: str | None = None,
    actor: str = audit.CLI,
) -> list[Store]:
    """Put stores (by id, or every store of a region) on an update channel; their registers hear it in the
    answer to their next heartbeat. A store of another tenant is NotFound."""
    if channel not in UPDATE_CHANNELS:
        raise InvalidInput(f"unknown update channel {channel!r}: one of {', '.join(UPDATE_CHANNELS)}")
    if store_ids:
        stores = [_store(session, store_id) for store_id in store_ids]
        for store in stores:
            if store.tenant_id != tenant_id:
                raise NotFound(f"store {store.id} does not exist for tenant {tenant_id}")
    elif region:
        stores = [s for s in stores_of(session, tenant_id) if s.region == region]
        if not stores:
            raise NotFound(f"tenant {tenant_id} has no store in region {region!r}")
    else:
        raise InvalidInput("name the stores (--store) or a region (--region)")
    for store in stores:
        store.update_channel = channel
        session.add(store)
        audit.record(session, tenant_id, actor, "store.update_channel", f"store {store.id}", channel=channel)
    session.commit()
    for store in stores:
        session.refresh(store)
    return stores


def stores_of(session: Session, tenant_id: int, store_ids: frozenset[int] | None = None) -> list[Store]:
    """The tenant's stores, or those of them in `store_ids` (a caller's scope; None = all)."""
    query = select(Store).where(Store.tenant_id == tenant_id)
    if store_ids is not None:
        query = query.where(col(Store.id).in_(store_ids))
    return list(session.exec(query.order_by(col(Store.id))))


def regions_of(session: Session, tenant_id: int) -> list[str]:
    rows = session.exec(select(Store.region).where(Store.tenant_id == tenant_id).distinct())
    return sorted(r for r in rows if r)


def set_tenant_details(
    session: Session,
    tenant_id: int,
    *,
    legal_name: str | None = None,
    inn: str | None = None,
    taxation: str | None = None,
    actor: str = audit.CLI,
) -> Tenant:
    """The seller as the receipt page prints it; None leaves a field as it is."""
    tenant = get_tenant(session, tenant_id)
    if legal_name is not None:
        tenant.legal_name = legal_name.strip() or None
    if inn is not None:
        tenant.inn = legal.checked_inn(inn)
    if taxation is not None:
        tenant.taxation = legal.checked_taxation(taxation)
    detail = {"legal_name": tenant.legal_name, "inn": tenant.inn, "taxation": tenant.taxation}
    _save_audited(session, tenant, tenant_id, actor, "tenant.details", f"tenant {tenant_id}", detail)
    return tenant


def set_store_details(
    session: Session,
    store_id: int,
    *,
    address: str | None = None,
    settlement_place: str | None = None,
    time_zone: str | None = None,
    actor: str = audit.CLI,
) -> Store:
    """The store as the receipt page prints it; None leaves a field as it is."""
    store = _store(session, store_id)
    if address is not None:
        store.address = address.strip() or None
    if settlement_place is not None:
        store.settlement_place = settlement_place.strip() or None
    if time_zone is not None:
        store.time_zone = legal.checked_time_zone(time_zone)
    detail = {
        "address": store.address,
        "settlement_place": store.settlement_place,
        "time_zone": store.time_zone,
    }
    _save_audited(session, store, store.tenant_id, actor, "store.details", f"store {store_id}", detail)
    return store


def _save_audited(
    session: Session,
    row: Tenant | Store,
    tenant_id: int,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any],
) -> None:
    """The change and its audit entry in one commit."""
    session.add(row)
    audit.record(session, tenant_id, actor, action, target, **detail)
    session.commit()
    session.refresh(row)
