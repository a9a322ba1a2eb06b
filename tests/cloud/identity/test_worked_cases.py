"""The worked cases of the seeds (REFERENCE "Identity"), at the service level: receipts ingested through
the real HTTP API, site events stored with `record_events` and announced with EventsTracked, the real job
worker linking them; then head office asks the API who the buyer is and why."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from cloud.bootstrap import bootstrap
from cloud.events import EventsTracked
from cloud.identity import views
from cloud.identity.graph import NodeKey, NodeKind, site_browser
from cloud.ingest.models import ReceiptRow
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.events import EventType, Identifier, IdentifierKind, TrackedEvent, new_event_id
from cloud.tracking.store import record_events
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, Registered, wire_receipt

EMAIL, PHONE = "ann@example.ru", "79161112233"
T0 = datetime.now(UTC) - timedelta(days=3)


def receipt(cloud: Cloud, reg: Registered, fd: int, contact: dict[str, str] | None, **extra: Any) -> int:
    r = cloud.http.post(
        batch_path(reg.store_id),
        json={"receipts": [wire_receipt(fd, contact=contact, **extra)]},
        headers=reg.auth,
    )
    assert r.status_code == 200, r.text
    with cloud.session() as s:
        row = s.exec(
            select(ReceiptRow).where(ReceiptRow.tenant_id == reg.tenant_id, ReceiptRow.fd_number == fd)
        ).one()
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


def ev(tenant_id: int, kind: EventType, browser: str, minutes: int, **kw: Any) -> TrackedEvent:
    return TrackedEvent(
        event_id=new_event_id(),
        tenant_id=tenant_id,
        type=kind,
        received_at=T0 + timedelta(minutes=minutes),
        browser_id=browser,
        session_id=f"s-{browser}",
        **kw,
    )


def contact_key(cloud: Cloud, kind: NodeKind, value: str) -> NodeKey:
    return NodeKey(kind, cloud.keys.hash(value))


def test_worked_cases_1_to_3_one_buyer_across_browsers_receipts_and_an_e_receipt(cloud: Cloud) -> None:
    reg = cloud.register()
    t = reg.tenant_id
    keys = cloud.keys
    email_id = Identifier(IdentifierKind.EMAIL, keys.hash(EMAIL))
    phone_id = Identifier(IdentifierKind.PHONE, keys.hash(PHONE))
    paid = {"source": "yandex", "medium": "cpc", "campaign": "winter"}
    # 1. browser 1111: pages from paid search, then a subscription with the e-mail
    track(
        cloud,
        t,
        ev(t, EventType.PAGEVIEW, "1111", 0, url="https://shop.example/?utm_source=yandex", utm=paid),
        ev(t, EventType.PAGEVIEW, "1111", 2, url="https://shop.example/boots"),
        ev(t, EventType.SUBSCRIBE, "1111", 3, identifiers=(email_id,)),
    )
    cloud.run_jobs()
    first = receipt(cloud, reg, 1, {"kind": "email", "value": EMAIL})
    cloud.run_jobs()
    with cloud.session() as s:
        profile = views.profiles_for_receipts(s, t, [first])[first]
        assert views.tenant_profile_of(s, t, site_browser(t, "1111")) == profile
        history = views.events_of_profile(s, t, profile)
        assert [e.type for e in history] == [EventType.PAGEVIEW, EventType.PAGEVIEW, EventType.SUBSCRIBE]
        assert history[0].utm["medium"] == "cpc"  # the offline purchase has its paid-search visit
    # 2. the cookie is wiped: browser 2222 orders online with phone and e-mail; then a receipt by phone
    track(cloud, t, ev(t, EventType.ORDER, "2222", 60, identifiers=(phone_id, email_id)))
    cloud.run_jobs()
    second = receipt(cloud, reg, 2, {"kind": "phone", "value": PHONE})
    cloud.run_jobs()
    with cloud.session() as s:
        assert views.profiles_for_receipts(s, t, [first, second]) == {first: profile, second: profile}
        browsers = {e.browser_id for e in views.events_of_profile(s, t, profile)}
        assert browsers == {"1111", "2222"}
    # 3. the buyer opens the e-receipt (the cloud's page, its own cookie) and clicks through to the site
    click = ClickIds(keys.keys.values()).issue(second, "banner-1", datetime.now(UTC))
    track(
        cloud,
        t,
        ev(t, EventType.RECEIPT_OPEN, "page-cookie-9", 120, receipt_id=second),
        ev(
            t,
            EventType.PAGEVIEW,
            "3333",
            121,
            url=f"https://shop.example/sale?ec_click={click}",
            ec_click=click,
        ),
    )
    cloud.run_jobs()
    with cloud.session() as s:
        assert views.tenant_profile_of(s, t, site_browser(t, "3333")) == profile
        assert views.tenant_profile_of(s, t, NodeKey(NodeKind.BROWSER, "ec:page-cookie-9")) == profile
        phone_node = views.node_id(s, contact_key(cloud, NodeKind.PHONE, PHONE))
        browser_node = views.node_id(s, site_browser(t, "1111"))
    # head office: the receipt's profile and why browser 1111 is the buyer of the phone receipt
    api = reg.tenant_auth
    got = cloud.http.get(f"/v1/identity/receipts/{second}/profile", headers=api)
    assert got.json() == {"receipt_id": second, "profile_id": profile}
    doc = cloud.http.get(f"/v1/identity/profiles/{profile}", headers=api).json()
    labels = [i["label"] for i in doc["identifiers"]]
    assert "+7 *** ***-22-33" in labels
    assert "a***@example.ru" in labels
    assert EMAIL not in str(doc)
    assert PHONE not in str(doc)
    assert sorted(r["id"] for r in doc["receipts"]) == [first, second]
    assert len(doc["events"]) == 6
    cloud.user(t, "boss@shop.example", role="admin")
    with cloud.browser("boss@shop.example") as office:
        why = office.get("/v1/identity/why", params={"a": phone_node, "b": browser_node})
        assert why.status_code == 200, why.text
        steps = why.json()["steps"]
        # phone —order→ browser 2222 —order→ e-mail —subscription→ browser 1111
        assert [s["source"] for s in steps] == ["event", "event", "event"]
        page = office.get("/identity", params={"receipt": second})
        assert page.status_code == 200
        assert "Почему это один человек" in page.text
        assert "+7 *** ***-22-33" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        # the admin splits the order's phone link: the phone (and what it explains) is another buyer now
        order_edge = steps[0]["edge_id"]
        done = office.post(
            f"/identity/links/{order_edge}/split", data={"csrf": csrf.group(1), "reason": "тест"}
        )
        assert done.status_code == 303
    with cloud.session() as s:
        assert views.profiles_for_receipts(s, t, [first])[first] == profile
        assert views.tenant_profile_of(s, t, site_browser(t, "2222")) == profile
        assert views.profiles_for_receipts(s, t, [second])[second] != profile


def test_worked_case_4_a_cashiers_own_phone_is_quarantined_and_merges_nothing(cloud: Cloud) -> None:
    reg = cloud.register()
    t = reg.tenant_id
    cashier = {"kind": "phone", "value": "79990001122"}
    ids = [receipt(cloud, reg, n, cashier, loyalty_card=f"2000{n:04d}") for n in range(1, 9)]
    cloud.run_jobs()
    with cloud.session() as s:
        profiles = views.profiles_for_receipts(s, t, ids)
        node = views.node_id(s, contact_key(cloud, NodeKind.PHONE, "79990001122"))
        assert node is not None
        assert views.profile_of(s, node) is None  # quarantined: the phone is nobody's
        reasons = s.execute(
            sa.text("SELECT quarantine_reason FROM identity_node WHERE id = :n"), {"n": node}
        ).scalar()
        assert reasons == "hub:card>5"
        merged = s.execute(sa.text("SELECT count(*) FROM identity_profile")).scalar()
    # each receipt is its card holder's (its contact is the hub, nobody's): eight buyers, none merged
    assert len(set(profiles.values())) == len(ids) == 8
    assert merged == 9  # the phone and eight cards: nobody merged
