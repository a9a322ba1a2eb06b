"""The dashboards by name, who may open each, and building one for a viewer and filters."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from cloud.accounts.roles import Permission
from cloud.db.types import utcnow
from cloud.errors import NotFound
from cloud.fleet.health import FleetPolicy
from cloud.reports.filters import Filters
from cloud.reports.fleet import fleet
from cloud.reports.scope import Viewer, stores_in_view
from cloud.reports.sending import sending
from cloud.reports.tables import Dashboard


@dataclass(frozen=True, slots=True)
class Entry:
    slug: str
    title: str
    permissions: frozenset[Permission]  # any one of them opens it

    def allowed(self, granted: frozenset[Permission]) -> bool:
        return bool(self.permissions & granted)


REPORTS = frozenset({Permission.REPORTS})
DASHBOARDS = (
    Entry("fleet", "Кассы", frozenset({Permission.FLEET, Permission.REPORTS})),
    Entry("sending", "Отправка", REPORTS),
    Entry("elements", "Элементы чека", REPORTS),
    Entry("ropo", "ROPO", REPORTS),
)
BY_SLUG = {e.slug: e for e in DASHBOARDS}
# The ROPO page's model picker: cloud.attribution.models.Model values and how head office calls them.
MODEL_CHOICES = (
    ("last_non_direct_click", "последний непрямой клик"),
    ("first_touch", "первое касание"),
    ("linear", "линейная"),
    ("position_based", "по позиции 40/20/40"),
    ("time_decay", "с угасанием (7 дней)"),
    ("markov", "цепи Маркова (по данным)"),
)


def entry(slug: str) -> Entry:
    found = BY_SLUG.get(slug)
    if found is None:
        raise NotFound(f"нет такого отчёта: {slug[:40]}")
    return found


def build(
    session: Session,
    viewer: Viewer,
    slug: str,
    filters: Filters,
    policy: FleetPolicy | None = None,
    now: datetime | None = None,
) -> Dashboard:
    """The dashboard `slug` as `viewer` may see it (their scope, narrowed by the filters)."""
    entry(slug)
    if session.get_bind().dialect.name == "postgresql":
        # A month of a chain's receipts grouped by register and cashier sorts on disk at the default 4 MB;
        # this transaction only (the request's session) gets more: measured in docs/reports.md.
        session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    view = stores_in_view(session, viewer, filters)
    if slug == "fleet":
        return fleet(session, view, filters, policy or FleetPolicy(), now or utcnow())
    if slug == "sending":
        return sending(session, view, filters)
    if slug == "elements":
        from cloud.reports.elements import elements

        return elements(session, view, filters)
    from cloud.reports.ropo import ropo

    return ropo(session, view, filters)
