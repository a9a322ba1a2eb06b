"""What head office's reports read (cloud/reports shows it): stored attribution, filtered and scoped.

- `ropo_inputs(session, tenant_id, filters)`: the stored purchases of the period as `Purchase`es and their
  journeys as `Journey`s, ready for `cloud.attribution.ropo.ropo_report(inputs.purchases, inputs.journeys,
  by=Dimension.X)` (touches carry channel and campaign; source/medium are folded into the campaign name);
- `credits(session, tenant_id, filters, model)`: conversions and revenue credited per channel and campaign
  (summed over days and stores in scope);
- `summary(...)`: the headline figures (receipts, identified share, ROPO shares, credits per channel) as
  one JSON-able dict (the read API and the field simulator print it), summed in SQL
  (`cloud.attribution.aggregates`) without reading the journeys.

`Filters.store_ids` is the caller's scope (None: every store); `regions` narrows by store region, `channel`
keeps purchases whose journey has that channel (and credits of that channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.attribution import aggregates, sources
from cloud.attribution.aggregates import Filters as Filters  # re-exported: the read API builds them
from cloud.attribution.aggregates import scoped
from cloud.attribution.journeys import Journey, Purchase, Touch, TouchKind
from cloud.attribution.models import DEFAULT_MODEL, Model
from cloud.attribution.ropo import Dimension
from cloud.attribution.service import DAY, PURCHASE, RESULT

STORE = sources.STORE


@dataclass(frozen=True, slots=True)
class RopoInputs:
    purchases: list[Purchase]
    journeys: list[Journey]
    days_attributed: int
    days_dirty: int
    stores: dict[int, str] = field(default_factory=dict)  # store id -> name (for the rows' keys)


def ropo_inputs(session: Session, tenant_id: int, filters: Filters) -> RopoInputs:
    query = scoped(
        sa.select(
            PURCHASE.c.receipt_id,
            PURCHASE.c.at,
            PURCHASE.c.revenue,
            PURCHASE.c.store_id,
            PURCHASE.c.profile_id,
            PURCHASE.c.touches,
            STORE.c.region,
            STORE.c.name,
        )
        .join(STORE, STORE.c.id == PURCHASE.c.store_id)
        .where(PURCHASE.c.tenant_id == tenant_id),
        PURCHASE,
        filters,
    ).order_by(PURCHASE.c.receipt_id)
    purchases: list[Purchase] = []
    journeys: list[Journey] = []
    names: dict[int, str] = {}
    for rid, at, revenue, store_id, profile, touches, region, name in session.execute(query):
        names[int(store_id)] = name
        touch_list = tuple(_touch(t) for t in touches or ())
        if filters.channel is not None and all(t.channel != filters.channel for t in touch_list):
            continue
        purchase = Purchase(
            receipt_id=str(rid),
            at=at,
            revenue=int(revenue),
            store_id=str(store_id),
            region=region,
            profile_id=str(profile) if profile is not None else None,
        )
        purchases.append(purchase)
        if purchase.profile_id is not None:
            journeys.append(Journey(purchase.profile_id, touch_list, purchase))
    attributed, dirty = day_coverage(session, tenant_id, filters)
    return RopoInputs(purchases, journeys, attributed, dirty, names)


def day_coverage(session: Session, tenant_id: int, filters: Filters) -> tuple[int, int]:
    """The period's days attributed and still dirty (waiting for the job), as the pages report them."""
    days = session.execute(
        sa.select(DAY.c.dirty, sa.func.count())
        .where(DAY.c.tenant_id == tenant_id, DAY.c.day >= filters.start, DAY.c.day <= filters.end)
        .group_by(DAY.c.dirty)
    ).all()
    counts = {bool(d): int(n) for d, n in days}
    return counts.get(False, 0), counts.get(True, 0)


@dataclass(frozen=True, slots=True)
class CreditRow:
    channel: str
    campaign: str
    conversions: float
    revenue: int


def credits(
    session: Session, tenant_id: int, filters: Filters, model: Model = DEFAULT_MODEL
) -> list[CreditRow]:
    query = scoped(
        sa.select(
            RESULT.c.channel,
            RESULT.c.campaign,
            sa.func.sum(RESULT.c.conversions),
            sa.func.sum(RESULT.c.revenue),
        ).where(RESULT.c.tenant_id == tenant_id, RESULT.c.model == model.value),
        RESULT,
        filters,
    ).group_by(RESULT.c.channel, RESULT.c.campaign)
    if filters.channel is not None:
        query = query.where(RESULT.c.channel == filters.channel)
    rows = [CreditRow(c, k, float(n or 0), int(r or 0)) for c, k, n, r in session.execute(query)]
    return sorted(rows, key=lambda r: (-r.revenue, r.channel, r.campaign))


def by_channel(rows: Sequence[CreditRow]) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for r in rows:
        n, rev = out.get(r.channel, (0.0, 0))
        out[r.channel] = (n + r.conversions, rev + r.revenue)
    return out


def summary(
    session: Session, tenant_id: int, filters: Filters, model: Model = DEFAULT_MODEL
) -> dict[str, Any]:
    """Headline ROPO figures and the model's credit per channel, JSON-able."""
    total = aggregates.ropo_rows(session, tenant_id, filters, Dimension.TOTAL)
    row = total[0] if total else None
    channels = by_channel(credits(session, tenant_id, filters, model))
    attributed, dirty = day_coverage(session, tenant_id, filters)
    return {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "model": model.value,
        "days_attributed": attributed,
        "days_dirty": dirty,
        "receipts": row.receipts if row else 0,
        "revenue": row.revenue if row else 0,
        "identified_receipts": row.identified_receipts if row else 0,
        "identified_share": row.identified_share if row else 0.0,
        "buyers": row.buyers if row else 0,
        "ropo_receipts": row.ropo_receipts if row else 0,
        "ropo_revenue": row.ropo_revenue if row else 0,
        "ropo_revenue_share": row.ropo_revenue_share if row else 0.0,
        "ropo_revenue_share_identified": row.ropo_revenue_share_identified if row else 0.0,
        "ropo_buyer_share": row.ropo_buyer_share if row else 0.0,
        "channels": [
            {"channel": c, "conversions": round(n, 4), "revenue": r}
            for c, (n, r) in sorted(channels.items(), key=lambda kv: (-kv[1][1], kv[0]))
        ],
    }


def _touch(data: dict[str, Any]) -> Touch:
    return Touch(
        at=datetime.fromisoformat(data["at"]),
        kind=TouchKind(data["kind"]),
        channel=data["channel"],
        campaign=data.get("campaign"),
    )


def stored_campaign(touch: Touch) -> str:
    """The campaign key of stored touches ("source / medium / campaign" as the job named it): pass it as
    `ropo_report(..., campaign_key=stored_campaign)`."""
    return touch.campaign or touch.channel
