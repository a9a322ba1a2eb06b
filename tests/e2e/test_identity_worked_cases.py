"""The worked cases of identity (issue 14, REFERENCE "Identity") end to end, in one real Chromium.

The real cloud (`echeck-cloud serve`, its in-process job worker linking as it does in production) on
loopback; the sample shop (`fakes/shop.py`) with the tracker installed, under its own host name
`shop.example`; the e-receipt pages under `receipts.example` (Chromium's host-resolver rules map both to
127.0.0.1). Receipts come from a register's outbox through the real sync worker and the ingest API. Every
answer is read through head office's API and pages: a receipt's profile, the profile's identifiers,
receipts and visit history, "why" two identifiers are one buyer, the quarantine of a cashier's phone.

1. Browser 1 views pages from a paid-search utm link and subscribes with an e-mail; a receipt with that
   e-mail belongs to that profile, with the visits.
2. The cookie is wiped: the same person, now browser 2, orders online with phone and e-mail; the profile
   holds both browsers; a later receipt with the phone is linked, with both browsers' history.
3. The buyer opens the e-receipt on their phone and clicks the banner through to the shop: that
   browser joins the receipt's profile.
4. A cashier types their own phone on receipts of many loyalty cards: quarantined, it merges nothing.

SQLite always; PostgreSQL too when ECHECK_TEST_DATABASE_URL is set.
"""

import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlmodel import Session

from cloud.accounts import tenants, users
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.db import make_engine, migrate
from cloud.delivery.models import DeliveryRow
from cloud.fleet import enrollment
from cloud.tracking import sites
from demo.tour import _form_fields
from fakes.shop import serve_shop
from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.protocol import ENROLL_PATH, receipt_from_wire, receipts_path
from sync.settings import SyncSettings
from sync.worker import SyncWorker
from tests.support.cloud_process import cloud_process
from tests.support.live_server import free_port
from tests.support.receipts import wire_receipt

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SHOP_HOST, RECEIPTS_HOST = "shop.example", "receipts.example"
# A person's browser: headless Chromium's own agent is a bot's, and its events are dropped (docs/tracking.md).
UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
LOADED = "typeof window.ec === 'function' && !!window.ec.flush"
WAIT_S = 90.0  # a loaded 2-core machine: generous, never a timing assertion
OWNER, PASSWORD = "owner@shop.example", "correct horse battery"
EMAIL, PHONE = "Anna.Petrova@Example.ru", "+7 (916) 111-22-33"
EMAIL_NORMALIZED, PHONE_NORMALIZED = "anna.petrova@example.ru", "79161112233"
CASHIER_PHONE = "79990001122"
PAID_SEARCH = "utm_source=yandex&utm_medium=cpc&utm_campaign=winter-boots"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """Poll `probe` until it gives something truthy: the cloud links in its job worker, a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


@contextmanager
def cloud_serving(database_url: str, port: int, log: Path) -> Iterator[str]:
    """`echeck-cloud serve` with its job worker, e-receipt links under receipts.example; yields its URL."""
    public = f"http://{RECEIPTS_HOST}:{port}"
    with cloud_process(database_url, log, "--public-url", public, port=port, delivery=True) as (base, _pid):
        yield base


@dataclass
class World:
    """One retailer: its cloud, shop, register (outbox + sync worker), head office, and Chromium."""

    cloud: str  # the cloud's API, as the register and head office reach it
    cloud_port: int
    shop: str  # http://shop.example:PORT
    database_url: str
    tenant_id: int
    store_id: int
    api: httpx.Client  # head office's integration (API key)
    office: httpx.Client  # the owner, signed in
    outbox: Outbox
    register: SyncWorker
    browser: Browser
    fd: int = 0

    # -- the register --------------------------------------------------------------------------------------

    def sell(self, contact: dict[str, str] | None, card: str | None = None) -> int:
        """Close a receipt at the till: into the outbox, synced by the real worker; returns its cloud id."""
        self.fd += 1
        receipt = receipt_from_wire(wire_receipt(self.fd, contact=contact, loyalty_card=card))
        self.outbox.enqueue(receipt)
        outcome = self.register.run_once()
        assert outcome.acked == 1, outcome
        key = f"{receipt.fiscal.fn_serial}:{receipt.fiscal.fd_number}:{receipt.fiscal.fpd}"
        page = self.api.get(receipts_path(self.store_id), params={"limit": 1000}).raise_for_status().json()
        return next(int(r["id"]) for r in page["receipts"] if r["key"] == key)

    # -- head office ---------------------------------------------------------------------------------------

    def profile_of_receipt(self, receipt_id: int) -> int | None:
        got = self.api.get(f"/v1/identity/receipts/{receipt_id}/profile")
        if got.status_code == 404:
            return None
        assert got.status_code == 200, got.text
        assert got.json()["receipt_id"] == receipt_id
        return int(got.json()["profile_id"])

    def profile(self, profile_id: int) -> dict[str, Any] | None:
        """None when the profile was merged into another between two calls (the linker is live)."""
        got = self.api.get(f"/v1/identity/profiles/{profile_id}")
        if got.status_code == 404:
            return None
        assert got.status_code == 200, got.text
        doc: dict[str, Any] = got.json()
        return doc

    def profile_doc(self, profile_id: int) -> dict[str, Any]:
        doc = self.profile(profile_id)
        assert doc is not None, f"profile {profile_id} is gone"
        return doc

    def profile_when(self, receipt_id: int, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The receipt's profile once the cloud's linking shows `done` in it."""

        def probe() -> dict[str, Any] | None:
            profile = self.profile_of_receipt(receipt_id)
            if profile is None:
                return None
            doc = self.profile(profile)
            return doc if doc is not None and done(doc) else None

        return wait_for(f"the profile of receipt {receipt_id}", probe)

    def why(self, a: int, b: int) -> list[dict[str, Any]]:
        got = self.office.get("/v1/identity/why", params={"a": a, "b": b})
        assert got.status_code == 200, got.text
        steps: list[dict[str, Any]] = got.json()["steps"]
        return steps

    def e_receipt_link(self, receipt_id: int) -> str:
        """The link of the receipt's e-receipt, as its delivery put it in the buyer's message."""
        engine = make_engine(self.database_url)
        try:

            def token() -> str | None:
                with Session(engine) as s:
                    return s.execute(
                        sa.select(DeliveryRow.link_token).where(DeliveryRow.receipt_id == receipt_id)  # type: ignore[arg-type]
                    ).scalar()

            return f"http://{RECEIPTS_HOST}:{self.cloud_port}/r/{wait_for('the delivery', token)}"
        finally:
            engine.dispose()

    def banner_to_the_shop(self) -> None:
        """The owner adds a banner linking to the shop in the template editor and publishes it."""
        editor = "/admin/page"

        def post(page_path: str, action: str, fields: dict[str, str]) -> httpx.Response:
            page = self.office.get(page_path)
            assert page.status_code == 200, page.text
            return self.office.post(action, data={**_form_fields(page.text, action), **fields})

        assert post(editor, f"{editor}/add", {"type": "banner"}).status_code == 303
        banner = {
            "s.headline": "Всё для питомцев — в нашем интернет-магазине",
            "s.text": "Корма и игрушки с доставкой завтра.",
            "s.link": f"{self.shop}/catalog?utm_source=echeck&utm_medium=ereceipt",
            "s.button": "В магазин",
            "holdout": "0",
            "rules": "0",
        }
        block = f"{editor}/blocks/banner"
        assert post(block, block, banner).status_code == 303
        page = self.office.get(editor).text
        version = re.search(r"/admin/page/preview/(\d+)", page)
        assert version is not None
        published = post(editor, f"{editor}/publish", {"version": version.group(1)})
        assert "Опубликовано" in published.text

    # -- people --------------------------------------------------------------------------------------------

    def context(self) -> BrowserContext:
        context = self.browser.new_context(
            user_agent=UA, locale="ru-RU", viewport={"width": 390, "height": 844}
        )
        context.set_default_timeout(WAIT_S * 1000)
        return context


def browser_id(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "ec_bid" and c["domain"] == SHOP_HOST)


def site_browser_label(bid: str) -> str:
    return f"браузер …{bid[-4:]} (сайт)"


def identifier(doc: dict[str, Any], label: str) -> int:
    return next(int(i["id"]) for i in doc["identifiers"] if i["label"] == label)


def labels(doc: dict[str, Any]) -> set[str]:
    return {i["label"] for i in doc["identifiers"]}


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    migrate(database_url)
    engine = make_engine(database_url)
    shop_port, cloud_port = free_port(), free_port()
    shop = f"http://{SHOP_HOST}:{shop_port}"
    with Session(
        engine
    ) as s:  # what `echeck-cloud tenant add`, `store add`, `user add`, `tracking site add` do
        tenant, api_key = tenants.create_tenant(s, "Зоомагазин «Хвост»")
        assert tenant.id is not None
        store = tenants.create_store(s, tenant.id, "Тверская 7", "Москва")
        assert store.id is not None
        users.add_user(s, tenant.id, OWNER, PASSWORD, Role.OWNER, StoreScope.of(None, None), actor="test")
        site_key = sites.add_origin(s, tenant.id, shop).site_key
        code = enrollment.issue_enrollment_code(s, store.id, timedelta(hours=1)).code
        tenant_id, store_id = tenant.id, store.id
    engine.dispose()
    with ExitStack() as stack:
        cloud = stack.enter_context(cloud_serving(database_url, cloud_port, tmp_path / "cloud.log"))
        stack.enter_context(serve_shop(script_src=f"{cloud}/t/{site_key}/t.js", port=shop_port))
        enrolled = httpx.post(cloud + ENROLL_PATH, json={"code": code, "hostname": "till-1"}, timeout=30)
        token = enrolled.raise_for_status().json()["token"]
        till = stack.enter_context(httpx.Client(base_url=cloud, auth=BearerToken(token), timeout=30))
        outbox = stack.enter_context(Outbox(tmp_path / "agent" / "outbox.db"))
        register = SyncWorker(outbox, till, SyncSettings(store_id))
        stack.callback(register.close)
        api = stack.enter_context(
            httpx.Client(base_url=cloud, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
        )
        office = stack.enter_context(httpx.Client(base_url=cloud, timeout=30))
        signed_in = office.post("/login", data={"email": OWNER, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        playwright = stack.enter_context(sync_playwright())
        receipts = f"http://{RECEIPTS_HOST}:{cloud_port}"
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",  # root on CI and these machines
                "--disable-gpu",
                f"--host-resolver-rules=MAP {SHOP_HOST} 127.0.0.1, MAP {RECEIPTS_HOST} 127.0.0.1",
                # crypto.subtle (the tracker hashes contacts) needs a secure context: real sites are https.
                f"--unsafely-treat-insecure-origin-as-secure={shop},{receipts}",
                # For the whole browser: a beacon sent after its page is gone carries no per-page agent.
                f"--user-agent={UA}",
            ],
        )
        stack.callback(browser.close)
        yield World(
            cloud, cloud_port, shop, database_url, tenant_id, store_id, api, office, outbox, register, browser
        )


# -- the steps the cases share -------------------------------------------------------------------------------


def browse_from_paid_search_and_subscribe(world: World, page: Page) -> str:
    """Case 1's visitor: a paid-search landing, the catalog, the subscription; returns the browser id."""
    page.goto(f"{world.shop}/?{PAID_SEARCH}")
    page.wait_for_function(LOADED)
    page.click("text=Каталог")
    page.wait_for_url("**/catalog")
    page.wait_for_function(LOADED)
    page.goto(f"{world.shop}/subscribe")
    page.fill("input[name=email]", EMAIL)
    page.click("button[type=submit]")
    page.wait_for_selector("#done:not([hidden])")
    return browser_id(page.context)


def order_online(world: World, page: Page) -> str:
    """Case 2's order: phone and e-mail on the shop's order form; returns the browser id."""
    page.goto(f"{world.shop}/order")
    page.wait_for_function(LOADED)
    page.fill("input[name=phone]", PHONE)
    page.fill("input[name=email]", EMAIL)
    page.click("button[type=submit]")
    page.wait_for_selector("#done:not([hidden])")
    return browser_id(page.context)


def case_1(world: World, page: Page) -> tuple[int, int, str]:
    """Returns (the e-mail receipt, its profile, browser 1's id)."""
    bid1 = browse_from_paid_search_and_subscribe(world, page)
    receipt = world.sell({"kind": "email", "value": EMAIL_NORMALIZED})
    doc = world.profile_when(
        receipt,
        lambda d: (
            site_browser_label(bid1) in labels(d) and any(e["type"] == "subscribe" for e in d["events"])
        ),
    )
    return receipt, int(doc["profile_id"]), bid1


def case_2(world: World, page: Page, profile: int) -> tuple[int, str]:
    """Returns (the phone receipt, browser 2's id)."""
    page.context.clear_cookies()  # the buyer wiped their cookies: the shop sees a new browser
    bid2 = order_online(world, page)
    receipt = world.sell({"kind": "phone", "value": PHONE_NORMALIZED})
    world.profile_when(
        receipt, lambda d: site_browser_label(bid2) in labels(d) and d["profile_id"] == profile
    )
    return receipt, bid2


# -- the four cases ------------------------------------------------------------------------------------------


def test_case_1_a_paid_search_visitor_who_subscribed_is_the_buyer_of_the_e_mail_receipt(world: World) -> None:
    context = world.context()
    receipt, profile, bid1 = case_1(world, context.new_page())
    doc = world.profile_doc(profile)
    assert [r["id"] for r in doc["receipts"]] == [receipt]
    assert labels(doc) == {"a***@example.ru", site_browser_label(bid1)}
    assert EMAIL_NORMALIZED not in str(doc)
    events = doc["events"]
    assert [e["type"] for e in events] == ["pageview", "pageview", "pageview", "subscribe"]
    landing = events[0]
    assert (landing["utm_source"], landing["utm_medium"]) == ("yandex", "cpc")  # the offline sale's click
    assert [urlsplit(e["url"]).path for e in events] == ["/", "/catalog", "/subscribe", "/subscribe"]
    # why: the subscription joined the e-mail and browser 1
    steps = world.why(identifier(doc, "a***@example.ru"), identifier(doc, site_browser_label(bid1)))
    assert [(s["source"], s["from"], s["to"]) for s in steps] == [
        ("event", "a***@example.ru", site_browser_label(bid1))
    ]
    page = world.office.get("/identity", params={"receipt": receipt})
    assert page.status_code == 200
    assert "Почему это один человек" in page.text
    assert site_browser_label(bid1) in page.text
    context.close()


def test_case_2_a_wiped_cookie_and_an_online_order_then_a_phone_receipt_one_profile(world: World) -> None:
    context = world.context()
    page = context.new_page()
    first, profile, bid1 = case_1(world, page)
    second, bid2 = case_2(world, page, profile)
    assert bid2 != bid1
    assert world.profile_of_receipt(first) == world.profile_of_receipt(second) == profile
    doc = world.profile_doc(profile)
    assert sorted(r["id"] for r in doc["receipts"]) == [first, second]
    assert labels(doc) == {
        "a***@example.ru",
        "+7 *** ***-22-33",
        site_browser_label(bid1),
        site_browser_label(bid2),
    }
    assert PHONE_NORMALIZED not in str(doc)
    # both browsers' history: the paid-search visit of browser 1, the order of browser 2
    events = [(e["type"], urlsplit(e["url"]).path, e["utm_medium"]) for e in doc["events"]]
    assert events[0] == ("pageview", "/", "cpc")
    assert ("subscribe", "/subscribe", None) in events
    assert ("pageview", "/order", None) in events
    assert events[-1] == ("order", "/order", None)
    # why is the phone receipt's buyer the paid-search visitor? phone —order→ browser 2 —order→ e-mail
    # —subscription→ browser 1, each step a site event with its time
    phone = identifier(doc, "+7 *** ***-22-33")
    steps = world.why(phone, identifier(doc, site_browser_label(bid1)))
    assert [(s["from"], s["to"]) for s in steps] == [
        ("+7 *** ***-22-33", site_browser_label(bid2)),
        (site_browser_label(bid2), "a***@example.ru"),
        ("a***@example.ru", site_browser_label(bid1)),
    ]
    assert {s["source"] for s in steps} == {"event"}
    assert all(s["at"] and s["edge_id"] for s in steps)
    page_html = world.office.get("/identity", params={"receipt": second}).text
    assert "Почему это один человек" in page_html
    assert "+7 *** ***-22-33" in page_html
    assert PHONE_NORMALIZED not in page_html
    context.close()


def test_case_3_the_buyer_clicks_from_the_e_receipt_to_the_shop_and_that_browser_joins(world: World) -> None:
    world.banner_to_the_shop()
    context = world.context()
    page = context.new_page()
    first, profile, bid1 = case_1(world, page)
    second, bid2 = case_2(world, page, profile)
    # On their phone (another browser): the e-receipt's link, the page, the banner, the shop.
    phone = world.context()
    receipt_page = phone.new_page()
    receipt_page.goto(world.e_receipt_link(second))
    assert receipt_page.url.startswith(f"http://{RECEIPTS_HOST}:")
    banner = receipt_page.locator("[data-block=banner] a.button")
    banner.scroll_into_view_if_needed()
    receipt_page.wait_for_timeout(1500)  # the page counts a person's view after a second in sight
    banner.click()
    receipt_page.wait_for_url(f"{world.shop}/catalog?**")
    landing = urlsplit(receipt_page.url)
    assert "ec_click" in parse_qs(landing.query)
    assert parse_qs(landing.query)["utm_medium"] == ["ereceipt"]
    receipt_page.wait_for_function(LOADED)
    bid3 = browser_id(phone)
    assert bid3 not in (bid1, bid2)
    doc = world.profile_when(second, lambda d: site_browser_label(bid3) in labels(d))
    assert doc["profile_id"] == profile
    assert world.profile_of_receipt(first) == profile
    assert any(i["label"].endswith("(страница чека)") for i in doc["identifiers"])  # the page's own cookie
    landed = [e for e in doc["events"] if e["type"] == "pageview" and "ec_click=" in (e["url"] or "")]
    assert len(landed) == 1
    assert urlsplit(landed[0]["url"]).path == "/catalog"
    assert any(e["type"] == "receipt_open" and e["receipt_id"] == second for e in doc["events"])
    steps = world.why(identifier(doc, "+7 *** ***-22-33"), identifier(doc, site_browser_label(bid3)))
    assert [(s["source"], s["from"], s["to"]) for s in steps] == [
        ("event", "+7 *** ***-22-33", site_browser_label(bid3))  # the landing's click id named the receipt
    ]
    phone.close()
    context.close()


def test_case_4_a_cashiers_own_phone_on_many_receipts_is_quarantined_and_merges_nothing(world: World) -> None:
    cashier = {"kind": "phone", "value": CASHIER_PHONE}
    typed = [world.sell(cashier, card=f"2000{n:04d}") for n in range(1, 9)]  # eight buyers' cards

    def quarantined() -> bool:
        return "+7 *** ***-11-22" in world.office.get("/identity").text

    wait_for("the cashier's phone in quarantine", quarantined)
    page = world.office.get("/identity").text
    assert "На карантине" in page
    # a real buyer with one of those cards and their own phone is their own profile, cashier's phone apart
    buyer = world.sell({"kind": "phone", "value": PHONE_NORMALIZED}, card="20000001")
    doc = world.profile_when(buyer, lambda d: len(d["identifiers"]) >= 2)
    assert sorted((i["kind"], i["quarantined"]) for i in doc["identifiers"]) == [
        ("card", None),
        ("phone", None),
    ]
    assert "+7 *** ***-22-33" in labels(doc)
    assert [r["id"] for r in doc["receipts"]] == [typed[0], buyer]  # the card holder's two purchases
    # each receipt the cashier typed their phone on is its card holder's: eight buyers, none merged
    profiles = [world.profile_of_receipt(r) for r in typed]
    assert None not in profiles
    assert len(set(profiles)) == 8
    for profile in set(profiles) - {doc["profile_id"]}:
        assert [i["kind"] for i in world.profile_doc(profile)["identifiers"]] == ["card"]
