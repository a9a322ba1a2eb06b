"""ROPO figures and model credits of a period as SQL aggregates over what the attribution job stored.

The job stores one `attribution_purchase` row per offline receipt of an attributed day (its buyer, revenue,
whether it had an online touch, and the touches as JSON) and per-day credits in `attribution_result`. A
dashboard over a month of a 1 M-receipt chain cannot rebuild the journeys in the request (105–135 s and
3 GB, docs/performance.md "Month"), so here the same figures as `cloud.attribution.ropo.ropo_report` are
sums and distinct counts over those rows, in the database:

- `ropo_rows(session, tenant_id, filters, by)`: `RopoRow`s by total, store (key: the store's name),
  region, channel or campaign. By channel or campaign a row counts the purchases with at least one stored
  touch of it (`attribution_purchase_key`: the job writes each touched purchase's channels and campaigns
  once, so no JSON is expanded here), its denominators being all the purchases in scope, as
  `ropo_report` does; `touch_rows` gives both of those in one statement;
- `model_credits(session, tenant_id, filters)`: every model's conversions and revenue per channel, summed
  over the period's days and the stores in scope. The Markov model's credits are the job's per-day
  estimates summed (each day's removal effects over that day's journeys), not one estimate over the period;
- `day_counts(session, tenant_id, filters, today)`: how many days of the period are attributed, waiting to
  be attributed again, and never attributed (up to today).

`Filters` (also `cloud.attribution.reads.Filters`): local days inclusive, the caller's store scope, regions,
and a channel that keeps purchases with a touch of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.attribution import sources
from cloud.attribution.models import Model
from cloud.attribution.ropo import UNKNOWN, Dimension, RopoRow
from cloud.attribution.service import DAY, PURCHASE, PURCHASE_KEY, RESULT

STORE = sources.STORE


@dataclass(frozen=True, slots=True)
class Filters:
    start: date  # inclusive, local days
    end: date  # inclusive
    store_ids: frozenset[int] | None = None  # the caller's scope (None: all)
    regions: frozenset[str] | None = None
    channel: str | None = None


def scoped(query: Any, table: sa.Table, filters: Filters) -> Any:
    """The rows of `table` (stored per day and store) in the period, the store scope and the regions."""
    query = query.where(table.c.day >= filters.start, table.c.day <= filters.end)
    if filters.store_ids is not None:
        query = query.where(table.c.store_id.in_(sorted(filters.store_ids)))
    if filters.regions is not None:
        query = query.where(
            table.c.store_id.in_(sa.select(STORE.c.id).where(STORE.c.region.in_(sorted(filters.regions))))
        )
    return query


def _with_channel(tenant_id: int, query: Any, receipt_id: Any, filters: Filters) -> Any:
    """Keep the purchases (by `receipt_id`) with a stored touch of the filter's channel (all without one)."""
    if filters.channel is None:
        return query
    k = PURCHASE_KEY
    having = scoped(
        sa.select(k.c.receipt_id).where(
            k.c.tenant_id == tenant_id, k.c.field == "channel", k.c.key == filters.channel
        ),
        k,
        Filters(filters.start, filters.end, filters.store_ids),
    )
    return query.where(receipt_id.in_(having))


def _measures(revenue: Any, profile: Any, touched: Any) -> list[Any]:
    """receipts, revenue, buyers, identified receipts and revenue, ROPO receipts, revenue and buyers."""
    identified = profile.is_not(None)
    ropo = sa.and_(identified, touched)
    return [
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(revenue), 0),
        sa.func.count(sa.distinct(profile)),
        sa.func.count(profile),
        sa.func.coalesce(sa.func.sum(sa.case((identified, revenue), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((ropo, 1), else_=0)), 0),
        sa.func.coalesce(sa.func.sum(sa.case((ropo, revenue), else_=0)), 0),
        sa.func.count(sa.distinct(sa.case((ropo, profile), else_=None))),
    ]


def _row(key: str, values: Any) -> RopoRow:
    n, rev, buyers, ident, ident_rev, ropo, ropo_rev, ropo_buyers = (int(v or 0) for v in values)
    return RopoRow(key, n, rev, buyers, ident, ident_rev, ropo, ropo_rev, ropo_buyers)


def ropo_rows(
    session: Session, tenant_id: int, filters: Filters, by: Dimension = Dimension.TOTAL
) -> list[RopoRow]:
    """Rows sorted as `ropo_report` sorts them (revenue, then ROPO revenue descending, then key)."""
    p = PURCHASE
    measures = _measures(p.c.revenue, p.c.profile_id, p.c.touched == sa.true())
    if by in (Dimension.TOTAL, Dimension.CHANNEL, Dimension.CAMPAIGN):
        query = sa.select(*measures).where(p.c.tenant_id == tenant_id)
        query = _with_channel(tenant_id, scoped(query, p, filters), p.c.receipt_id, filters)
        total = _row("total", session.execute(query).one())
        if by is Dimension.TOTAL:
            return [total] if total.receipts else []
        rows = touch_rows(session, tenant_id, filters, total)[by]
    elif by in (Dimension.STORE, Dimension.REGION):
        group: list[Any] = [p.c.store_id, STORE.c.name] if by is Dimension.STORE else [STORE.c.region]
        query = (
            sa.select(*group, *measures)
            .select_from(p.join(STORE, STORE.c.id == p.c.store_id))
            .where(p.c.tenant_id == tenant_id)
            .group_by(*group)
        )
        query = _with_channel(tenant_id, scoped(query, p, filters), p.c.receipt_id, filters)
        merged: dict[str, RopoRow] = {}
        for values in session.execute(query):
            key = str(values[len(group) - 1] or UNKNOWN)
            row = _row(key, values[len(group) :])
            merged[key] = _add(merged[key], row) if key in merged else row
        rows = list(merged.values())
    else:
        raise ValueError(f"{by}: by total, store, region, channel or campaign")
    return sorted(rows, key=lambda r: (-r.revenue, -r.ropo_revenue, r.key))


def _add(a: RopoRow, b: RopoRow) -> RopoRow:
    """Two stores of one name (distinct buyers per store: a buyer of both counts twice; rare)."""
    return RopoRow(
        a.key,
        a.receipts + b.receipts,
        a.revenue + b.revenue,
        a.buyers + b.buyers,
        a.identified_receipts + b.identified_receipts,
        a.identified_revenue + b.identified_revenue,
        a.ropo_receipts + b.ropo_receipts,
        a.ropo_revenue + b.ropo_revenue,
        a.ropo_buyers + b.ropo_buyers,
    )


def touch_rows(
    session: Session, tenant_id: int, filters: Filters, total: RopoRow
) -> dict[Dimension, list[RopoRow]]:
    """The rows by channel and by campaign in one statement over `attribution_purchase_key` (`total` gives
    the denominators), sorted as `ropo_report` sorts them."""
    k = PURCHASE_KEY
    query = (
        sa.select(
            k.c.field,
            k.c.key,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(k.c.revenue), 0),
            sa.func.count(sa.distinct(k.c.profile_id)),
        )
        .where(k.c.tenant_id == tenant_id)
        .group_by(k.c.field, k.c.key)
    )
    query = _with_channel(tenant_id, scoped(query, k, filters), k.c.receipt_id, filters)
    out: dict[Dimension, list[RopoRow]] = {Dimension.CHANNEL: [], Dimension.CAMPAIGN: []}
    for field, key, n, revenue, buyers in session.execute(query):
        out[Dimension(field)].append(
            RopoRow(
                str(key),
                total.receipts,
                total.revenue,
                total.buyers,
                total.identified_receipts,
                total.identified_revenue,
                int(n),
                int(revenue or 0),
                int(buyers),
            )
        )
    for rows in out.values():
        rows.sort(key=lambda r: (-r.revenue, -r.ropo_revenue, r.key))
    return out


@dataclass(frozen=True, slots=True)
class ChannelCredit:
    channel: str
    conversions: float
    revenue: int  # kopecks


def model_credits(session: Session, tenant_id: int, filters: Filters) -> dict[Model, list[ChannelCredit]]:
    """Every model's credit per channel over the period (sorted by revenue, then conversions, descending)."""
    r = RESULT
    query = scoped(
        sa.select(r.c.model, r.c.channel, sa.func.sum(r.c.conversions), sa.func.sum(r.c.revenue)).where(
            r.c.tenant_id == tenant_id
        ),
        r,
        filters,
    ).group_by(r.c.model, r.c.channel)
    if filters.channel is not None:
        query = query.where(r.c.channel == filters.channel)
    out: dict[Model, list[ChannelCredit]] = {m: [] for m in Model}
    for model, channel, conversions, revenue in session.execute(query):
        if model in Model._value2member_map_:
            out[Model(model)].append(ChannelCredit(channel, float(conversions or 0), int(revenue or 0)))
    for credits in out.values():
        credits.sort(key=lambda c: (-c.revenue, -c.conversions, c.channel))
    return out


@dataclass(frozen=True, slots=True)
class DayCounts:
    attributed: int  # computed and clean
    dirty: int  # computed, waiting to be computed again (the stored figures are the previous run's)
    missing: list[date]  # days of the period up to today never attributed

    @property
    def complete(self) -> bool:
        return not self.dirty and not self.missing


def day_counts(session: Session, tenant_id: int, filters: Filters, today: date) -> DayCounts:
    rows = session.execute(
        sa.select(DAY.c.day, DAY.c.dirty, DAY.c.computed_at).where(
            DAY.c.tenant_id == tenant_id, DAY.c.day >= filters.start, DAY.c.day <= filters.end
        )
    ).all()
    computed = {r.day for r in rows if r.computed_at is not None}
    attributed = sum(1 for r in rows if not r.dirty)
    dirty = sum(1 for r in rows if r.dirty and r.day in computed)
    clean_or_computed = {r.day for r in rows if not r.dirty} | computed
    last = min(filters.end, today)
    days = [filters.start + timedelta(days=i) for i in range((last - filters.start).days + 1)]
    return DayCounts(attributed, dirty, [d for d in days if d not in clean_or_computed])
