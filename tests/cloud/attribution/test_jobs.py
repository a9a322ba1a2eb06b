"""Attribution over stored data: receipts through the real ingest API, site events in the event store, the
real identity linker and the attribution job; then a late identity merge re-attributes the day."""

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.attribution import holdouts, reads
from cloud.attribution.jobs import AttributionJobs
from cloud.attribution.models import Model
from cloud.attribution.service import DAY, PURCHASE, RESULT, attribute_day
from cloud.bootstrap import bootstrap
from cloud.events import EventsTracked
from cloud.ingest.models import ReceiptRow
from cloud.tracking.events import EventType, Identifier, IdentifierKind, TrackedEvent, new_event_id
from cloud.tracking.store import record_events
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, Registered, wire_receipt

MSK = ZoneInfo("Europe/Moscow")
DAY_D = datetime.now(MSK).date() - timedelta(days=2)
PHONE_A, PHONE_B = "79161112233", "79162223344"


def receipt(cloud: Cloud, reg: Registered, fd: int, total: int, phone: str | None, at: time) -> int:
    doc = wire_receipt(fd, total=total, contact={"kind": "phone", "value": phone} if phone else None)
    doc["fiscal"]["issued_at"] = datetime.combine(DAY_D, at).isoformat()
    r = cloud.http.post(batch_path(reg.store_id), json={"receipts": [doc]}, headers=reg.auth)
    assert r.status_code == 200, r.text
    with cloud.session() as s:
        row = s.exec(select(ReceiptRow).where(ReceiptRow.fd_number == fd)).one()
        assert row.id is not None
        return row.id


def track(cloud: Cloud, tenant_id: int, *events: TrackedEvent) -> None:
    runtime = bootstrap(cloud.engine, "https://r.example")
    try:
        with Session(cloud.engine) as s:
            fresh = record_events(s, list(events))
            runtime.bus.publish(s, EventsTracked(tenant_id, tuple(e.event_id for e in fresh)))
            s.commit()
    finally:
        runtime.close()


def ev(tenant_id: int, kind: EventType, browser: str, at: datetime, **kw: Any) -> TrackedEvent:
    return TrackedEvent(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        type=kind,
        received_at=at,
        browser_id=browser,
        session_id=f"s-{browser}-{at:%d%H%M}",
        **kw,
    )


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=MSK).astimezone(UTC)


def test_a_day_is_attributed_stored_and_re_attributed_after_a_late_merge(cloud: Cloud) -> None:
    reg = cloud.register()
    t = reg.tenant_id
    keys = cloud.keys
    phone_a = Identifier(IdentifierKind.PHONE, keys.hash(PHONE_A))
    phone_b = Identifier(IdentifierKind.PHONE, keys.hash(PHONE_B))
    email_b = Identifier(IdentifierKind.EMAIL, keys.hash("bob@example.ru"))
    paid = {"source": "yandex", "medium": "cpc", "campaign": "winter"}
    mail = {"source": "newsletter", "medium": "email", "campaign": "dec"}
    # buyer A: a paid-search visit two days before, and an order on the site that names the phone
    track(
        cloud,
        t,
        ev(t, EventType.PAGEVIEW, "aaaa", local(DAY_D, 9) - timedelta(days=2), utm=paid, yclid="y1"),
        ev(
            t,
            EventType.ORDER,
            "aaaa",
            local(DAY_D, 9) - timedelta(days=2, minutes=-5),
            identifiers=(phone_a,),
        ),
        # buyer B's browser: an e-mail visit and a subscription with the e-mail only (not yet B's phone)
        ev(t, EventType.PAGEVIEW, "bbbb", local(DAY_D, 8) - timedelta(days=1), utm=mail),
        ev(
            t,
            EventType.SUBSCRIBE,
            "bbbb",
            local(DAY_D, 8) - timedelta(days=1, minutes=-3),
            identifiers=(email_b,),
        ),
    )
    cloud.run_jobs()
    ra = receipt(cloud, reg, 1, 100_00, PHONE_A, time(14))
    rb = receipt(cloud, reg, 2, 300_00, PHONE_B, time(15))
    receipt(cloud, reg, 3, 50_00, None, time(16))  # no contact: never identified
    cloud.run_jobs()

    jobs = AttributionJobs(cloud.engine, clock=lambda: local(DAY_D + timedelta(days=1), 3))
    done = jobs.run(t)
    assert [d.day for d in done] == [DAY_D, DAY_D + timedelta(days=1)]
    first = done[0]
    assert (first.purchases, first.identified, first.touched) == (3, 2, 1)
    with cloud.session() as s:
        rows = {r.receipt_id: r for r in s.execute(sa.select(PURCHASE))}
        assert rows[ra].touched
        assert rows[ra].touches[0]["channel"] == "paid_search"
        assert not rows[rb].touched
        assert rows[rb].profile_id is not None
        credit = s.execute(
            sa.select(RESULT.c.channel, RESULT.c.campaign, RESULT.c.revenue).where(
                RESULT.c.model == Model.LAST_NON_DIRECT_CLICK.value
            )
        ).all()
        assert credit == [("paid_search", "yandex / cpc / winter", 100_00)]
        # every model credits exactly the touched revenue
        per_model = dict(
            s.execute(sa.select(RESULT.c.model, sa.func.sum(RESULT.c.revenue)).group_by(RESULT.c.model)).all()
        )
        assert per_model == {m.value: 100_00 for m in Model}
        summary = reads.summary(s, t, reads.Filters(DAY_D, DAY_D))
        assert summary["receipts"] == 3
        assert summary["identified_receipts"] == 2
        assert summary["ropo_revenue_share"] == 100_00 / 450_00
        assert summary["ropo_revenue_share_identified"] == 100_00 / 400_00

    # a late receipt of an attributed day marks it dirty (through the ReceiptStored subscription)
    receipt(cloud, reg, 4, 20_00, None, time(18))
    cloud.run_jobs()
    with cloud.session() as s:
        dirty = s.execute(sa.select(DAY.c.dirty, DAY.c.reason).where(DAY.c.day == DAY_D)).one()
        assert tuple(dirty) == (True, "late receipt")
    assert [d.purchases for d in jobs.run(t)] == [4]

    # later B orders online with phone and e-mail: identity merges B's browser into B's profile; the day
    # is attributed again and B's purchase now has its e-mail visit
    track(cloud, t, ev(t, EventType.ORDER, "bbbb", local(DAY_D, 20), identifiers=(phone_b, email_b)))
    cloud.run_jobs()
    again = jobs.run(t)
    assert [d.day for d in again] == [DAY_D]
    with cloud.session() as s:
        row = s.execute(sa.select(PURCHASE).where(PURCHASE.c.receipt_id == rb)).one()
        assert row.touched
        assert row.touches[0]["channel"] == "email"
        summary = reads.summary(s, t, reads.Filters(DAY_D, DAY_D))
        assert summary["ropo_revenue"] == 400_00
        assert {c["channel"]: c["revenue"] for c in summary["channels"]} == {
            "email": 300_00,
            "paid_search": 100_00,
        }
    assert jobs.run(t) == []  # nothing due

    # the day taken one buyer at a time stores the same rows as in one pass (memory is bounded by chunks)
    def stored() -> tuple[list[Any], list[Any]]:
        with cloud.session() as s:
            purchases = s.execute(sa.select(PURCHASE).order_by(PURCHASE.c.receipt_id)).all()
            credits = s.execute(
                sa.select(*(c for c in RESULT.c if c.name != "id")).order_by(
                    RESULT.c.model, RESULT.c.store_id, RESULT.c.channel, RESULT.c.campaign
                )
            ).all()
            return [tuple(r) for r in purchases], [tuple(r) for r in credits]

    whole = stored()
    with Session(cloud.engine) as s, s.begin():
        chunked = attribute_day(s, t, DAY_D, buyers_per_chunk=1)
    assert (chunked.purchases, chunked.identified, chunked.touched, chunked.touches) == (4, 2, 2, 2)
    assert stored() == whole

    # buyer A is erased: the day that credited A's purchase to paid search is attributed again without it
    r = cloud.http.post(
        "/v1/privacy/erasures", json={"contact": PHONE_A, "reason": "test"}, headers=reg.tenant_auth
    )
    assert r.status_code == 201, r.text
    assert r.json()["counts"]["attribution_days"] == 1
    with cloud.session() as s:
        assert tuple(s.execute(sa.select(DAY.c.dirty, DAY.c.reason).where(DAY.c.day == DAY_D)).one()) == (
            True,
            "erasure",
        )
    assert [d.identified for d in jobs.run(t)] == [1]
    with cloud.session() as s:
        assert reads.summary(s, t, reads.Filters(DAY_D, DAY_D))["ropo_revenue"] == 300_00


def test_holdout_draw_is_deterministic_recorded_and_measured(cloud: Cloud) -> None:
    reg = cloud.register()
    t = reg.tenant_id
    start = local(DAY_D, 0)
    with cloud.session() as s, s.begin():
        h = holdouts.create(
            s,
            t,
            name="winter",
            unit=holdouts.Unit.BUYER,
            target_kind=holdouts.TargetKind.CAMPAIGN,
            target="winter",
            share=0.5,
            starts_at=start,
            ends_at=start + timedelta(days=1),
            salt="fixed",
        )
        units = [f"{i:064x}" for i in range(400)]
        groups = holdouts.assign(s, h, units)
        assert groups == {u: holdouts.held_out("fixed", u, 0.5) for u in units}
        assert 150 < sum(groups.values()) < 250
        h2 = holdouts.get(s, t, "winter")
        assert h2 is not None
        # a recorded unit keeps its group even if the share changes later
        changed = dataclasses.replace(h2, share=0.01)
        assert holdouts.assign(s, changed, units[:10]) == {u: groups[u] for u in units[:10]}
    fd = 100
    with cloud.session() as s:
        contact = {r.contact_hash for r in s.exec(select(ReceiptRow))}
    assert contact == set()
    # buyers: receipts with phones; held-out ones buy less
    phones = [f"7916{i:07d}" for i in range(60)]
    for i, phone in enumerate(phones):
        receipt(cloud, reg, fd + i, 1000_00, phone, time(12))
    with cloud.session() as s, s.begin():
        h3 = holdouts.create(
            s,
            t,
            name="spring",
            unit=holdouts.Unit.BUYER,
            target_kind=holdouts.TargetKind.CAMPAIGN,
            target="spring",
            share=0.3,
            starts_at=start,
            ends_at=start + timedelta(days=1),
        )
        buyers = holdouts.known_buyers(s, t)
        assert len(buyers) == 60
        holdouts.assign(s, h3, [*buyers, cloud.keys.hash("79990000000")])  # one buyer who never bought
        lift = holdouts.measure(s, h3)
    assert lift.treated + lift.held_out == 61
    assert lift.rate is not None
    assert lift.revenue is not None
