"""Opens and clicks in real Chromium (Debian's, driven by Playwright): the page's own script reports a
person's view once however often the page is reloaded, a block scrolled into view, and a click that lands
on the retailer's site with `ec_click`. Headless Chrome's own user agent is a bot's and never counts."""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

from cloud.delivery.models import DeliveryRow
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.events import EventType, TrackedEvent
from cloud.tracking.store import events_where
from tests.cloud.conftest import Cloud, Registered, wire_receipt
from tests.support.live_server import live_server

CHROMIUM = "/usr/bin/chromium"
WAIT_S = 60.0  # a loaded 2-core machine: generous, never a timing assertion
PERSON_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    """The retailer's site a banner links to."""
    app = FastAPI()

    @app.get("/sale")
    def sale() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>Распродажа</title><h1>Распродажа</h1>")

    with live_server(app) as url:
        yield url


def _receipt(cloud: Cloud) -> tuple[Registered, int, str]:
    reg = cloud.register()
    doc = wire_receipt(1, contact={"kind": "phone", "value": "79161230001"})
    r = cloud.http.post(
        f"/v1/stores/{reg.store_id}/receipts/batch", json={"receipts": [doc]}, headers=reg.auth
    )
    assert r.status_code == 200, r.text
    cloud.run_jobs()
    with cloud.session() as s:
        row = s.execute(sa.select(DeliveryRow)).scalar_one()
        return reg, row.receipt_id, f"/r/{row.link_token}"


def _events(cloud: Cloud, reg: Registered, kind: EventType) -> list[TrackedEvent]:
    with cloud.session() as s:
        return events_where(s, reg.tenant_id, types=[kind])


def _banner_views(cloud: Cloud, reg: Registered) -> list[TrackedEvent]:
    return [v for v in _events(cloud, reg, EventType.BLOCK_VIEW) if v.block_id == "banner"]


def _wait_for(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _with_banner(context: BrowserContext, path: str, link: str) -> None:
    """The page as a template with a banner block renders it (blocks come with the template editor)."""

    def add_block(route: Route) -> None:
        page = route.fetch()
        block = (
            '<section class="block block-banner" data-block="banner" data-segment="moscow">'
            f'<a id="banner" href="{link.replace("&", "&amp;")}">Скидка 10% на всё</a></section>'
        )
        route.fulfill(response=page, body=page.text().replace("</main>", block + "</main>"))

    context.route(f"**{path}", add_block)


def test_a_persons_view_counts_once_and_a_click_lands_with_ec_click(
    cloud: Cloud, browser: Browser, shop: str
) -> None:
    reg, receipt_id, path = _receipt(cloud)
    base = str(cloud.http.base_url).rstrip("/")
    target = f"{shop}/sale?utm_source=echeck"
    link = ClickIds(cloud.keys.keys.values()).outbound_path(receipt_id, "banner", target, datetime.now(UTC))
    context = browser.new_context(base_url=base, user_agent=PERSON_UA, viewport={"width": 390, "height": 844})
    errors: list[str] = []
    try:
        _with_banner(context, path, link)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(path)
        _wait_for("the view", lambda: len(_events(cloud, reg, EventType.RECEIPT_OPEN)) == 1)
        page.locator("#banner").scroll_into_view_if_needed()  # the buyer scrolls down to it
        _wait_for("the banner's view", lambda: len(_banner_views(cloud, reg)) == 1)
        for _ in range(2):
            page.reload()
        _wait_for("three fetches", lambda: len(_events(cloud, reg, EventType.RECEIPT_FETCH)) == 3)
        time.sleep(2.0)  # what the reloads' scripts would send has long been sent
        opens = _events(cloud, reg, EventType.RECEIPT_OPEN)
        assert len(opens) == 1  # the same tab: the same event id, stored once
        assert opens[0].bot is None
        views = _banner_views(cloud, reg)  # the template's own blocks report their views too
        assert [(v.block_id, v.properties.get("segment"), v.bot) for v in views] == [
            ("banner", "moscow", None)
        ]

        page.click("#banner")
        page.wait_for_url(f"{shop}/sale*")
        landed = parse_qs(urlsplit(page.url).query)
        assert landed["utm_source"] == ["echeck"]
        click_id = landed["ec_click"][0]
        assert errors == []  # no CSP violation: the script is the cloud's own file
    finally:
        context.close()
    clicks = _events(cloud, reg, EventType.BLOCK_CLICK)
    assert [(c.block_id, c.ec_click, c.bot, c.browser_id) for c in clicks] == [
        ("banner", click_id, None, opens[0].browser_id)
    ]
    summary = cloud.http.get("/v1/pages/summary", headers=reg.tenant_auth).json()
    assert (summary["fetches"]["total"], summary["opens"], summary["clicks"]) == (3, 1, 1)
    banner = next(b for b in summary["blocks"] if b["block_id"] == "banner")
    assert banner["ctr"] == 1.0


def test_headless_chromes_own_user_agent_is_a_bot(cloud: Cloud, browser: Browser) -> None:
    reg, _receipt_id, path = _receipt(cloud)
    context = browser.new_context(base_url=str(cloud.http.base_url).rstrip("/"))  # "HeadlessChrome/..."
    try:
        context.new_page().goto(path)
        _wait_for("the script's report", lambda: len(_events(cloud, reg, EventType.RECEIPT_OPEN)) == 1)
    finally:
        context.close()
    assert [e.bot for e in _events(cloud, reg, EventType.RECEIPT_OPEN)] == ["headless"]
    assert cloud.http.get("/v1/pages/summary", headers=reg.tenant_auth).json()["opens"] == 0
