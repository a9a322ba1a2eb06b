"""Opens and clicks that are real, over real HTTP: link previews, bare fetches and scanners are recorded
but never counted; a person's view counts one open however often it is reloaded; clicks go through the
signed redirect and count only after a person's open. Head office reads the figures, scoped."""

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from cloud.delivery.models import DeliveryRow
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.events import EventType, TrackedEvent
from cloud.tracking.store import events_where
from tests.cloud.conftest import Cloud, Registered, wire_receipt
from tests.support.page_script import PHONE_UA, Phone

PREVIEWS = {
    "telegram": "TelegramBot (like TwitterBot)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "viber": "Mozilla/5.0 (compatible; ViberLinkPreview/1.0)",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
}
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
TARGET = "https://shop.example/sale?utm_source=echeck"


def _receipt(cloud: Cloud, reg: Registered, fd: int = 1) -> tuple[int, str]:
    """A stored receipt with a buyer contact and its delivery: (receipt id, the message link's path)."""
    doc = wire_receipt(fd, contact={"kind": "phone", "value": f"7916123{fd:04d}"})
    r = cloud.http.post(
        f"/v1/stores/{reg.store_id}/receipts/batch", json={"receipts": [doc]}, headers=reg.auth
    )
    assert r.status_code == 200, r.text
    cloud.run_jobs()
    with cloud.session() as s:
        row = s.execute(sa.select(DeliveryRow).order_by(DeliveryRow.id.desc())).scalars().first()  # type: ignore[union-attr]
        assert row is not None
        return row.receipt_id, f"/r/{row.link_token}"


def _link(cloud: Cloud, receipt_id: int, block: str = "banner", target: str = TARGET) -> str:
    """What a block's link on the page is (the template's `click_url`)."""
    return ClickIds(cloud.keys.keys.values()).outbound_path(receipt_id, block, target, datetime.now(UTC))


def _summary(cloud: Cloud, reg: Registered, **params: Any) -> dict[str, Any]:
    r = cloud.http.get("/v1/pages/summary", headers=reg.tenant_auth, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _events(cloud: Cloud, reg: Registered, *types: EventType) -> list[TrackedEvent]:
    with cloud.session() as s:
        return events_where(s, reg.tenant_id, types=types)


@pytest.fixture
def phone(cloud: Cloud):  # type: ignore[no-untyped-def]
    p = Phone(str(cloud.http.base_url))
    yield p
    p.close()


def test_link_previews_fetch_but_never_open_or_click(cloud: Cloud) -> None:
    reg = cloud.register()
    receipt_id, path = _receipt(cloud, reg)
    for ua in PREVIEWS.values():
        bot = Phone(str(cloud.http.base_url), user_agent=ua)
        try:
            bot.view(path, [("banner", None)])  # even a preview that runs the script and waits
            assert bot.follow(_link(cloud, receipt_id)).status_code == 303
        finally:
            bot.close()
    s = _summary(cloud, reg)
    assert s["fetches"] == {"total": 4, "by_bots": 4, "receipts": 1}
    assert (s["opens"], s["clicks"], s["bot_opens"], s["bot_clicks"]) == (0, 0, 4, 4)
    reasons = {e.bot for e in _events(cloud, reg, EventType.RECEIPT_FETCH)}
    assert reasons == {f"link preview: {app}" for app in PREVIEWS}
    with cloud.session() as session:
        assert session.execute(sa.select(DeliveryRow.opened_at)).scalar_one() is None


def test_a_bare_fetch_is_fetched_and_nothing_more(cloud: Cloud) -> None:
    reg = cloud.register()
    _receipt_id, path = _receipt(cloud, reg)
    page = httpx.get(str(cloud.http.base_url) + path, headers={"User-Agent": PHONE_UA})  # no script runs
    assert page.status_code == 200
    s = _summary(cloud, reg)
    assert s["fetches"] == {"total": 1, "by_bots": 0, "receipts": 1}  # a person, maybe: fetched
    assert s["opens"] == 0
    assert s["open_events"] == 0


def test_scanners_clicks_count_no_click_and_the_honeypot_flags_them(cloud: Cloud, phone: Phone) -> None:
    reg = cloud.register()
    receipt_id, path = _receipt(cloud, reg)
    # A mail scanner with a browser's user agent follows every link of the page (one with a cookie jar,
    # one without).
    scanner = httpx.Client(base_url=str(cloud.http.base_url), headers={"User-Agent": DESKTOP_UA})
    page = scanner.get(path)
    honeypot = re.search(r'class="ec-hp" href="([^"]+)"', page.text)
    assert honeypot is not None
    went = scanner.get(_link(cloud, receipt_id), follow_redirects=False)
    assert went.status_code == 303  # it still lands where the link goes
    cookieless = httpx.get(
        str(cloud.http.base_url) + _link(cloud, receipt_id), headers={"User-Agent": DESKTOP_UA}
    )
    assert cookieless.status_code == 303
    assert scanner.get(honeypot.group(1).replace("&amp;", "&")).status_code == 303
    # From now on this browser, and within the burst this page with this user agent, are a scanner's:
    # the same scanner runs the page's script too.
    bot = Phone(str(cloud.http.base_url), user_agent=DESKTOP_UA)
    bot.client = scanner
    bot.report(bot.fetch(path))
    reasons = {
        (e.type, e.block_id, e.bot)
        for e in _events(cloud, reg, EventType.BLOCK_CLICK, EventType.RECEIPT_OPEN)
    }
    assert reasons == {
        (EventType.BLOCK_CLICK, "banner", "no open before"),
        (EventType.BLOCK_CLICK, "banner", "no browser id"),
        (EventType.BLOCK_CLICK, "_hp", "honeypot"),
        (EventType.RECEIPT_OPEN, None, "honeypot"),
    }
    s = _summary(cloud, reg)
    assert (s["opens"], s["clicks"], s["honeypot_hits"]) == (0, 0, 1)
    # A person with cookies who clicks without the page's script having reported an open: not counted.
    phone.fetch(path)
    assert phone.follow(_link(cloud, receipt_id)).status_code == 303
    assert _events(cloud, reg, EventType.BLOCK_CLICK)[-1].bot == "no open before"
    assert _summary(cloud, reg)["clicks"] == 0


def test_a_persons_view_counts_one_open_however_often_reloaded(cloud: Cloud, phone: Phone) -> None:
    reg = cloud.register()
    receipt_id, path = _receipt(cloud, reg)
    phone.view(path, [("banner", "moscow")])
    phone.view(path, [("banner", "moscow")])  # a reload in the same tab: the same event ids
    phone.new_tab()
    phone.view(path, [("banner", "moscow")])  # another tab: new events, the same receipt
    s = _summary(cloud, reg)
    assert (s["fetches"]["total"], s["opens"], s["open_events"]) == (3, 1, 2)
    assert s["sent"] == 0
    assert s["open_rate"] is None
    assert s["open_rate_of_fetched"] == 1.0
    opens = _events(cloud, reg, EventType.RECEIPT_OPEN)
    assert all(e.bot is None and e.browser_id and len(e.browser_id) == 22 for e in opens)
    assert len({e.browser_id for e in _events(cloud, reg)}) == 1  # one ec_bid cookie throughout
    with cloud.session() as session:
        assert session.execute(sa.select(DeliveryRow.opened_at)).scalar_one() is not None

    went = phone.follow(_link(cloud, receipt_id))
    assert went.status_code == 303
    landed = urlsplit(went.headers["location"])
    assert landed.netloc == "shop.example"
    assert parse_qs(landed.query)["utm_source"] == ["echeck"]
    click_id = parse_qs(landed.query)["ec_click"][0]
    assert phone.follow(_link(cloud, receipt_id)).status_code == 303  # a second click on the same block
    s = _summary(cloud, reg)
    assert (s["clicks"], s["click_events"], s["clicking_receipts"]) == (1, 2, 1)
    assert s["blocks"] == [
        {
            "block_id": "banner",
            "views": 1,
            "clicks": 1,
            "ctr": 1.0,
            "segments": [{"segment": "moscow", "views": 1, "clicks": 1, "ctr": 1.0}],
        }
    ]
    clicks = _events(cloud, reg, EventType.BLOCK_CLICK)
    assert {(e.ec_click, e.properties.get("segment"), e.bot) for e in clicks} == {(click_id, "moscow", None)}


def test_the_browser_id_cookie(cloud: Cloud) -> None:
    reg = cloud.register()
    _receipt_id, path = _receipt(cloud, reg)
    first = httpx.get(str(cloud.http.base_url) + path, headers={"User-Agent": PHONE_UA})
    cookie = first.headers["set-cookie"]
    assert re.match(r"ec_bid=[A-Za-z0-9_-]{22}; HttpOnly; Max-Age=63072000; Path=/; SameSite=lax$", cookie), (
        cookie
    )
    again = httpx.get(
        str(cloud.http.base_url) + path,
        headers={"User-Agent": PHONE_UA},
        cookies={"ec_bid": first.cookies["ec_bid"]},
    )
    assert "set-cookie" not in again.headers  # kept, not renewed on every fetch
    fetches = _events(cloud, reg, EventType.RECEIPT_FETCH)
    assert [e.browser_id for e in fetches] == [first.cookies["ec_bid"]] * 2


def test_forged_too_fast_and_malformed_reports_do_not_open(cloud: Cloud, phone: Phone) -> None:
    reg = cloud.register()
    _receipt_id, path = _receipt(cloud, reg)
    view = phone.fetch(path)
    # The script waits a second of visible page; a replay that does not is no person. First, while the
    # fetch is fresh: on a loaded machine the checks below can take longer than the wait itself.
    phone.report(view, wait=False)
    open_event = [{"id": "7d0f6f1e-3c1b-4a9e-9d7a-2b9f0c3e4a51", "type": "receipt_open"}]
    for token in ("x" * 91, view.token[:-4] + "AAAA", ""):
        r = phone.client.post(view.events_url, json={"t": token, "events": open_event})
        assert r.status_code == 422, token
        assert r.json()["code"] in ("invalid_value", "invalid_request")
    for bad in (
        [{"id": "not-a-uuid", "type": "receipt_open"}],
        [{"id": open_event[0]["id"], "type": "block_click", "block": "banner"}],  # clicks are GETs of /c/
        [{"id": open_event[0]["id"], "type": "block_view"}],  # which block?
    ):
        assert phone.client.post(view.events_url, json={"t": view.token, "events": bad}).status_code == 422
    assert [e.bot for e in _events(cloud, reg, EventType.RECEIPT_OPEN)] == ["timing"]
    assert _summary(cloud, reg)["opens"] == 0


def test_links_this_cloud_did_not_sign_are_404(cloud: Cloud, phone: Phone) -> None:
    reg = cloud.register()
    receipt_id, _path = _receipt(cloud, reg)
    good = _link(cloud, receipt_id)
    evil = good.replace("shop.example", "evil.example")
    other_key = ClickIds([b"not this cloud's key"]).outbound_path(
        receipt_id, "banner", TARGET, datetime.now(UTC)
    )
    for link in (evil, other_key, "/c/garbage?to=https%3A%2F%2Fshop.example&s=x", good.split("&s=")[0]):
        assert phone.follow(link).status_code == 404, link
    assert _events(cloud, reg, EventType.BLOCK_CLICK) == []


def test_the_summary_is_tenant_and_store_scoped(cloud: Cloud, phone: Phone) -> None:
    reg = cloud.register()
    other_store = cloud.store(reg.tenant_id, "Nevsky 1")
    reg2 = cloud.register((reg.tenant_id, reg.api_key), store_id=other_store)
    _r1, path1 = _receipt(cloud, reg, 1)
    _r2, path2 = _receipt(cloud, reg2, 2)
    phone.view(path1)
    phone.view(path2)
    assert _summary(cloud, reg)["opens"] == 2
    assert _summary(cloud, reg, store_id=other_store)["opens"] == 1
    by_store = {s["store"]: (s["fetches"], s["opens"]) for s in _summary(cloud, reg)["stores"]}
    assert by_store == {"Tverskaya 7": (1, 1), "Nevsky 1": (1, 1)}
    stranger = cloud.register()  # another tenant sees none of it, and not the stores
    assert _summary(cloud, stranger)["opens"] == 0
    r = cloud.http.get("/v1/pages/summary", headers=stranger.tenant_auth, params={"store_id": other_store})
    assert r.status_code == 404
    cloud.user(reg.tenant_id, "analyst@acme.example", role="analyst", stores=[other_store])
    with cloud.browser("analyst@acme.example") as analyst:
        mine = analyst.get("/v1/pages/summary").json()
        assert (mine["opens"], mine["store_ids"]) == (1, [other_store])
        assert analyst.get("/v1/pages/summary", params={"store_id": reg.store_id}).status_code == 404
    assert cloud.http.get("/v1/pages/summary").status_code == 401
    time.sleep(0)  # the period defaults to the last 7 days; a past period is empty
    assert (
        _summary(cloud, reg, since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")["fetches"]["total"]
        == 0
    )
