"""`issue_for_receipt`, the page's interface: one code per receipt and rule, the same on every open."""

import threading
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from cloud.jobs.models import JobRow
from cloud.pages.promo import service
from cloud.pages.promo.models import PromoCode
from tests.cloud.promo.conftest import NOW, PromoRig


def test_a_receipt_gets_one_code_per_rule_and_the_same_one_again(rig: PromoRig) -> None:
    rig.rule("next10", valid_days=14, start_delay_h=2, remind_before_h=24)
    rig.rule("coffee", amount=15000, headline="Кофе за 150 ₽")
    first, second = rig.receipts(["+79161234567", None])
    promo = rig.issue(first)
    assert promo is not None
    assert promo.headline == "−10 % на следующую покупку"
    assert (promo.starts_at, promo.expires_at) == (
        NOW + timedelta(hours=2),
        NOW + timedelta(days=14, hours=2),
    )
    assert len(promo.code) == 10
    assert rig.issue(first, now=NOW + timedelta(days=3)) == promo  # re-opening shows the same code
    coffee = rig.issue(first, "coffee")
    other = rig.issue(second)
    assert coffee is not None
    assert other is not None
    assert len({promo.code, coffee.code, other.code}) == 3
    assert coffee.headline == "Кофе за 150 ₽"
    with rig.session() as s:
        assert len(s.exec(select(PromoCode)).all()) == 3
        reminders = s.exec(select(JobRow).where(JobRow.name == "promo.reminder")).all()
    # next10 reminds 24 h before expiry; coffee's default (24 h) too; one per code
    assert {j.due_at for j in reminders} >= {promo.expires_at - timedelta(hours=24)}
    assert len(reminders) == 3


def test_no_code_without_an_active_rule_or_for_another_tenants_receipt(rig: PromoRig) -> None:
    (receipt,) = rig.receipts(["+79161234567"])
    assert rig.issue(receipt, "nothing") is None
    rig.rule("next10")
    with rig.session() as s:
        service.set_active(s, rig.reg.tenant_id, "next10", False, "test", NOW)
    assert rig.issue(receipt) is None
    other = rig.cloud.register()
    (theirs,) = rig.receipts(["+79161234567"], reg=other)
    with rig.session() as s:
        service.set_active(s, rig.reg.tenant_id, "next10", True, "test", NOW)
        assert (
            service.issue_for_receipt(
                s, tenant_id=rig.reg.tenant_id, receipt_id=theirs, rule_name="next10", now=NOW
            )
            is None
        )
    assert rig.issue(receipt) is not None


def test_a_colliding_code_is_drawn_again(rig: PromoRig) -> None:
    rig.rule("next10")
    a, b = rig.receipts(["+79161234567", "+79161234568"])
    first = rig.issue(a)
    assert first is not None
    drawn = iter([first.code, first.code, "ZZZZZZZZZZ"])
    with rig.session() as s:
        second = service.issue_with(
            s,
            tenant_id=rig.reg.tenant_id,
            receipt_id=b,
            rule_name="next10",
            now=NOW,
            draw=lambda _alphabet, _length: next(drawn),
        )
    assert second is not None
    assert second.code == "ZZZZZZZZZZ"
    assert rig.issue(b) == second


def test_concurrent_opens_of_one_page_issue_one_code(rig: PromoRig) -> None:
    rig.rule("next10")
    (receipt,) = rig.receipts(["+79161234567"])
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_page() -> None:
        try:
            barrier.wait()
            promo = rig.issue(receipt)
            assert promo is not None
            results.append(promo.code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_page) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(results)) == 1
    assert len(results) == 6
    with rig.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PromoCode)).scalar() == 1
