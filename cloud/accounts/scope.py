"""Which stores a head-office caller may see: all of them, or some stores and/or regions.

A scope names regions rather than listing their stores, so a store opened in the region later is in it.
`resolve` turns a scope into store ids once per request; every page, report, export and API answer
filters by that set (None = every store of the tenant).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from cloud.accounts.models import Store


@dataclass(frozen=True, slots=True)
class StoreScope:
    stores: frozenset[int] = frozenset()
    regions: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not self.stores and not self.regions

    @classmethod
    def of(cls, stores: Iterable[int] | None, regions: Iterable[str] | None) -> "StoreScope":
        return cls(frozenset(stores or ()), frozenset(r.strip() for r in regions or () if r.strip()))

    def describe(self) -> str:
        """Russian, for pages and the CLI."""
        if self.everything:
            return "все магазины"
        parts = []
        if self.regions:
            parts.append("регионы: " + ", ".join(sorted(self.regions)))
        if self.stores:
            parts.append("магазины: " + ", ".join(str(s) for s in sorted(self.stores)))
        return "; ".join(parts)


def resolve(session: Session, tenant_id: int, scope: StoreScope) -> frozenset[int] | None:
    """The ids of the tenant's stores in the scope; None when the scope is every store."""
    if scope.everything:
        return None
    rows = session.exec(select(Store.id, Store.region).where(Store.tenant_id == tenant_id))
    return frozenset(
        store_id
        for store_id, region in rows
        if store_id is not None
        and (store_id in scope.stores or (region is not None and region in scope.regions))
    )


def tenant_store_ids(session: Session, tenant_id: int, ids: Iterable[int]) -> list[int]:
    """Those of `ids` that are stores of the tenant (to refuse a scope naming someone else's store)."""
    wanted = set(ids)
    if not wanted:
        return []
    found = session.exec(select(Store.id).where(Store.tenant_id == tenant_id, col(Store.id).in_(wanted)))
    return sorted(i for i in found if i is not None)
