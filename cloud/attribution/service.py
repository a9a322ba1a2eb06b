"""Attribution over stored data: one local day of one tenant at a time, stored, re-run when it changes.

`attribute_day` reads the day's sale receipts with their buyers' profiles and those profiles' touches in the
lookback (cloud/attribution/sources.py), builds the journeys, runs every model and rewrites the day's rows
of `attribution_purchase` and `attribution_result` in one transaction (idempotent: a re-run replaces).

Which days: `mark_dirty` records a day that must be attributed again (a receipt synced late, an identity
merge that joined a buyer's browser to the buyer after the fact, a buyer erased: `reattribute`);
`due_days` lists yesterday and today if never done, and every dirty day. The periodic job
(cloud/attribution/jobs.py) runs them.

Credit rows are per (day, model, store, channel, campaign). Rule-based models split each purchase over its
touches; the Markov model's removal effects are estimated per channel over the day's converting journeys
(the daily job sees no paths that ended without a sale, so a channel's raw removal effect is the share of
the day's journeys that visit it) and each channel's credit is spread over its stores and campaigns by
those touches' linear weights. Revenue is apportioned in whole kopecks per model and day.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.attribution import sources
from cloud.attribution.journeys import Journey, Touch, TouchKind, build_journeys
from cloud.attribution.markov import MarkovPath, removal_effects
from cloud.attribution.models import Model, apportion, touch_weights
from cloud.attribution.sources import table_of
from cloud.attribution.tables import (
    AttributionDay,
    AttributionPurchase,
    AttributionPurchaseKey,
    AttributionResult,
    AttributionSettings,
)
from cloud.db.types import utcnow

DAY = table_of(AttributionDay)
PURCHASE = table_of(AttributionPurchase)
PURCHASE_KEY = table_of(AttributionPurchaseKey)
RESULT = table_of(AttributionResult)
SETTINGS = table_of(AttributionSettings)
SEP = "\x1f"
BUYERS_PER_CHUNK = 5000  # a chunk's touches and journeys are what a day holds in memory at once


@dataclass(frozen=True, slots=True)
class TenantSettings:
    lookback: timedelta = timedelta(days=30)
    half_life: timedelta = timedelta(days=7)


def settings_of(session: Session, tenant_id: int) -> TenantSettings:
    row = session.execute(sa.select(SETTINGS).where(SETTINGS.c.tenant_id == tenant_id)).first()
    if row is None:
        return TenantSettings()
    return TenantSettings(timedelta(days=row.lookback_days), timedelta(days=row.half_life_days))


def set_settings(session: Session, tenant_id: int, lookback_days: int, half_life_days: float) -> None:
    if not 1 <= lookback_days <= 90 or not 0 < half_life_days <= 90:
        raise ValueError("lookback 1..90 days, half-life (0, 90] days")
    values = {"lookback_days": lookback_days, "half_life_days": half_life_days, "updated_at": utcnow()}
    stmt = _insert(session, SETTINGS).values(tenant_id=tenant_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["tenant_id"], set_=values))


# --- which days -------------------------------------------------------------------------------------------


def mark_dirty(session: Session, tenant_id: int, days: Iterable[date], reason: str) -> int:
    """Days to attribute again (created dirty if never seen). Joins the caller's transaction."""
    listed = sorted(set(days))
    for day in listed:
        stmt = _insert(session, DAY).values(tenant_id=tenant_id, day=day, dirty=True, reason=reason[:40])
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "day"], set_={"dirty": True, "reason": reason[:40]}
            )
        )
    return len(listed)


def attributed_days(session: Session, tenant_id: int) -> set[date]:
    """The tenant's days attributed and not dirty since."""
    return set(
        session.execute(
            sa.select(DAY.c.day).where(DAY.c.tenant_id == tenant_id, DAY.c.dirty.is_(False))
        ).scalars()
    )


def reattribute(session: Session, tenant_id: int, receipt_ids: Sequence[int], reason: str) -> int:
    """The already attributed days of these receipts marked dirty (a receipt synced late, a buyer erased);
    a day never attributed is left to `due_days`. Joins the caller's transaction."""
    if not receipt_ids:
        return 0
    days = sources.receipt_days(session, tenant_id, receipt_ids) & attributed_days(session, tenant_id)
    return mark_dirty(session, tenant_id, days, reason)


def due_days(session: Session, tenant_id: int, today: date) -> list[date]:
    """Dirty days, and yesterday and today when never attributed, oldest first."""
    rows = session.execute(sa.select(DAY.c.day, DAY.c.dirty).where(DAY.c.tenant_id == tenant_id)).all()
    known = {r.day: r.dirty for r in rows}
    due = {d for d, dirty in known.items() if dirty}
    due.update(d for d in (today - timedelta(days=1), today) if d not in known)
    return sorted(due)


# --- one day ----------------------------------------------------------------------------------------------


@dataclass
class DayResult:
    day: date
    purchases: int = 0
    identified: int = 0
    touched: int = 0
    revenue: int = 0
    touched_revenue: int = 0
    touches: int = 0  # touches in the day's journeys (a touch in two purchases' windows counts twice)
    seconds: float = 0.0


def attribute_day(
    session: Session, tenant_id: int, day: date, *, buyers_per_chunk: int = BUYERS_PER_CHUNK
) -> DayResult:
    """Attribute one local day and store it (replacing what was stored). Not committed here.

    The day's buyers are taken `buyers_per_chunk` at a time (in the order journeys are built: by profile
    id), so that only one chunk's touches and journeys are in memory at once: a chain's busiest day with a
    month of its buyers' browsing stays bounded. Credits are summed over the chunks in the same journey
    order as one pass would, so the stored figures do not depend on the chunk size."""
    started = clock.perf_counter()
    conf = settings_of(session, tenant_id)
    day_purchases = sources.purchases_of_day(session, tenant_id, day)
    result = DayResult(day)
    for table in (PURCHASE_KEY, PURCHASE):
        session.execute(sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.day == day))
    session.execute(sa.delete(RESULT).where(RESULT.c.tenant_id == tenant_id, RESULT.c.day == day))
    credit = DayCredit(half_life=conf.half_life)
    by_profile: dict[str, list[sources.DayPurchase]] = {}
    anonymous: list[sources.DayPurchase] = []
    for p in day_purchases:
        if p.purchase.profile_id is None:
            anonymous.append(p)
        else:
            by_profile.setdefault(p.purchase.profile_id, []).append(p)
    since = min((p.purchase.at for p in day_purchases), default=utcnow()) - conf.lookback
    until = max((p.purchase.at for p in day_purchases), default=utcnow())
    for part in sources.chunks(sorted(by_profile), max(1, buyers_per_chunk)):
        bought = [p for profile in part for p in by_profile[profile]]
        touches = sources.touches_of_profiles(session, tenant_id, [int(x) for x in part], since, until)
        promos = sources.promo_touches(session, tenant_id, [p.receipt_id for p in bought])
        for p in bought:
            promo = promos.get(p.receipt_id)
            if promo is not None and p.purchase.profile_id is not None:
                at = min(promo.at, p.purchase.at)  # the code was redeemed for this purchase
                touches.setdefault(p.purchase.profile_id, []).append(_at(promo, at))
        journeys = build_journeys(
            touches, [p.purchase for p in bought], conf.lookback, with_non_converting=False
        )
        credit.add(journeys)
        by_receipt = {j.purchase.receipt_id: j for j in journeys if j.purchase is not None}
        _store_purchases(session, tenant_id, day, bought, by_receipt, result)
    _store_purchases(session, tenant_id, day, anonymous, {}, result)
    credit_rows = [{"tenant_id": tenant_id, "day": day, **row} for row in credit.rows()]
    for rows in sources.chunks(credit_rows, 5000):
        session.execute(sa.insert(RESULT), list(rows))
    result.seconds = clock.perf_counter() - started
    values = {
        "dirty": False,
        "reason": "",
        "purchases": result.purchases,
        "computed_at": utcnow(),
        "seconds": result.seconds,
    }
    stmt = _insert(session, DAY).values(tenant_id=tenant_id, day=day, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "day"], set_=values))
    return result


def _store_purchases(
    session: Session,
    tenant_id: int,
    day: date,
    purchases: Sequence[sources.DayPurchase],
    by_receipt: dict[str, Journey],
    result: DayResult,
) -> None:
    rows = []
    for p in purchases:
        journey = by_receipt.get(p.purchase.receipt_id)
        touches_out = [_touch_json(t) for t in journey.touches] if journey else []
        result.purchases += 1
        result.revenue += p.purchase.revenue
        result.touches += len(touches_out)
        if p.purchase.profile_id is not None:
            result.identified += 1
        if touches_out:
            result.touched += 1
            result.touched_revenue += p.purchase.revenue
        rows.append(
            {
                "receipt_id": p.receipt_id,
                "tenant_id": tenant_id,
                "day": day,
                "at": p.purchase.at,
                "store_id": p.store_id,
                "revenue": p.purchase.revenue,
                "profile_id": int(p.purchase.profile_id) if p.purchase.profile_id is not None else None,
                "touched": bool(touches_out),
                "touches": touches_out or None,
            }
        )
    for part in sources.chunks(rows, 5000):
        session.execute(sa.insert(PURCHASE), list(part))
    keys = [key for row in rows for key in purchase_keys(row)]
    for part in sources.chunks(keys, 5000):
        session.execute(sa.insert(PURCHASE_KEY), list(part))


def purchase_keys(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An `attribution_purchase` row's `attribution_purchase_key` rows: its distinct channels and campaigns
    when it is identified and touched (a touch without a campaign counts under its channel)."""
    if row["profile_id"] is None or not row["touches"]:
        return []
    same = {k: row[k] for k in ("receipt_id", "tenant_id", "day", "store_id", "revenue", "profile_id")}
    channels = {t["channel"] for t in row["touches"]}
    campaigns = {t["campaign"] if t.get("campaign") is not None else t["channel"] for t in row["touches"]}
    return [
        *({**same, "field": "channel", "key": c} for c in sorted(channels)),
        *({**same, "field": "campaign", "key": c} for c in sorted(campaigns)),
    ]


class DayCredit:
    """Every model's credit of one day, summed journey by journey (`add` may be called per chunk of
    buyers); `rows()` gives (model, store_id, channel, campaign, conversions, revenue). Revenue of each
    model adds up exactly to the revenue of the journeys with a touch."""

    def __init__(self, *, half_life: timedelta = timedelta(days=7)) -> None:
        self.half_life = half_life
        self.converting = 0
        self.total_revenue = 0
        self.paths: dict[tuple[str, ...], float] = {}
        self.conversions: dict[Model, dict[str, float]] = {m: {} for m in Model}
        self.revenue: dict[Model, dict[str, float]] = {m: {} for m in Model}
        self.linear: dict[str, dict[str, float]] = {}  # channel -> bucket -> linear weight (Markov's spread)

    def add(self, journeys: Iterable[Journey]) -> None:
        converting = [j for j in journeys if j.purchase is not None and j.touches]
        self.converting += len(converting)
        self.total_revenue += sum(j.revenue for j in converting)
        for j in converting:
            self.paths[j.channels] = self.paths.get(j.channels, 0.0) + 1.0
        for model in Model:
            if model is Model.MARKOV:
                continue
            conversions, revenue = self.conversions[model], self.revenue[model]
            for j in converting:
                assert j.purchase is not None
                weights = touch_weights(model, j, half_life=self.half_life)
                for touch, w in zip(j.touches, weights, strict=True):
                    if not w:
                        continue
                    bucket = SEP.join((j.purchase.store_id or "0", touch.channel, _campaign_of(touch)))
                    conversions[bucket] = conversions.get(bucket, 0.0) + w
                    revenue[bucket] = revenue.get(bucket, 0.0) + w * j.revenue
                    if model is Model.LINEAR:
                        spread = self.linear.setdefault(touch.channel, {})
                        spread[bucket] = spread.get(bucket, 0.0) + w

    def rows(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for model in Model:
            conversions, revenue = self.conversions[model], self.revenue[model]
            if model is Model.MARKOV:
                if not self.converting:
                    continue
                paths = [MarkovPath(p, c) for p, c in sorted(self.paths.items())]
                for channel, share in removal_effects(paths).shares.items():
                    spread = self.linear.get(channel, {})
                    weight = sum(spread.values())
                    for bucket, w in spread.items():
                        conversions[bucket] = (
                            conversions.get(bucket, 0.0) + share * self.converting * w / weight
                        )
                        revenue[bucket] = revenue.get(bucket, 0.0) + share * self.total_revenue * w / weight
            kopecks = apportion(self.total_revenue, revenue)
            for bucket in sorted(conversions):
                store, channel, campaign = bucket.split(SEP)
                out.append(
                    {
                        "model": model.value,
                        "store_id": int(store),
                        "channel": channel,
                        "campaign": campaign[:300],
                        "conversions": conversions[bucket],
                        "revenue": kopecks.get(bucket, 0),
                    }
                )
        return out


def credit_day(
    journeys: Sequence[Journey], *, half_life: timedelta = timedelta(days=7)
) -> list[dict[str, Any]]:
    """Every model's credit rows for journeys of one day (all at once; see `DayCredit`)."""
    credit = DayCredit(half_life=half_life)
    credit.add(journeys)
    return credit.rows()


def run_due(session_factory: Any, tenant_id: int, today: date) -> list[DayResult]:
    """Attribute every due day of a tenant, one transaction per day."""
    with session_factory() as session:
        days = due_days(session, tenant_id, today)
    done = []
    for day in days:
        with session_factory() as session, session.begin():
            done.append(attribute_day(session, tenant_id, day))
    return done


def _campaign_of(touch: Touch) -> str:
    if touch.kind is not TouchKind.SITE_SESSION:
        return f"{touch.channel} / {touch.campaign or '-'}"
    return f"{touch.source or '-'} / {touch.medium or '-'} / {touch.campaign or touch.channel}"


def _touch_json(touch: Touch) -> dict[str, Any]:
    return {
        "at": touch.at.astimezone(UTC).isoformat(),
        "kind": touch.kind.value,
        "channel": touch.channel,
        "campaign": _campaign_of(touch),
    }


def _at(touch: Touch, at: datetime) -> Touch:
    return Touch(at=at, kind=touch.kind, channel=touch.channel, campaign=touch.campaign)


def _insert(session: Session, table: sa.Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
