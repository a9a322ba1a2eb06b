"""Who looks at a dashboard, and which stores every query of it may read.

A `Viewer` is the tenant and the stores the caller's role scope allows (None = all of the tenant's). The
filters can only narrow that set: `stores_in_view` is the one place it is computed, and every query of
cloud/reports filters by its answer, so a regional analyst's pages, exports and API answers never count
a store outside the region, whatever the query string says.
"""

from dataclasses import dataclass

from sqlmodel import Session, col, select

from cloud.accounts.models import Store
from cloud.reports.filters import Filters


@dataclass(frozen=True, slots=True)
class Viewer:
    tenant_id: int
    store_ids: frozenset[int] | None  # the role's scope; None = every store of the tenant


@dataclass(frozen=True, slots=True)
class StoreInfo:
    id: int
    name: str
    region: str | None


@dataclass(frozen=True, slots=True)
class View:
    """The stores a dashboard reads: `stores` by id; `restricted` False when that is the whole tenant
    (queries then need no `store_id IN (...)`)."""

    viewer: Viewer
    stores: dict[int, StoreInfo]
    restricted: bool

    @property
    def ids(self) -> list[int]:
        return sorted(self.stores)


def visible_stores(session: Session, viewer: Viewer) -> list[StoreInfo]:
    """The stores the viewer may see (for the filter form's store and region lists)."""
    query = select(Store).where(Store.tenant_id == viewer.tenant_id)
    if viewer.store_ids is not None:
        query = query.where(col(Store.id).in_(viewer.store_ids or {-1}))
    return [StoreInfo(s.id or 0, s.name, s.region) for s in session.exec(query.order_by(col(Store.name)))]


def stores_in_view(session: Session, viewer: Viewer, filters: Filters) -> View:
    """The viewer's stores narrowed by the store and region filters."""
    stores = {
        s.id: s
        for s in visible_stores(session, viewer)
        if (filters.store is None or s.id == filters.store)
        and (filters.region is None or s.region == filters.region)
    }
    restricted = viewer.store_ids is not None or filters.store is not None or filters.region is not None
    return View(viewer, stores, restricted)
