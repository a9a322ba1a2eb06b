"""The tracker in real Chromium on a sample shop served under its own host name (`shop.test`, mapped to
127.0.0.1 by Chromium's host-resolver rules), against the real cloud: hashes equal to Python's, a visit
from a utm link and a subscription stored with the keyed e-mail hash, a wiped cookie giving a new browser
id, consent mode, retries, headless Chromium dropped as a bot, and the first-party proxy's HttpOnly cookie.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from sqlmodel import Session

from cloud.tracking import sites
from cloud.tracking.events import EventType, IdentifierKind, TrackedEvent
from cloud.tracking.store import events_where
from fakes.shop import serve_shop
from receipts.contact import InvalidContact, hash_identifier, normalize_email, normalize_phone
from tests.cloud.conftest import Cloud

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 60_000
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36"
)

PHONES = [
    "8 (916) 123-45-67",
    "+7 916 123 45 67",
    "9161234567",
    "89161234567",
    "+7(495)123-45-67",
    "4951234567",
    " 8-800-555-35-35 ",
    "+1 650 555 1212",
    "+375 29 123-45-67",
    "７９１６１２３４５６７",  # full-width digits: NFKC first
]
BAD_PHONES = ["", "   ", "12345", "+7 916 abc 45 67", "phone"]
EMAILS = [
    " John_Smith@Gmail.com ",
    "BUYER@MAIL.RU",
    "first.last+tag@Example.org",
    "ＵＳＥＲ@example.com",  # full-width letters: NFKC first
    "\tivan.petrov@yandex.ru\n",
]
LOADED = "typeof window.ec === 'function' && !!window.ec.flush"
BAD_EMAILS = ["", "no-at-sign", "a@b", "two@@example.com"]


def _launch(playwright: Any, shop_port: int, user_agent: str | None) -> Browser:
    origin = f"http://shop.test:{shop_port}"
    browser: Browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",  # root on CI and these machines
            "--disable-gpu",
            "--host-resolver-rules=MAP shop.test 127.0.0.1",
            # crypto.subtle and randomUUID need a secure context: a real shop is https; this one is http.
            f"--unsafely-treat-insecure-origin-as-secure={origin}",
            # The user agent for the whole browser, not only per page: a beacon sent at `pagehide` leaves
            # after its page is gone, without Playwright's per-page override, so it said "HeadlessChrome"
            # and the collector rightly dropped that page view as a bot's (the flaky "2 views of 3").
            *([f"--user-agent={user_agent}"] if user_agent else []),
        ],
    )
    return browser


@contextmanager
def shop_and_browser(
    cloud: Cloud, *, proxied: bool = False, user_agent: str | None = UA
) -> Iterator[tuple[str, Browser, int]]:
    """The shop (tracker from the cloud, or through its /ec/ proxy), its site registered, and Chromium."""
    tenant_id, _key = cloud.tenant()
    base = str(cloud.http.base_url).rstrip("/")
    with ExitStack() as stack:
        with cloud.session() as s:
            key = sites.add_origin(s, tenant_id, "http://shop.test").site_key  # placeholder, port below
        if proxied:
            port = stack.enter_context(serve_shop(proxy_target=f"{base}/t/{key}/"))
        else:
            port = stack.enter_context(serve_shop(script_src=f"{base}/t/{key}/t.js"))
        shop = f"http://shop.test:{port}"
        with cloud.session() as s:
            sites.add_origin(s, tenant_id, shop)
        playwright = stack.enter_context(sync_playwright())
        browser = _launch(playwright, port, user_agent)
        stack.callback(browser.close)
        yield shop, browser, tenant_id


def _context(browser: Browser, user_agent: str | None = UA) -> BrowserContext:
    context = browser.new_context(
        user_agent=user_agent, locale="ru-RU", viewport={"width": 390, "height": 844}
    )
    context.set_default_timeout(WAIT_MS)
    return context


def _wait_for(
    cloud: Cloud, tenant_id: int, done: Callable[[list[TrackedEvent]], bool], timeout: float = 30.0
) -> list[TrackedEvent]:
    deadline = time.monotonic() + timeout
    while True:
        with Session(cloud.engine) as s:
            events = events_where(s, tenant_id)
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_the_browser_hashes_contacts_exactly_as_python_does(cloud: Cloud) -> None:
    with shop_and_browser(cloud) as (shop, browser, _tenant):
        page = _context(browser).new_page()
        page.goto(f"{shop}/")
        page.wait_for_function("typeof window.ec === 'function' && !!window.ec.sha256")
        got = page.evaluate(
            """async ([phones, emails]) => {
                const out = {phones: [], emails: []};
                for (const p of phones) {
                    const n = ec.normPhone(p); out.phones.push([n, n && await ec.sha256(n)]);
                }
                for (const e of emails) {
                    const n = ec.normEmail(e); out.emails.push([n, n && await ec.sha256(n)]);
                }
                return out;
            }""",
            [PHONES + BAD_PHONES, EMAILS + BAD_EMAILS],
        )
    for text, (normalized, digest) in zip(PHONES, got["phones"], strict=False):
        expected = normalize_phone(text)
        assert (text, normalized, digest) == (text, expected, hash_identifier(expected))
    for text, (normalized, _digest) in zip(BAD_PHONES, got["phones"][len(PHONES) :], strict=True):
        with pytest.raises(InvalidContact):
            normalize_phone(text)
        assert normalized is None, text
    for text, (normalized, digest) in zip(EMAILS, got["emails"], strict=False):
        assert (text, normalized, digest) == (
            text,
            normalize_email(text),
            hash_identifier(normalize_email(text)),
        )
    for text, (normalized, _digest) in zip(BAD_EMAILS, got["emails"][len(EMAILS) :], strict=True):
        with pytest.raises(InvalidContact):
            normalize_email(text)
        assert normalized is None, text
    # REFERENCE.md's own vectors
    assert got["emails"][0][1] == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"


def test_a_visit_from_a_utm_link_then_a_subscription_then_a_wiped_cookie(cloud: Cloud) -> None:
    with shop_and_browser(cloud) as (shop, browser, tenant_id):
        context = _context(browser)
        page = context.new_page()
        page.goto(f"{shop}/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=777001")
        page.wait_for_function(LOADED)
        page.click("text=Каталог")
        page.wait_for_url("**/catalog")
        page.wait_for_function(LOADED)  # the visitor stays long enough for the script to run
        page.goto(f"{shop}/subscribe")
        page.fill("input[name=email]", " Buyer.One@Mail.RU ")
        page.click("button[type=submit]")
        page.wait_for_selector("#done:not([hidden])")
        events = _wait_for(cloud, tenant_id, lambda ev: len(ev) == 4)  # three page views, a subscription
        cookie = next(c for c in context.cookies() if c["name"] == "ec_bid")
        # Two years asked; Chromium keeps any cookie 400 days at most (since Chrome 104).
        assert cookie["expires"] > time.time() + 390 * 86400
        bid = cookie["value"]

        views = [e for e in events if e.type is EventType.PAGEVIEW]
        assert len(views) == 3, [(e.type, e.url, e.event_id) for e in events]
        landing = next(e for e in views if e.utm)
        assert landing.utm == {"source": "yandex", "medium": "cpc", "campaign": "spring"}
        assert landing.yclid == "777001"
        assert landing.client_at is not None
        subscribe = next(e for e in events if e.type is EventType.SUBSCRIBE)
        assert {e.browser_id for e in events} == {bid}
        assert len({e.session_id for e in events}) == 1
        assert subscribe.url == f"{shop}/subscribe"
        email = normalize_email("buyer.one@mail.ru")
        assert subscribe.identifiers[0].kind is IdentifierKind.EMAIL
        assert subscribe.identifiers[0].hash == cloud.keys.hash(email)  # = a receipt with that e-mail

        context.clear_cookies()
        page.goto(f"{shop}/catalog")
        later = _wait_for(cloud, tenant_id, lambda ev: len(ev) > len(events))
        new_bids = {e.browser_id for e in later} - {bid}
        assert len(new_bids) == 1
        assert next(c for c in context.cookies() if c["name"] == "ec_bid")["value"] in new_bids
        context.close()


def test_an_event_whose_beacon_got_no_answer_is_sent_again_by_the_next_page(cloud: Cloud) -> None:
    """A beacon's answer is never seen: its events stay queued until a fetch gets a 2xx (at least once)."""
    with shop_and_browser(cloud) as (shop, browser, tenant_id):
        context = _context(browser)
        page = context.new_page()
        page.goto(f"{shop}/subscribe")
        page.wait_for_function(LOADED)
        _wait_for(cloud, tenant_id, bool)
        context.set_offline(True)  # the beacon below goes nowhere, as on a train or into a collector's 503
        page.fill("input[name=email]", "tunnel@example.com")
        page.click("button[type=submit]")
        page.wait_for_function(
            "Object.keys(localStorage)"
            ".some(k => k.startsWith('ec_q_') && localStorage[k].includes('subscribe'))"
        )
        sent = page.evaluate(
            """() => { let n = 0; const send = navigator.sendBeacon.bind(navigator);
                navigator.sendBeacon = (u, b) => { n++; return send(u, b); };
                dispatchEvent(new Event('pagehide')); dispatchEvent(new Event('pagehide'));
                return n; }"""
        )
        assert sent == 1  # one beacon, not one per pagehide
        assert page.evaluate(  # still queued after the beacon
            "Object.keys(localStorage)"
            ".some(k => k.startsWith('ec_q_') && localStorage[k].includes('subscribe'))"
        )
        context.set_offline(False)
        page.goto(f"{shop}/catalog")
        events = _wait_for(cloud, tenant_id, lambda ev: len(ev) == 3, timeout=60)
        assert sorted(e.type for e in events) == sorted(
            [EventType.PAGEVIEW, EventType.PAGEVIEW, EventType.SUBSCRIBE]
        )
        page.wait_for_function(
            "Object.keys(localStorage).every(k => !k.startsWith('ec_q_') || localStorage[k] === '[]')"
        )
        context.close()


def test_an_order_sends_hashes_never_the_contacts(cloud: Cloud) -> None:
    with shop_and_browser(cloud) as (shop, browser, tenant_id):
        context = _context(browser)
        page = context.new_page()
        bodies: list[str] = []
        page.on("request", lambda r: bodies.append(r.post_data or "") if "/collect" in r.url else None)
        page.goto(f"{shop}/order")
        page.fill("input[name=phone]", "8 (916) 765-43-21")
        page.fill("input[name=email]", "Order@Example.com")
        page.click("button[type=submit]")
        events = _wait_for(cloud, tenant_id, lambda ev: any(e.type is EventType.ORDER for e in ev))
        order = next(e for e in events if e.type is EventType.ORDER)
        kinds = {i.kind: i.hash for i in order.identifiers}
        assert kinds[IdentifierKind.PHONE] == cloud.keys.hash("79167654321")
        assert kinds[IdentifierKind.EMAIL] == cloud.keys.hash("order@example.com")
        assert order.properties == {"order_id": "A-1001", "total": 1990}
        sent = "".join(bodies)
        assert "7654321" not in sent
        assert "765-43-21" not in sent
        assert "order@example.com" not in sent.lower()
        context.close()


def test_consent_mode_sends_nothing_until_the_visitor_agrees(cloud: Cloud) -> None:
    with shop_and_browser(cloud) as (shop, browser, tenant_id):
        context = _context(browser)
        page = context.new_page()
        page.goto(f"{shop}/cookies")
        page.wait_for_function("typeof window.ec === 'function' && !!window.ec.flush")
        page.wait_for_timeout(1500)
        assert _wait_for(cloud, tenant_id, bool, timeout=1.0) == []
        assert not any(c["name"] == "ec_bid" for c in context.cookies())
        page.click("#agree")
        events = _wait_for(cloud, tenant_id, bool)
        assert [e.type for e in events] == [EventType.PAGEVIEW]
        context.close()


def test_events_wait_in_the_browser_while_the_collector_is_unreachable(cloud: Cloud) -> None:
    with shop_and_browser(cloud) as (shop, browser, tenant_id):
        context = _context(browser)
        page = context.new_page()
        page.goto(f"{shop}/subscribe")
        page.wait_for_function(LOADED)
        _wait_for(cloud, tenant_id, bool)
        context.set_offline(True)
        page.fill("input[name=email]", "offline@example.com")
        page.click("button[type=submit]")
        page.wait_for_function(
            "Object.keys(localStorage)"
            ".some(k => k.startsWith('ec_q_') && localStorage[k].includes('subscribe'))"
        )
        page.wait_for_timeout(2500)  # the first tries and a retry failed: the event waits in localStorage
        assert len(_wait_for(cloud, tenant_id, bool, timeout=0.1)) == 1
        context.set_offline(False)
        events = _wait_for(cloud, tenant_id, lambda ev: len(ev) == 2, timeout=90)
        assert [e.type for e in events] == [EventType.PAGEVIEW, EventType.SUBSCRIBE]
        page.wait_for_function(
            "Object.keys(localStorage).every(k => !k.startsWith('ec_q_') || localStorage[k] === '[]')"
        )
        context.close()


def test_headless_chromium_as_it_comes_is_dropped_as_a_bot(cloud: Cloud) -> None:
    with shop_and_browser(cloud, user_agent=None) as (shop, browser, tenant_id):
        context = _context(browser, user_agent=None)  # HeadlessChrome/… in its user agent
        page = context.new_page()
        with page.expect_response(lambda r: "/collect" in r.url) as answer:
            page.goto(f"{shop}/")
        assert answer.value.status == 204
        assert "HeadlessChrome" in page.evaluate("navigator.userAgent")
        assert _wait_for(cloud, tenant_id, bool, timeout=1.0) == []
        context.close()


def test_behind_the_shops_reverse_proxy_the_browser_id_is_an_httponly_cookie(cloud: Cloud) -> None:
    with shop_and_browser(cloud, proxied=True) as (shop, browser, tenant_id):
        context = _context(browser)
        page = context.new_page()
        page.goto(f"{shop}/?utm_source=vk")
        first = _wait_for(cloud, tenant_id, bool)
        cookie = next(c for c in context.cookies() if c["name"] == "ec_bid")
        assert cookie["httpOnly"] is True
        assert cookie["domain"] == "shop.test"
        assert cookie["expires"] > time.time() + 390 * 86400  # 2 years asked, Chromium's 400-day cap
        assert "ec_bid" not in page.evaluate("document.cookie")  # the script never sees or sets it
        assert first[0].browser_id == cookie["value"]
        page.goto(f"{shop}/catalog")
        page.goto(f"{shop}/subscribe")
        events = _wait_for(cloud, tenant_id, lambda ev: len(ev) >= 3)
        assert {e.browser_id for e in events} == {cookie["value"]}
        context.close()
