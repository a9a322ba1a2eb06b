"""A receipt's page is kept rendered for its message link (`cloud.pages.kept`): a reload is the kept page
with this fetch's own click links, view token and countdown; anything the page was rendered from that
changes (an answer, a sign-up, an installed app, the seller's details, a publish, a promo's start) renders
it again; every fetch is still recorded; erasure and age take kept pages away."""

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from cloud.accounts import tenants
from cloud.accounts.models import Store, Tenant
from cloud.delivery.models import DeliveryRow, PushDevice
from cloud.pages import kept, service
from cloud.pages.blocks import Block, BlockType, Rule, Template, default_template, resolve
from cloud.pages.blocks_render import BlockState, PageContext, PromoView, remaining, render_page
from cloud.pages.models import PageKept
from cloud.pages.promo import service as promo
from cloud.pages.promo.rules import Rule as PromoRule
from cloud.pages.receipt_view import ReceiptView, receipt_view
from cloud.pages.segments import Audience, Condition
from cloud.tracking.events import EventType
from cloud.tracking.store import events_where
from sync.protocol import batch_path, receipt_from_wire
from tests.cloud.conftest import Cloud, Registered, now_utc
from tests.cloud.test_page_blocks import _form, _publish
from tests.support.receipts import wire_receipt

PHONE = {"kind": "phone", "value": "79161234567"}
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
}
MARK = "<!-- served kept -->"


def _link(cloud: Cloud, reg: Registered, fd: int) -> str:
    """A stored receipt's message link (its delivery made by the "receipt stored" job)."""
    receipt = wire_receipt(fd, contact=PHONE)
    stored = cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
    assert stored.json()["accepted"][0]["status"] == "stored", stored.text
    cloud.run_jobs()
    with cloud.session() as s:
        tokens = s.execute(sa.select(DeliveryRow.link_token).order_by(DeliveryRow.id.desc())).scalars()  # type: ignore[union-attr]
        return f"/r/{next(iter(tokens))}"


def _fetch(cloud: Cloud, path: str, kept: bool = True) -> httpx.Response:
    """A person's fetch of the page, then (when it is `kept`) a wait until its page is kept and current:
    kept ahead when the receipt was stored (cloud.pages.kept_ahead), or rendered by this fetch and
    stored after the answer by the kept-page writer (PostgreSQL)."""
    page = cloud.http.get(path, headers=BROWSER)
    deadline = time.monotonic() + 10
    while kept and page.status_code == 200 and not _kept_current(cloud, path):
        assert time.monotonic() < deadline, "the rendered page was never kept"
        time.sleep(0.02)
    return page


def _kept_current(cloud: Cloud, path: str) -> bool:
    with cloud.session() as s:
        found = service.page_by_link(s, path.rsplit("/", 1)[1])
    return found is not None and found.keeping is not None and found.keeping.page is not None


def _mark_kept(cloud: Cloud) -> None:
    """Tag every kept page, so a page served from it shows the tag and a page rendered again does not."""
    with cloud.engine.begin() as conn:
        conn.execute(sa.update(PageKept).values(html=PageKept.html + MARK))  # type: ignore[operator]


def _per_fetch_free(html: str) -> str:
    """The page without what each fetch makes anew: click ids (with their signatures) and the view token."""
    html = re.sub(r'/c/[A-Za-z0-9_-]+\?[^"]*', "/c/…", html)
    return re.sub(r'data-vt="[^"]*"', 'data-vt="…"', html)


def test_a_reload_is_the_kept_page_with_this_fetchs_own_values(cloud: Cloud) -> None:
    reg = cloud.register()
    banner = Block(
        id="sale",
        type=BlockType.BANNER,
        settings={"headline": "Скидки", "link": "https://shop.example/?a=1&b=2"},
    )
    _publish(cloud, reg.tenant_id, Template(blocks=[*default_template().blocks, banner]))
    path = _link(cloud, reg, 1)
    first = _fetch(cloud, path)
    assert first.status_code == 200
    _mark_kept(cloud)
    second = _fetch(cloud, path)
    assert second.status_code == 200
    assert MARK in second.text  # served from the kept row
    assert _per_fetch_free(second.text.replace(MARK, "")) == _per_fetch_free(first.text)
    links = [re.findall(r'href="(/c/[^"]+)"', page.text) for page in (first, second)]
    assert len(links[0]) == len(links[1]) == 2  # the banner and the honeypot
    tokens = [re.search(r'data-vt="([^"]+)"', page.text) for page in (first, second)]
    assert tokens[0]
    assert tokens[1]
    assert tokens[0].group(1) != tokens[1].group(1)
    # A kept page's outbound link still goes through the redirect to its target, with its click id.
    click = cloud.http.get(links[1][0].replace("&amp;", "&"), headers=BROWSER, follow_redirects=False)
    assert click.status_code == 303
    assert click.headers["location"].startswith("https://shop.example/?a=1&b=2&ec_click=")
    with cloud.session() as s:
        fetches = events_where(s, reg.tenant_id, types=[EventType.RECEIPT_FETCH])
    assert len(fetches) == 2  # a kept page is a fetch like any other


def test_what_the_page_is_rendered_from_changing_renders_it_again(cloud: Cloud) -> None:
    reg = cloud.register()
    app = Block(
        id="app",
        type=BlockType.BANNER,
        settings={"headline": "Скачайте приложение"},
        rules=[Rule(when=Condition(app=True), settings={"headline": "Спасибо, что вы с нами в приложении"})],
    )
    _publish(cloud, reg.tenant_id, Template(blocks=[*default_template().blocks, app]))
    path = _link(cloud, reg, 2)

    def reload() -> str:
        _mark_kept(cloud)
        page = _fetch(cloud, path)
        assert page.status_code == 200
        return page.text

    page = _fetch(cloud, path).text
    assert MARK in reload()  # nothing changed: kept
    # The buyer signs up for loyalty on this page: the reload shows it done, not the form again.
    assert cloud.http.post("/r/act", data={**_form(page, "loyalty"), "action": "signup"}).status_code == 303
    page = reload()
    assert MARK not in page
    assert 'data-block="loyalty"' in page
    assert 'value="signup"' not in page
    assert MARK in reload()
    # A survey answer.
    rated = cloud.http.post("/r/act", data={**_form(page, "survey"), "action": "rating", "value": "5"})
    assert rated.status_code == 303
    assert MARK not in reload()
    # The app installed (push token registered for the contact): the rule on an app now matches.
    with cloud.session() as s:
        device = PushDevice(
            tenant_id=reg.tenant_id,
            contact_hash=cloud.keys.hash("79161234567"),
            token="t" * 40,
            created_at=now_utc(),
        )
        s.add(device)
        s.commit()
    page = reload()
    assert MARK not in page
    assert "Спасибо, что вы с нами в приложении" in page
    # The seller's details.
    with cloud.session() as s:
        tenants.set_tenant_details(
            s, reg.tenant_id, legal_name='ООО "Новое имя"', inn="7707083893", taxation="osn"
        )
    page = reload()
    assert MARK not in page
    assert "ООО &#34;Новое имя&#34;" in page
    with cloud.session() as s:
        tenants.set_store_details(s, reg.store_id, address="г. Казань, ул. Баумана, 5")
    page = reload()
    assert MARK not in page
    assert "г. Казань, ул. Баумана, 5" in page
    # Another version published.
    _publish(cloud, reg.tenant_id, Template(blocks=default_template().blocks))
    page = reload()
    assert MARK not in page
    assert "Скачайте приложение" not in page
    assert "в приложении" not in page
    assert MARK in reload()
    # The buyer's data erased: the kept page goes with it, and the next fetch renders the page again.
    erased = cloud.http.post(
        "/v1/privacy/erasures", json={"contact": "+79161234567"}, headers=reg.tenant_auth
    )
    assert erased.json()["counts"]["kept_pages"] == 1
    page = reload()
    assert MARK not in page


def test_a_promo_is_kept_until_it_starts_and_its_countdown_is_counted_at_each_fetch(cloud: Cloud) -> None:
    reg = cloud.register()
    with cloud.session() as s:
        rule = PromoRule(name="later", percent=10, valid_days=14, start_delay_h=48)
        promo.save_rule(s, reg.tenant_id, rule, actor="test", now=now_utc())
    blocks = [
        *default_template().blocks,
        Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "later"}),
    ]
    _publish(cloud, reg.tenant_id, Template(blocks=blocks))
    path = _link(cloud, reg, 3)
    page = _fetch(cloud, path).text
    assert "Начнёт действовать через" in page
    with cloud.session() as s:
        row = s.get(PageKept, s.execute(sa.select(PageKept.receipt_id)).scalar_one())
        assert row is not None
        assert row.valid_until is not None
        starts = datetime.fromisoformat(row.slots["r"][0])
        assert row.valid_until == starts  # the page says something else once the code is active
        assert "\ue000r0\ue001" in row.html  # the countdown's text is this fetch's
    assert MARK in (_mark_kept(cloud), _fetch(cloud, path).text)[1]
    with cloud.engine.begin() as conn:  # as if the start had passed
        conn.execute(sa.update(PageKept).values(valid_until=now_utc() - timedelta(seconds=1)))
    assert MARK not in _fetch(cloud, path).text


def _view() -> ReceiptView:
    tenant = Tenant(id=1, name="Acme", legal_name='ООО "Акме" & <Ко>', inn="7707083893", taxation="osn")
    store = Store(id=1, tenant_id=1, name="Тверская", address="г. Москва, ул. Тверская, 7")
    return receipt_view(receipt_from_wire(wire_receipt(7)), tenant, store)


def _ctx(
    click_url: Callable[[str, str], str],
    now: datetime,
    tracking: Mapping[str, str],
    countdown: Callable[[datetime], str] | None = None,
    page_path: str = "/r/a&b",
) -> PageContext:
    code = PromoView("ECHK-7Q4M-2XWD", "Скидка", NOW + timedelta(hours=5), NOW + timedelta(days=14))
    return PageContext(
        receipt_id=7,
        page_path=page_path,
        click_url=click_url,
        form_token=lambda b: f"t-{b}",
        now=now,
        states={"promo": BlockState(promo=code)},
        tracking=tracking,
        countdown=countdown,
    )


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_page_rendered_with_marks_then_spliced_is_byte_for_byte_the_page_rendered_directly() -> None:
    view = _view()
    blocks = [
        *default_template().blocks,
        Block(
            id="sale",
            type=BlockType.BANNER,
            settings={"headline": "a", "link": "https://s.example/?x=1&y=2"},
        ),
        Block(
            id="social",
            type=BlockType.SOCIAL,
            settings={"vk": "https://vk.com/shop", "telegram": "https://t.me/shop"},
        ),
        Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "r"}),
    ]
    shown = resolve(Template(blocks=blocks), Audience(total=view.total, has_contact=True), 7).shown

    def click_url(block_id: str, url: str) -> str:
        return f"/c/{block_id}-id?to={url}&s=sig" if url.startswith("https://") else url

    tracking = {"view_token": 'vt&"<1>', "events_url": "/r/e", "honeypot_url": "/c/hp?to=x&s=y"}
    later = NOW + timedelta(minutes=3)
    direct = render_page(view, shown, _ctx(click_url, later, tracking))
    slots = kept.Slots(NOW, "/r/e")
    marked = render_page(
        view, shown, _ctx(slots.click_url, NOW, slots.tracking, slots.remaining, slots.page_path)
    )
    assert kept.keepable(marked, slots)
    assert marked.count(slots.page_path) > 1  # each form returns to the page, the PDF link is under it
    assert len(slots.clicks) == 3
    assert slots.valid_until == NOW + timedelta(hours=5)
    fill = kept.Fill(
        tracking["view_token"],
        tracking["honeypot_url"],
        click_url,
        lambda until: remaining(until, later),
        "/r/a&b",
    )
    assert kept.splice(marked, slots.as_json(), fill) == direct  # three minutes later: its own countdown
    # A tenant's text with a private-use character could pass for a mark: such a page is never kept.
    odd = Block(id="odd", type=BlockType.BANNER, settings={"headline": "\ue000c0\ue001"})
    slots = kept.Slots(NOW, "/r/e")
    strange = render_page(
        view,
        resolve(Template(blocks=[*blocks, odd]), Audience(total=view.total, has_contact=True), 7).shown,
        _ctx(slots.click_url, NOW, slots.tracking, slots.remaining),
    )
    assert not kept.keepable(strange, slots)


def test_pages_kept_longer_than_a_month_are_pruned(cloud: Cloud) -> None:
    reg = cloud.register()
    paths = [_link(cloud, reg, fd) for fd in (4, 5)]
    for path in paths:
        assert _fetch(cloud, path).status_code == 200
    with cloud.engine.begin() as conn:
        first = conn.execute(sa.select(sa.func.min(PageKept.receipt_id))).scalar_one()
        old = now_utc() - kept.KEEP_FOR - timedelta(hours=1)
        conn.execute(sa.update(PageKept).where(PageKept.receipt_id == first).values(kept_at=old))
    with cloud.session() as s:
        assert kept.prune(s, now_utc()) == 1
        assert kept.prune(s, now_utc()) == 0
        assert s.execute(sa.select(sa.func.count()).select_from(PageKept)).scalar_one() == 1
    assert _fetch(cloud, paths[0]).status_code == 200  # rendered, and kept, again


def test_a_page_whose_text_looks_like_a_mark_is_served_as_written_and_not_kept(cloud: Cloud) -> None:
    reg = cloud.register()
    odd = Block(id="odd", type=BlockType.BANNER, settings={"headline": "Акция \ue000c0\ue001 недели"})
    _publish(cloud, reg.tenant_id, Template(blocks=[*default_template().blocks, odd]))
    path = _link(cloud, reg, 6)
    for _ in range(2):
        page = _fetch(cloud, path, kept=False)
        assert page.status_code == 200
        assert "Акция \ue000c0\ue001 недели" in page.text
    with cloud.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PageKept)).scalar_one() == 0
        assert len(events_where(s, reg.tenant_id, types=[EventType.RECEIPT_FETCH])) == 2
