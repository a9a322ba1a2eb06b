"""ROPO figures (research online, purchase offline) as pure functions over purchases and journeys.

* `ropo_report(purchases, journeys, by=...)`: per row, the offline receipts, revenue and buyers; how many are
  identified (the buyer's profile is known); and how many had an online touch in the lookback before the
  purchase. Two denominators, both shown: all offline receipts (a lower bound: an unidentified buyer may have
  had touches too) and identified receipts only.
  - by store / region / day / ISO week / month / total: the purchases are partitioned by the row's key;
  - by channel / campaign: a row counts the purchases whose journey has a touch of that channel (campaign);
    one purchase may count in several rows, so those rows do not add up to the total, and each row's
    denominators are all the purchases in scope.
* `online_vs_offline(online, offline)`: per campaign (or channel), online orders' revenue beside offline
  revenue credited to it, from two `Attribution`s made with the same model and key.
* `attributed_vs_lift(credit, lift)`: the attributed figure beside the incremental figure measured by a
  holdout, and whether click attribution over- or under-counts.

Times are whatever the caller passes (the tenant's local time for day/week/month rows). Plain Python, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cloud.attribution.journeys import Journey, Purchase, Touch
from cloud.attribution.lift import Lift, LiftMethod
from cloud.attribution.models import Attribution, Credit, by_campaign, by_channel

__all__ = [
    "CampaignRevenue",
    "Dimension",
    "LiftComparison",
    "RopoRow",
    "Verdict",
    "attributed_vs_lift",
    "online_vs_offline",
    "ropo_report",
]


class Dimension(StrEnum):
    TOTAL = "total"
    CHANNEL = "channel"
    CAMPAIGN = "campaign"
    STORE = "store"
    REGION = "region"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


UNKNOWN = "—"


@dataclass(frozen=True, slots=True)
class RopoRow:
    key: str
    receipts: int
    revenue: int  # kopecks
    buyers: int  # distinct identified profiles
    identified_receipts: int
    identified_revenue: int
    ropo_receipts: int  # receipts with an online touch in the lookback before the purchase
    ropo_revenue: int
    ropo_buyers: int

    @property
    def identified_share(self) -> float:
        """Share of offline receipts whose buyer is identified."""
        return self.identified_receipts / self.receipts if self.receipts else 0.0

    @property
    def ropo_revenue_share(self) -> float:
        """Share of all offline revenue with an online touch before it (a lower bound)."""
        return self.ropo_revenue / self.revenue if self.revenue else 0.0

    @property
    def ropo_revenue_share_identified(self) -> float:
        """The same among identified buyers' revenue."""
        return self.ropo_revenue / self.identified_revenue if self.identified_revenue else 0.0

    @property
    def ropo_receipt_share(self) -> float:
        return self.ropo_receipts / self.receipts if self.receipts else 0.0

    @property
    def ropo_buyer_share(self) -> float:
        """Share of identified buyers with at least one purchase that had an online touch before it."""
        return self.ropo_buyers / self.buyers if self.buyers else 0.0


def ropo_report(
    purchases: Iterable[Purchase],
    journeys: Iterable[Journey],
    by: Dimension = Dimension.TOTAL,
    *,
    campaign_key: Callable[[Touch], str] = by_campaign,
) -> list[RopoRow]:
    """Rows sorted by revenue (descending), then key. See the module docstring for how rows count."""
    purchases = list(purchases)
    touches_of: dict[str, tuple[Touch, ...]] = {}
    for journey in journeys:
        if journey.purchase is not None and journey.touches:
            touches_of[journey.purchase.receipt_id] = journey.touches
    if by in (Dimension.CHANNEL, Dimension.CAMPAIGN):
        total = _row("", purchases, touches_of)
        key = by_channel if by is Dimension.CHANNEL else campaign_key
        keyed: dict[str, list[Purchase]] = {}
        for purchase in purchases:
            for k in sorted({key(t) for t in touches_of.get(purchase.receipt_id, ())}):
                keyed.setdefault(k, []).append(purchase)
        rows = []
        for k, subset in keyed.items():
            part = _row(k, subset, touches_of)
            rows.append(
                RopoRow(
                    k,
                    total.receipts,
                    total.revenue,
                    total.buyers,
                    total.identified_receipts,
                    total.identified_revenue,
                    part.ropo_receipts,
                    part.ropo_revenue,
                    part.ropo_buyers,
                )
            )
    else:
        groups: dict[str, list[Purchase]] = {}
        for purchase in purchases:
            groups.setdefault(_purchase_key(purchase, by), []).append(purchase)
        rows = [_row(k, subset, touches_of) for k, subset in groups.items()]
    return sorted(rows, key=lambda r: (-r.revenue, -r.ropo_revenue, r.key))


def _purchase_key(purchase: Purchase, by: Dimension) -> str:
    if by is Dimension.TOTAL:
        return "total"
    if by is Dimension.STORE:
        return purchase.store_id or UNKNOWN
    if by is Dimension.REGION:
        return purchase.region or UNKNOWN
    if by is Dimension.DAY:
        return purchase.at.date().isoformat()
    if by is Dimension.WEEK:
        year, week, _ = purchase.at.isocalendar()
        return f"{year}-W{week:02d}"
    if by is Dimension.MONTH:
        return f"{purchase.at.year}-{purchase.at.month:02d}"
    raise ValueError(f"{by} is not a dimension of a purchase")


def _row(key: str, purchases: Sequence[Purchase], touches_of: dict[str, tuple[Touch, ...]]) -> RopoRow:
    buyers: set[str] = set()
    ropo_buyers: set[str] = set()
    identified = identified_revenue = ropo = ropo_revenue = 0
    for p in purchases:
        if p.profile_id is not None:
            identified += 1
            identified_revenue += p.revenue
            buyers.add(p.profile_id)
            if p.receipt_id in touches_of:
                ropo += 1
                ropo_revenue += p.revenue
                ropo_buyers.add(p.profile_id)
    return RopoRow(
        key=key,
        receipts=len(purchases),
        revenue=sum(p.revenue for p in purchases),
        buyers=len(buyers),
        identified_receipts=identified,
        identified_revenue=identified_revenue,
        ropo_receipts=ropo,
        ropo_revenue=ropo_revenue,
        ropo_buyers=len(ropo_buyers),
    )


@dataclass(frozen=True, slots=True)
class CampaignRevenue:
    key: str
    online_revenue: int
    offline_revenue: int

    @property
    def offline_to_online(self) -> float | None:
        """Offline revenue per rouble of online revenue (None when there was no online revenue)."""
        return self.offline_revenue / self.online_revenue if self.online_revenue else None


def online_vs_offline(online: Attribution, offline: Attribution) -> list[CampaignRevenue]:
    """Online orders' and offline purchases' revenue credited to each key; the attributions should use the
    same model and key. Sorted by total revenue (descending), then key."""
    keys = {c.key for c in online.credits} | {c.key for c in offline.credits}
    rows = [CampaignRevenue(k, online.credit(k).revenue, offline.credit(k).revenue) for k in keys]
    return sorted(rows, key=lambda r: (-(r.online_revenue + r.offline_revenue), r.key))


class Verdict(StrEnum):
    OVERCOUNTS = "overcounts"  # attribution credits more than the holdout shows was caused
    UNDERCOUNTS = "undercounts"  # the holdout shows more was caused than attribution credits
    CONSISTENT = "consistent"  # the attributed figure lies within the lift's interval


VERDICT_RU = {
    Verdict.OVERCOUNTS: "атрибуция завышает",
    Verdict.UNDERCOUNTS: "атрибуция занижает",
    Verdict.CONSISTENT: "в пределах интервала",
}


@dataclass(frozen=True, slots=True)
class LiftComparison:
    """Attributed vs incremental, in the lift's unit: conversions for a rate lift, kopecks for a mean lift."""

    key: str
    attributed: float
    incremental: float
    incremental_low: float
    incremental_high: float
    verdict: Verdict

    @property
    def ratio(self) -> float | None:
        """Attributed / incremental: above 1 attribution over-counts (None when nothing incremental)."""
        return self.attributed / self.incremental if self.incremental > 0 else None


def attributed_vs_lift(credit: Credit, lift: Lift) -> LiftComparison:
    """Put a model's credit for a campaign beside what its holdout measured.

    The holdout's lift scaled to the treated group: a rate lift times the treated group's size is the
    incremental number of conversions (compared with `credit.conversions`); a mean lift (revenue per buyer,
    kopecks) times the treated size is the incremental revenue (compared with `credit.revenue`).
    """
    n = lift.treated_n
    attributed = credit.conversions if lift.method is LiftMethod.RATE else float(credit.revenue)
    low, high = lift.ci_low * n, lift.ci_high * n
    if attributed > high:
        verdict = Verdict.OVERCOUNTS
    elif attributed < low:
        verdict = Verdict.UNDERCOUNTS
    else:
        verdict = Verdict.CONSISTENT
    return LiftComparison(credit.key, attributed, lift.absolute * n, low, high, verdict)
