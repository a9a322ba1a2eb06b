"""ROPO figures on a hand-built set of receipts: every share worked out by hand."""

from datetime import datetime, timedelta

import pytest

from cloud.attribution.journeys import Journey, Purchase, Touch, TouchKind, build_journeys
from cloud.attribution.lift import mean_lift_from_stats, rate_lift
from cloud.attribution.models import Credit, Model, attribute, by_campaign
from cloud.attribution.ropo import (
    Dimension,
    Verdict,
    attributed_vs_lift,
    online_vs_offline,
    ropo_report,
)

MON = datetime(2025, 3, 3, 12, 0)  # a Monday, ISO week 10
DAY = timedelta(days=1)


def session(at: datetime, channel: str, campaign: str) -> Touch:
    return Touch(at, TouchKind.SITE_SESSION, channel, source="yandex", medium="cpc", campaign=campaign)


PURCHASES = [
    # store s1, region msk
    Purchase("r1", MON, 100_000, "s1", "msk", "p1"),  # touched (paid search, spring)
    Purchase("r2", MON + DAY, 50_000, "s1", "msk", "p1"),  # same buyer, no touch in the lookback
    Purchase("r3", MON, 30_000, "s1", "msk", None),  # unidentified
    # store s2, region spb
    Purchase("r4", MON + 7 * DAY, 200_000, "s2", "spb", "p2"),  # touched (e-mail, news + paid search, spring)
    Purchase("r5", MON + 7 * DAY, 20_000, "s2", "spb", "p3"),  # identified, no touch
]
TOUCHES = {
    "p1": [session(MON - 3 * DAY, "paid_search", "spring")],
    "p2": [
        session(MON + 2 * DAY, "paid_search", "spring"),
        Touch(MON + 6 * DAY, TouchKind.SITE_SESSION, "email", source="esp", medium="email", campaign="news"),
    ],
}
# r2 is 4 days after p1's touch: inside the lookback. Use a 2-day lookback to leave r2 untouched.
JOURNEYS = build_journeys(TOUCHES, PURCHASES, lookback=2 * DAY + timedelta(hours=1))


def test_journeys_of_the_fixture() -> None:
    touched = {j.purchase.receipt_id for j in JOURNEYS if j.purchase and j.touches}
    assert touched == {"r4"}  # r1's touch is 3 days before: outside a 2-day lookback


def test_total_row_by_hand() -> None:
    journeys = build_journeys(TOUCHES, PURCHASES)  # 30 days: r1, r2 (p1's touch) and r4 touched
    [row] = ropo_report(PURCHASES, journeys)
    assert row.receipts == 5
    assert row.revenue == 400_000
    assert row.identified_receipts == 4
    assert row.identified_share == pytest.approx(4 / 5)
    assert row.buyers == 3
    assert row.ropo_receipts == 3
    assert row.ropo_revenue == 350_000
    assert row.ropo_revenue_share == pytest.approx(350 / 400)
    assert row.ropo_revenue_share_identified == pytest.approx(350 / 370)
    assert row.ropo_buyers == 2
    assert row.ropo_buyer_share == pytest.approx(2 / 3)


def test_by_store_region_and_period() -> None:
    journeys = build_journeys(TOUCHES, PURCHASES)
    stores = {r.key: r for r in ropo_report(PURCHASES, journeys, Dimension.STORE)}
    assert stores["s1"].revenue == 180_000
    assert stores["s1"].ropo_revenue == 150_000
    assert stores["s1"].identified_share == pytest.approx(2 / 3)
    assert stores["s2"].ropo_revenue_share == pytest.approx(200 / 220)
    assert [r.key for r in ropo_report(PURCHASES, journeys, Dimension.REGION)] == ["spb", "msk"]
    weeks = {r.key: r.revenue for r in ropo_report(PURCHASES, journeys, Dimension.WEEK)}
    assert weeks == {"2025-W10": 180_000, "2025-W11": 220_000}
    months = ropo_report(PURCHASES, journeys, Dimension.MONTH)
    assert [(r.key, r.revenue) for r in months] == [("2025-03", 400_000)]
    days = {r.key: r.receipts for r in ropo_report(PURCHASES, journeys, Dimension.DAY)}
    assert days == {"2025-03-03": 2, "2025-03-04": 1, "2025-03-10": 2}


def test_by_channel_and_campaign_count_a_purchase_in_each_of_its_channels() -> None:
    journeys = build_journeys(TOUCHES, PURCHASES)
    channels = {r.key: r for r in ropo_report(PURCHASES, journeys, Dimension.CHANNEL)}
    assert channels["paid_search"].ropo_revenue == 350_000  # r1, r2 and r4
    assert channels["email"].ropo_revenue == 200_000  # r4 only
    assert channels["email"].revenue == 400_000  # denominator: every purchase in scope
    assert channels["email"].ropo_revenue_share == pytest.approx(0.5)
    campaigns = {r.key for r in ropo_report(PURCHASES, journeys, Dimension.CAMPAIGN)}
    assert campaigns == {"yandex / cpc / spring", "esp / email / news"}


def test_empty_report() -> None:
    assert ropo_report([], []) == []


def test_online_vs_offline_revenue_per_campaign() -> None:
    offline = attribute(build_journeys(TOUCHES, PURCHASES), Model.LAST_NON_DIRECT_CLICK, key=by_campaign)
    online_order = Purchase("o1", MON + 3 * DAY, 40_000, profile_id="p1")
    online = attribute(
        [Journey("p1", (session(MON + 2 * DAY, "paid_search", "spring"),), online_order)], key=by_campaign
    )
    rows = {r.key: r for r in online_vs_offline(online, offline)}
    spring = rows["yandex / cpc / spring"]
    assert (spring.online_revenue, spring.offline_revenue) == (40_000, 150_000)
    assert spring.offline_to_online == pytest.approx(150 / 40)
    news = rows["esp / email / news"]
    assert (news.online_revenue, news.offline_revenue, news.offline_to_online) == (0, 200_000, None)


def test_attributed_beside_measured_lift() -> None:
    # Holdout: 10 000 treated buyers converted 6 %, 10 000 held out 5 %: ~100 incremental conversions.
    lift = rate_lift(600, 10_000, 500, 10_000)
    assert attributed_vs_lift(Credit("e-receipt block", 100.0, 0), lift).verdict is Verdict.CONSISTENT
    over = attributed_vs_lift(Credit("e-receipt block", 600.0, 0), lift)
    assert over.verdict is Verdict.OVERCOUNTS
    assert over.incremental == pytest.approx(100)
    assert over.incremental_low < 100 < over.incremental_high
    assert over.ratio == pytest.approx(6.0)
    assert attributed_vs_lift(Credit("x", 5.0, 0), lift).verdict is Verdict.UNDERCOUNTS


def test_attributed_revenue_beside_revenue_per_buyer_lift() -> None:
    # 1 000 treated buyers spend 30 RUB (3 000 kopecks) more each: ~3 000 000 kopecks incremental.
    lift = mean_lift_from_stats(13_000, 20_000, 1_000, 10_000, 20_000, 1_000)
    comparison = attributed_vs_lift(Credit("spring", 10.0, 1_000_000), lift)
    assert comparison.incremental == pytest.approx(3_000_000)
    assert comparison.verdict is Verdict.UNDERCOUNTS
