"""Attribution models on hand-built journeys: every model's credit worked out by hand."""

from datetime import datetime, timedelta

import pytest

from cloud.attribution.journeys import (
    Channel,
    Journey,
    Purchase,
    Touch,
    TouchKind,
    build_journeys,
    classify_channel,
)
from cloud.attribution.models import (
    Model,
    apportion,
    attribute,
    by_campaign,
    compare_models,
    touch_weights,
)

BUY = datetime(2025, 3, 30, 12, 0)
DAY = timedelta(days=1)


def touch(days_before: float, channel: str, campaign: str | None = None, at: datetime = BUY) -> Touch:
    kind = {"ereceipt": TouchKind.ERECEIPT_CLICK, "promo_code": TouchKind.PROMO_CODE}.get(
        channel, TouchKind.SITE_SESSION
    )
    return Touch(at=at - days_before * DAY, kind=kind, channel=channel, campaign=campaign)


def purchase(receipt: str, revenue: int, profile: str = "p", at: datetime = BUY) -> Purchase:
    return Purchase(receipt_id=receipt, at=at, revenue=revenue, profile_id=profile, store_id="s1")


# Journey 1: paid search 14 days before, e-mail 7 days before, direct on the day; 1000.00 RUB.
J1 = Journey(
    "p1",
    (touch(14, "paid_search"), touch(7, "email"), touch(0, "direct")),
    purchase("r1", 100_000, "p1"),
)
# Journey 2: one e-receipt click the day before; 500.00 RUB.
J2 = Journey("p2", (touch(1, "ereceipt"),), purchase("r2", 50_000, "p2"))
# Journey 3: direct only; 300.00 RUB.
J3 = Journey("p3", (touch(2, "direct"),), purchase("r3", 30_000, "p3"))
# Journey 4: an identified buyer with no touch in the lookback; 700.00 RUB.
J4 = Journey("p4", (), purchase("r4", 70_000, "p4"))
# Journey 5: touches, no purchase.
J5 = Journey("p5", (touch(3, "paid_social"),), None)
JOURNEYS = [J1, J2, J3, J4, J5]


def test_touch_weights_of_each_rule_based_model_by_hand() -> None:
    assert touch_weights(Model.LAST_NON_DIRECT_CLICK, J1) == (0, 1, 0)
    assert touch_weights(Model.FIRST_TOUCH, J1) == (1, 0, 0)
    assert touch_weights(Model.LINEAR, J1) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert touch_weights(Model.POSITION_BASED, J1) == pytest.approx((0.4, 0.2, 0.4))
    # 14 and 7 days at a 7-day half-life: 1/4 and 1/2 of the same-day touch's weight -> 1:2:4 of 7.
    assert touch_weights(Model.TIME_DECAY, J1) == pytest.approx((1 / 7, 2 / 7, 4 / 7))
    assert touch_weights(Model.LAST_NON_DIRECT_CLICK, J3) == (1,)


def test_position_based_with_two_and_five_touches() -> None:
    two = Journey("p", (touch(5, "email"), touch(1, "paid_search")), purchase("r", 100))
    assert touch_weights(Model.POSITION_BASED, two) == (0.5, 0.5)
    five = Journey("p", tuple(touch(d, c) for d, c in enumerate("abcde")), purchase("r", 100))
    assert touch_weights(Model.POSITION_BASED, five) == pytest.approx((0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4))


def test_last_non_direct_click_skips_direct_but_not_when_there_is_nothing_else() -> None:
    journey = Journey(
        "p", (touch(4, "paid_search"), touch(2, "direct"), touch(1, "direct")), purchase("r", 1)
    )
    assert touch_weights(Model.LAST_NON_DIRECT_CLICK, journey) == (1, 0, 0)
    only_direct = Journey("p", (touch(4, "direct"), touch(2, "direct")), purchase("r", 1))
    assert touch_weights(Model.LAST_NON_DIRECT_CLICK, only_direct) == (0, 1)


def test_time_decay_half_life_is_a_parameter() -> None:
    journey = Journey("p", (touch(2, "a"), touch(0, "b")), purchase("r", 1))
    assert touch_weights(Model.TIME_DECAY, journey, half_life=2 * DAY) == pytest.approx((1 / 3, 2 / 3))


def test_last_non_direct_click_attribution_by_hand() -> None:
    result = attribute(JOURNEYS)  # the default model
    assert result.model is Model.LAST_NON_DIRECT_CLICK
    assert result.as_dict() == {"email": (1.0, 100_000), "ereceipt": (1.0, 50_000), "direct": (1.0, 30_000)}
    assert result.conversions == 3
    assert result.revenue == 180_000
    assert result.unattributed_conversions == 1
    assert result.unattributed_revenue == 70_000
    assert [c.key for c in result.credits] == ["email", "ereceipt", "direct"]


def test_first_touch_attribution_by_hand() -> None:
    result = attribute(JOURNEYS, Model.FIRST_TOUCH)
    assert result.as_dict() == {
        "paid_search": (1.0, 100_000),
        "ereceipt": (1.0, 50_000),
        "direct": (1.0, 30_000),
    }


def test_linear_attribution_by_hand_in_whole_kopecks() -> None:
    result = attribute(JOURNEYS, Model.LINEAR)
    credits = result.as_dict()
    # 100 000 / 3 = 33 333.33 to each of J1's touches; direct also gets J3's 30 000.
    # One kopeck left over after the floors goes to the first key among equal remainders ('direct').
    assert credits["paid_search"] == pytest.approx((1 / 3, 33_333))
    assert credits["email"] == pytest.approx((1 / 3, 33_333))
    assert credits["direct"] == pytest.approx((4 / 3, 63_334))
    assert credits["ereceipt"] == (1.0, 50_000)
    assert sum(c.revenue for c in result.credits) == result.revenue == 180_000


def test_position_based_attribution_by_hand() -> None:
    credits = attribute(JOURNEYS, Model.POSITION_BASED).as_dict()
    assert credits["paid_search"] == pytest.approx((0.4, 40_000))
    assert credits["email"] == pytest.approx((0.2, 20_000))
    assert credits["direct"] == pytest.approx((1.4, 70_000))
    assert credits["ereceipt"] == (1.0, 50_000)


def test_time_decay_attribution_by_hand() -> None:
    credits = attribute(JOURNEYS, Model.TIME_DECAY).as_dict()
    # J1: 100 000 * 1/7 = 14 285.71, * 2/7 = 28 571.43, * 4/7 = 57 142.86 (+ J3's 30 000 to direct).
    assert credits["paid_search"] == pytest.approx((1 / 7, 14_286))
    assert credits["email"] == pytest.approx((2 / 7, 28_571))
    assert credits["direct"] == pytest.approx((1 + 4 / 7, 87_143))
    assert credits["ereceipt"] == (1.0, 50_000)
    assert sum(v[1] for v in credits.values()) == 180_000


def test_markov_attribution_by_hand() -> None:
    # Paths: A converts once; B > A converts once; B alone ends without a sale twice.
    # start->A 1/4, start->B 3/4; A->conv 1; B->A 1/3, B->null 2/3. P(conv) = 1/4 + 3/4 * 1/3 = 1/2.
    # Without A: 0 -> RE_A = 1. Without B: 1/4 -> RE_B = 1/2. Normalised: A 2/3, B 1/3.
    journeys = [
        Journey("p1", (touch(1, "A"),), purchase("r1", 30_000, "p1")),
        Journey("p2", (touch(2, "B"), touch(1, "A")), purchase("r2", 60_000, "p2")),
        Journey("p3", (touch(2, "B"),), None),
        Journey("p4", (touch(2, "B"),), None),
    ]
    result = attribute(journeys, Model.MARKOV)
    assert result.removal_effects == pytest.approx({"A": 1.0, "B": 0.5})
    credits = result.as_dict()
    assert credits["A"] == pytest.approx((4 / 3, 60_000))
    assert credits["B"] == pytest.approx((2 / 3, 30_000))


def test_markov_is_deterministic_and_repeated_channels_count_once() -> None:
    journeys = [
        Journey("p1", (touch(3, "A"), touch(2, "A"), touch(1, "B")), purchase("r1", 100, "p1")),
        Journey("p2", (touch(3, "B"),), None),
    ]
    collapsed = [
        Journey("p1", (touch(3, "A"), touch(1, "B")), purchase("r1", 100, "p1")),
        Journey("p2", (touch(3, "B"),), None),
    ]
    assert attribute(journeys, Model.MARKOV) == attribute(journeys, Model.MARKOV)
    assert attribute(journeys, Model.MARKOV).as_dict() == attribute(collapsed, Model.MARKOV).as_dict()


def test_compare_models_puts_every_model_side_by_side() -> None:
    table = compare_models(JOURNEYS)
    assert list(table) == list(Model)
    for result in table.values():
        assert sum(c.revenue for c in result.credits) == 180_000
        assert sum(c.conversions for c in result.credits) == pytest.approx(3)


def test_credit_by_campaign() -> None:
    journey = Journey(
        "p",
        (
            Touch(BUY - 2 * DAY, TouchKind.SITE_SESSION, "paid_search", "yandex", "cpc", "spring"),
            Touch(BUY - DAY, TouchKind.SITE_SESSION, "email", "esp", "email", "march_news"),
        ),
        purchase("r", 1_000),
    )
    result = attribute([journey], Model.LINEAR, key=by_campaign)
    assert result.as_dict() == {"esp / email / march_news": (0.5, 500), "yandex / cpc / spring": (0.5, 500)}


def test_apportion_adds_up_and_breaks_ties_by_key() -> None:
    assert apportion(100, {"b": 1, "a": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert apportion(0, {"a": 1}) == {"a": 0}
    assert apportion(7, {}) == {}
    assert sum(apportion(1_000_003, {"x": 0.1, "y": 0.7, "z": 0.2}).values()) == 1_000_003


def test_build_journeys_applies_the_lookback_and_ignores_later_touches() -> None:
    second = BUY + 10 * DAY
    touches = {
        "p1": [
            touch(30, "paid_search"),  # exactly 30 days before the first purchase: outside (a, at]
            touch(15, "email"),
            touch(-5, "paid_social"),  # after the first purchase, before the second
            touch(-20, "direct"),  # after both purchases: counts for none
        ],
        "p2": [touch(5, "ereceipt")],  # no purchase
    }
    purchases = [
        purchase("r1", 100, "p1"),
        purchase("r2", 200, "p1", at=second),
        Purchase("r3", BUY, 300, profile_id=None),  # unidentified buyer: no journey
    ]
    journeys = build_journeys(touches, purchases)
    assert [(j.profile_id, j.channels, j.purchase.receipt_id if j.purchase else None) for j in journeys] == [
        ("p1", ("email",), "r1"),
        ("p1", ("email", "paid_social"), "r2"),  # the e-mail touch serves both purchases
        ("p1", ("paid_search", "direct"), None),
        ("p2", ("ereceipt",), None),
    ]
    short = build_journeys(touches, purchases, lookback=7 * DAY, with_non_converting=False)
    assert [j.channels for j in short] == [(), ("paid_social",)]


def test_journey_refuses_touches_after_its_purchase() -> None:
    with pytest.raises(ValueError, match="precede"):
        Journey("p", (touch(-1, "email"),), purchase("r", 1))


def test_purchase_revenue_is_integer_kopecks() -> None:
    with pytest.raises(TypeError, match="kopecks"):
        Purchase("r", BUY, 10.5, profile_id="p")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "fields", "channel"),
    [
        (TouchKind.ERECEIPT_CLICK, {}, Channel.ERECEIPT),
        (TouchKind.PROMO_CODE, {}, Channel.PROMO_CODE),
        (TouchKind.SITE_SESSION, {"yclid": "123", "medium": "email"}, Channel.PAID_SEARCH),
        (TouchKind.SITE_SESSION, {"source": "vk", "medium": "cpc"}, Channel.PAID_SOCIAL),
        (TouchKind.SITE_SESSION, {"source": "yandex", "medium": "cpc"}, Channel.PAID_SEARCH),
        (TouchKind.SITE_SESSION, {"source": "esp", "medium": "Email"}, Channel.EMAIL),
        (TouchKind.SITE_SESSION, {"source": "yandex", "medium": "organic"}, Channel.ORGANIC_SEARCH),
        (TouchKind.SITE_SESSION, {"referrer_host": "www.google.com"}, Channel.ORGANIC_SEARCH),
        (TouchKind.SITE_SESSION, {"referrer_host": "vk.com"}, Channel.ORGANIC_SOCIAL),
        (TouchKind.SITE_SESSION, {"referrer_host": "blog.example.ru"}, Channel.REFERRAL),
        (TouchKind.SITE_SESSION, {"source": "viber"}, Channel.MESSENGER),
        (TouchKind.SITE_SESSION, {"medium": "display"}, Channel.DISPLAY),
        (TouchKind.SITE_SESSION, {}, Channel.DIRECT),
    ],
)
def test_classify_channel(kind: TouchKind, fields: dict[str, str], channel: Channel) -> None:
    assert classify_channel(kind, **fields) == channel
