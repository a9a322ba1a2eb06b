"""A retailer's sites with the tracker: a public site key and the origins allowed to send events.

One site per tenant (created with its first origin); more origins (`https://m.shop.example`) join it. An
origin belongs to one site only, so the collector's CORS answer never names another tenant's origin.
The collector reads sites through `SiteCache` (a query per site key and minute per process), not per event.
"""

import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cloud.db.types import utcnow
from cloud.errors import Conflict, InvalidInput, NotFound
from cloud.tracking.models import TrackingSite, TrackingSiteOrigin

SITE_KEY_PREFIX = "s_"
CACHE_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    tenant_id: int
    site_key: str
    origins: tuple[str, ...]


def normalize_origin(text: str) -> str:
    """'HTTPS://Shop.Example:443/' -> 'https://shop.example': scheme, host and a non-default port."""
    raw = text.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"origin {raw!r} must look like https://shop.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidInput(f"origin {raw!r} must be scheme://host[:port] only, without a path")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"origin {raw!r} has a bad port") from exc
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def add_origin(session: Session, tenant_id: int, origin: str) -> Site:
    """Allow `origin` for the tenant's site (made with a new key on first use); committed."""
    normalized = normalize_origin(origin)
    site = session.exec(select(TrackingSite).where(TrackingSite.tenant_id == tenant_id)).first()
    if site is None:
        site = TrackingSite(tenant_id=tenant_id, site_key=new_site_key(), created_at=utcnow())
        session.add(site)
        session.flush()
    assert site.id is not None
    taken = session.get(TrackingSiteOrigin, normalized)
    if taken is not None and taken.site_id != site.id:
        raise Conflict(f"origin {normalized} is registered for another site")
    if taken is None:
        session.add(TrackingSiteOrigin(origin=normalized, site_id=site.id, added_at=utcnow()))
    session.commit()
    return _site(session, site)


def remove_origin(session: Session, tenant_id: int, origin: str) -> Site:
    site = tenant_site(session, tenant_id)
    row = session.get(TrackingSiteOrigin, normalize_origin(origin))
    if row is None or row.site_id != site.id:
        raise NotFound(f"origin {origin} is not registered for this tenant")
    session.delete(row)
    session.commit()
    return tenant_site(session, tenant_id)


def tenant_site(session: Session, tenant_id: int) -> Site:
    site = session.exec(select(TrackingSite).where(TrackingSite.tenant_id == tenant_id)).first()
    if site is None:
        raise NotFound("this tenant has no tracked site yet: add an origin first")
    return _site(session, site)


def site_by_key(session: Session, site_key: str) -> Site | None:
    site = session.exec(select(TrackingSite).where(TrackingSite.site_key == site_key)).first()
    return None if site is None else _site(session, site)


def new_site_key() -> str:
    return SITE_KEY_PREFIX + secrets.token_urlsafe(12)


def _site(session: Session, site: TrackingSite) -> Site:
    assert site.id is not None
    origins = session.exec(
        select(TrackingSiteOrigin.origin)
        .where(TrackingSiteOrigin.site_id == site.id)
        .order_by(col(TrackingSiteOrigin.origin))
    ).all()
    return Site(site.id, site.tenant_id, site.site_key, tuple(origins))


class SiteCache:
    """Sites by key for the collector: a minute old at most (a new origin works within a minute)."""

    def __init__(self, engine: Engine, ttl_s: float = CACHE_TTL_S) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Site | None]] = {}

    def get(self, site_key: str) -> Site | None:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(site_key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        if len(site_key) > 40:
            return None
        with Session(self._engine) as session:
            site = site_by_key(session, site_key)
        with self._lock:
            if len(self._entries) > 10_000:  # unknown keys must not grow memory without bound
                self._entries.clear()
            self._entries[site_key] = (now, site)
        return site

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
