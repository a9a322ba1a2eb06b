"""The dashboards' figures on hand-built rows (SQLite, and PostgreSQL when configured): each figure by hand,
the filters narrowing them, and a regional analyst's scope holding whatever the query string says."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.accounts.models import Register
from cloud.db import make_engine, migrate
from cloud.delivery.models import AttemptRow, DeliveryRow
from cloud.fleet.health import FleetPolicy
from cloud.ingest.models import ReceiptRow
from cloud.pages.models import PageAnswer, PageExposure
from cloud.reports.filters import parse
from cloud.reports.scope import Viewer
from cloud.reports.service import build
from cloud.reports.tables import Dashboard
from cloud.tracking.models import TrackingEvent

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = {"since": "2026-11-20", "until": "2026-11-20"}
_ids = itertools.count(1)


@dataclass
class Shop:
    engine: Engine
    tenant_id: int
    moscow: int
    kazan: int
    regs: dict[int, int]


@pytest.fixture
def shop(database_url: str) -> Iterator[Shop]:
    global _ids
    _ids = itertools.count(1)  # receipt ids 1..7 in the order made below
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s:
        tenant, _key = tenants.create_tenant(s, "Acme")
        other, _ = tenants.create_tenant(s, "Other")
        assert tenant.id
        assert other.id
        moscow = tenants.create_store(s, tenant.id, "Тверская 7", "Москва").id
        kazan = tenants.create_store(s, tenant.id, "Баумана 3", "Казань").id
        foreign = tenants.create_store(s, other.id, "Чужой", "Москва").id
        assert moscow
        assert kazan
        assert foreign
        regs = {}
        for store, tid in ((moscow, tenant.id), (kazan, tenant.id), (foreign, other.id)):
            reg = Register(
                tenant_id=tid,
                store_id=store,
                enrolled_at=NOW,
                last_heartbeat_at=NOW,
                heartbeat_interval_s=60.0,
            )
            s.add(reg)
            s.flush()
            assert reg.id
            regs[store] = reg.id
        s.commit()
        shop = Shop(engine, tenant.id, moscow, kazan, regs)
        # Moscow: 4 receipts, 3 with a contact (one with a card): e-mail (opened by a person), SMS after a
        # failed Viber, and a failed one. Kazan: 2 receipts, 1 with a contact: Viber. The other tenant: 1.
        _receipt(s, shop, moscow, "a", None, "Иванова", email=(0, 20))
        _receipt(s, shop, moscow, "b", "7700", "Иванова", viber_failed=True, sms=(140, 100))
        _receipt(s, shop, moscow, "c", None, "Петров", failed=True)
        _receipt(s, shop, moscow, None, None, "Петров")
        _receipt(s, shop, kazan, "d", None, None, viber=(60, 40))
        _receipt(s, shop, kazan, None, None, None)
        _receipt(s, Shop(engine, other.id, foreign, foreign, regs), foreign, "e", None, None, email=(0, 5))
        s.add(
            TrackingEvent(
                event_id="00000000-0000-0000-0000-000000000001",
                received_at=NOW + timedelta(minutes=5),
                tenant_id=tenant.id,
                type="receipt_open",
                receipt_id=1,
                browser_id="b1",
            )
        )
        s.add(
            TrackingEvent(
                event_id="00000000-0000-0000-0000-000000000002",
                received_at=NOW + timedelta(minutes=5),
                tenant_id=tenant.id,
                type="receipt_open",
                receipt_id=2,
                bot="AppleMail",
            )
        )
        for i, kind in enumerate(("block_view", "block_view", "block_click")):
            s.add(
                TrackingEvent(
                    event_id=f"00000000-0000-0000-0000-00000000010{i}",
                    received_at=NOW + timedelta(minutes=6 + i),
                    tenant_id=tenant.id,
                    type=kind,
                    receipt_id=1 if i != 1 else 5,
                    block_id="promo",
                )
            )
        s.commit()
    yield shop
    engine.dispose()


def _receipt(
    s: Session,
    shop: Shop,
    store: int,
    contact: str | None,
    card: str | None,
    cashier: str | None,
    *,
    email: tuple[int, int] | None = None,
    sms: tuple[int, int] | None = None,
    viber: tuple[int, int] | None = None,
    viber_failed: bool = False,
    failed: bool = False,
) -> None:
    n = next(_ids)
    receipt = ReceiptRow(
        id=n,
        tenant_id=shop.tenant_id,
        store_id=store,
        register_id=shop.regs[store],
        fn_serial="9999000000000001",
        fd_number=n,
        fpd=n,
        issued_at=NOW.replace(tzinfo=None),
        total=100_00 * n,
        calculation_type=1,
        contact_kind="phone" if contact else None,
        contact_hash=contact,
        loyalty_card=card,
        payload={"extra": {"cashier": cashier}} if cashier else {},
        content_hash=str(n),
        received_at=NOW,
    )
    s.add(receipt)
    s.flush()
    if contact is None:
        return
    won = "email" if email else "sms" if sms else "viber" if viber else None
    price, seconds = email or sms or viber or (0, 0)
    d = DeliveryRow(
        id=n,
        receipt_id=n,
        tenant_id=shop.tenant_id,
        store_id=store,
        link_token=f"t{n}",
        status="failed" if failed else "delivered",
        channel=won,
        created_at=NOW,
        finished_at=NOW + timedelta(seconds=seconds or 1),
    )
    s.add(d)
    s.flush()
    step = 0
    if viber_failed:
        s.add(
            AttemptRow(
                delivery_id=n,
                tenant_id=shop.tenant_id,
                step=0,
                channel="viber",
                status="failed",
                price=0,
                history=[],
            )
        )
        step = 1
    if won:
        s.add(
            AttemptRow(
                delivery_id=n,
                tenant_id=shop.tenant_id,
                step=step,
                channel=won,
                status="delivered",
                price=price,
                history=[],
            )
        )
    if failed:
        s.add(
            AttemptRow(
                delivery_id=n,
                tenant_id=shop.tenant_id,
                step=0,
                channel="sms",
                status="failed",
                price=140,
                history=[],
            )
        )


def dash(shop: Shop, slug: str, stores: frozenset[int] | None = None, **params: str) -> Dashboard:
    with Session(shop.engine) as s:
        return build(
            s,
            Viewer(shop.tenant_id, stores),
            slug,
            parse({**DAY, **params}, now=NOW),
            policy=FleetPolicy(),
            now=NOW + timedelta(seconds=30),
        )


def fig(d: Dashboard) -> dict[str, object]:
    return {f.id: f.value for f in d.figures}


def test_sending_figures_by_hand(shop: Shop) -> None:
    d = dash(shop, "sending")
    f = fig(d)
    assert f["receipts"] == 6  # the other tenant's receipt never counts
    assert f["capture"] == pytest.approx(4 / 6)
    assert f["delivered"] == 3
    assert f["open_rate"] == pytest.approx(1 / 3)  # one open by a person; the bot's "open" does not count
    assert f["cost"] == 140 + 60 + 140  # SMS delivered, Viber delivered, the failed SMS attempt
    assert f["saving"] == 4 * 200 - 340  # four deliveries at the operator's 2 RUB
    assert f["p50"] == pytest.approx(40, abs=0.01)  # delivered in 20, 40 and 100 s
    assert f["p95"] == pytest.approx(94, abs=0.01)
    stores = {r["store"]: r for r in d.table("stores").rows}  # type: ignore[union-attr]
    assert stores["Тверская 7"]["capture"] == pytest.approx(3 / 4)
    assert stores["Баумана 3"]["capture"] == pytest.approx(1 / 2)
    channels = {r["channel"]: r for r in d.table("channels").rows}  # type: ignore[union-attr]
    assert channels["Viber"] == {
        "channel": "Viber",
        "delivered": 1,
        "share": pytest.approx(1 / 3),
        "attempts": 2,
        "cost": 60,
    }
    cashiers = {(r["store"], r["cashier"]): r["capture"] for r in d.table("cashiers").rows}  # type: ignore[union-attr]
    assert cashiers[("Тверская 7", "Иванова")] == 1.0
    assert cashiers[("Тверская 7", "Петров")] == 0.5
    assert cashiers[("Баумана 3", "не указан")] == 0.5


def test_filters_narrow_the_figures(shop: Shop) -> None:
    assert fig(dash(shop, "sending", store=str(shop.kazan)))["receipts"] == 2
    assert fig(dash(shop, "sending", region="Москва"))["receipts"] == 4
    assert fig(dash(shop, "sending", segment="card"))["receipts"] == 1
    assert fig(dash(shop, "sending", segment="anonymous"))["receipts"] == 2
    assert fig(dash(shop, "sending", channel="sms"))["receipts"] == 1
    assert fig(dash(shop, "sending", since="2026-11-21", until="2026-11-27"))["receipts"] == 0


def test_a_regional_analyst_sees_only_their_stores_whatever_the_filters_say(shop: Shop) -> None:
    kazan_only = frozenset({shop.kazan})
    d = dash(shop, "sending", kazan_only)
    assert fig(d)["receipts"] == 2
    assert [r["store"] for r in d.table("stores").rows] == ["Баумана 3"]  # type: ignore[union-attr]
    assert fig(dash(shop, "sending", kazan_only, store=str(shop.moscow)))["receipts"] == 0
    assert fig(dash(shop, "sending", kazan_only, region="Москва"))["receipts"] == 0
    assert fig(dash(shop, "sending", frozenset()))["receipts"] == 0  # a scope naming nothing sees nothing
    fleet = dash(shop, "fleet", kazan_only)
    assert [r["store"] for r in fleet.table("stores").rows] == ["Баумана 3"]  # type: ignore[union-attr]
    assert fig(fleet)["receipts_today"] == 2
    elements = dash(shop, "elements", kazan_only)
    assert fig(elements)["impressions"] == 1  # the view on Kazan's receipt 5 only
    ropo = dash(shop, "ropo", kazan_only)
    assert fig(ropo)["receipts"] == 2


def test_fleet_has_business_figures_beside_the_technical_ones(shop: Shop) -> None:
    d = dash(shop, "fleet")
    f = fig(d)
    assert f["registers"] == 2
    assert f["online"] == 2
    assert f["receipts_today"] == 6
    assert f["capture_today"] == pytest.approx(4 / 6)
    regs = d.table("registers").rows  # type: ignore[union-attr]
    assert {r["state"] for r in regs} == {"на связи"}


def test_elements_counts_views_clicks_and_marks_missing_sources(shop: Shop) -> None:
    d = dash(shop, "elements")
    f = fig(d)
    assert (f["impressions"], f["clicks"]) == (2, 1)
    assert f["ctr"] == 0.5
    blocks = d.table("blocks").rows  # type: ignore[union-attr]
    assert blocks == [
        {
            "block": "promo",
            "impressions": 2,
            "clicks": 1,
            "ctr": 0.5,
            "visits": 0,
            "orders": 0,
            "offline": 0,
            "offline_revenue": 0,
        }
    ]
    assert d.table("holdout").missing  # no block with a holdout yet
    assert d.table("answers").rows == []
    assert fig(dash(shop, "elements", segment="card"))["impressions"] == 0


def test_ropo_reports_identified_share_and_says_what_is_missing(shop: Shop) -> None:
    d = dash(shop, "ropo", model="markov")
    f = fig(d)
    assert f["receipts"] == 6
    assert f["identified"] == pytest.approx(4 / 6)
    assert f["ropo_share"] == 0  # no site sessions yet
    assert any("cloud/identity" in n for n in d.notes)
    assert d.table("credit").title.endswith("цепи Маркова")  # type: ignore[union-attr]


def test_holdout_lift_and_answers_per_block_in_scope(shop: Shop) -> None:
    with Session(shop.engine) as s:
        # Receipts 1 (buyer a) and 3 (c) showed the block, 2 (b) was held out of it, Kazan's 5 (d) too.
        for receipt_id, held, contact in ((1, False, "a"), (3, False, "c"), (2, True, "b"), (5, True, "d")):
            s.add(
                PageExposure(
                    tenant_id=shop.tenant_id,
                    receipt_id=receipt_id,
                    block_id="loyalty",
                    held_out=held,
                    contact_hash=contact,
                    at=NOW,
                )
            )
        s.add(
            PageAnswer(
                tenant_id=shop.tenant_id,
                receipt_id=1,
                block_id="form",
                kind="enrichment",
                field="birthday",
                value="01.01",
                contact_hash="a",
                at=NOW,
            )
        )
        s.commit()
        _receipt(s, shop, shop.moscow, "a", None, None)  # buyer a came back (receipt 8, same day)
        s.commit()
    d = dash(shop, "elements")
    (row,) = d.table("holdout").rows  # type: ignore[union-attr]
    assert (row["shown"], row["held_out"]) == (2, 2)  # Moscow and Kazan
    assert row["repeat_lift"] == 50.0  # 1 of 2 shown came back, 0 of 2 held out
    assert row["signup_lift"] == 0.0
    answers = d.table("answers").rows  # type: ignore[union-attr]
    assert answers == [{"kind": "анкета", "block": "form", "field": "birthday", "answers": 1, "buyers": 1}]
    kazan = dash(shop, "elements", frozenset({shop.kazan}))
    (only,) = kazan.table("holdout").rows  # type: ignore[union-attr]
    assert (only["shown"], only["held_out"], only["repeat_lift"]) == (0, 1, None)
    assert kazan.table("answers").rows == []  # type: ignore[union-attr]
