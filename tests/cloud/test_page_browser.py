"""The e-receipt page and its template editor in real Chromium (Debian's, driven by Playwright): every legal
field at 320 and 640 px, a loyalty sign-up, the promo countdown ticking, a block edited in the editor,
previewed, published, seen on the page and rolled back. No CSP violation, no request leaving the cloud."""

import re
import time

import sqlalchemy as sa
from playwright.sync_api import Browser

from cloud.accounts import tenants
from cloud.delivery.models import DeliveryRow
from cloud.pages import versions
from cloud.pages.blocks import Block, BlockType, Template, default_template
from cloud.pages.models import PageKept
from cloud.pages.promo import service as promo
from cloud.pages.promo.rules import Rule as PromoRule
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, Registered, now_utc
from tests.cloud.test_headoffice_browser import (  # noqa: F401 (fixtures)
    Watched,
    browser,
    open_page,
    sign_in,
)
from tests.cloud.test_page_events_browser import PERSON_UA
from tests.support.receipts import wire_receipt

INN = "7707083893"
LEGAL = [
    'ООО "Ромашка"',
    f"ИНН {INN}",
    "Адрес: г. Екатеринбург, ул. Ленина, 1",
    "Место расчётов: Магазин «Ромашка»",
    "Кассовый чек. Приход",
    "Кофе",
    "НДС 20%",
    "Итого:",
    "Безналичными",
    "Сумма НДС 20%",
    "СНО",
    "Кассир",
    "Смена",
    "РН ККТ",
    "ФН",
    "ФД",
    "ФПД",
    "ФФД",
    "Сайт ФНС",
    "nalog.gov.ru",
    "(Asia/Yekaterinburg, UTC+05:00)",
    "+7 *** ***-45-67",
]


def _receipt(cloud: Cloud, reg: Registered, fd: int) -> str:
    with cloud.session() as s:
        tenants.set_tenant_details(
            s, reg.tenant_id, legal_name='ООО "Ромашка"', inn=INN, taxation="usn_income"
        )
        tenants.set_store_details(
            s,
            reg.store_id,
            address="г. Екатеринбург, ул. Ленина, 1",
            settlement_place="Магазин «Ромашка»",
            time_zone="Asia/Yekaterinburg",
        )
    items = [
        {"name": "Кофе", "price": 10000, "quantity": "2", "total": 18000, "vat": "vat20"},
        {"name": "Молоко 3,2%", "price": 5200, "quantity": "1", "total": 5200, "vat": "vat10"},
    ]
    receipt = wire_receipt(
        fd,
        total=23200,
        contact={"kind": "phone", "value": "79161234567"},
        items=items,
        payments=[{"kind": "card", "amount": 23200}],
        extra={"landing": f"browser-landing-{fd:03d}", "cashier": "Иванова А."},
    )
    stored = cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
    assert stored.status_code == 200, stored.text
    return f"/r/c/{reg.register_id}/browser-landing-{fd:03d}"


def test_every_legal_field_at_320_and_640_px(cloud: Cloud, open_page: object) -> None:  # noqa: F811
    reg = cloud.register()
    path = _receipt(cloud, reg, 1)
    for width in (320, 640):
        w: Watched = open_page(width)  # type: ignore[operator]
        w.page.goto(path)
        text = w.page.inner_text("main")
        for field in LEGAL:
            assert field in text, (width, field)
        assert w.page.locator("img.qr").is_visible()
        # Mobile first: nothing wider than the screen, every block readable without scrolling sideways.
        assert w.page.evaluate("document.documentElement.scrollWidth") <= width
        blocks = w.page.locator("section.block").evaluate_all("els => els.map(e => e.dataset.block)")
        assert blocks[:4] == ["styles", "receipt", "totals", "qr"]
        w.clean()


def test_a_buyer_signs_up_for_loyalty_and_sees_the_promo_countdown(cloud: Cloud, open_page: object) -> None:  # noqa: F811
    reg = cloud.register()
    with cloud.session() as s:
        promo.save_rule(
            s, reg.tenant_id, PromoRule(name="next10", percent=10, valid_days=14), actor="t", now=now_utc()
        )
        body = Template(
            blocks=[
                *default_template().blocks,
                Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "next10"}),
            ]
        )
        row = versions.save(s, reg.tenant_id, body, actor="test")
        assert row.id is not None
        versions.publish(s, reg.tenant_id, row.id, actor="test")
    path = _receipt(cloud, reg, 2)
    w: Watched = open_page(320)  # type: ignore[operator]
    w.page.goto(path)
    countdown = w.page.locator(".block-promo .countdown")
    first = countdown.inner_text()
    assert re.fullmatch(r"1[34] д \d\d:\d\d:\d\d", first), first
    for _ in range(40):  # the script ticks once a second (the page's CSP forbids wait_for_function's eval)
        if countdown.inner_text() != first:
            break
        w.page.wait_for_timeout(250)
    assert countdown.inner_text() != first
    assert re.fullmatch(r"[A-Z0-9-]{6,}", w.page.inner_text(".promo-code code"))
    assert "Нажимая кнопку, я соглашаюсь" in w.page.inner_text(".block-loyalty")
    w.page.click(".block-loyalty button")
    w.page.wait_for_url(f"**{path}#b-loyalty")
    assert "Вы участник программы лояльности." in w.page.inner_text(".block-loyalty")
    w.clean()


def test_an_admin_edits_previews_publishes_and_rolls_back_in_the_browser(
    cloud: Cloud,
    open_page: object,  # noqa: F811
) -> None:
    reg = cloud.register()
    cloud.user(reg.tenant_id, "admin@shop.example", "admin")
    path = _receipt(cloud, reg, 3)
    w: Watched = open_page(1280)  # type: ignore[operator]
    sign_in(w, "admin@shop.example")
    w.page.goto("/admin/page")
    assert w.page.inner_text("h1") == "Шаблон электронного чека"
    w.page.click("#row-footer >> text=Настроить")
    w.page.wait_for_url("**/admin/page/blocks/footer")
    w.page.fill("#s\\.text", "Ждём вас снова, {{ store }}!")
    w.page.click("#save-block")
    w.page.wait_for_url("**/admin/page")
    for width in ("320", "640"):
        frame = w.page.frame_locator(f'iframe[width="{width}"]')
        assert "Ждём вас снова, Магазин «Ромашка»!" in frame.locator(".block-footer").inner_text()
    page = open_page(320)  # type: ignore[operator]
    page.page.goto(path)
    assert "Ждём вас снова" not in page.page.inner_text("main")  # a draft until published
    w.page.locator("table.versions button.publish").first.click()
    w.page.wait_for_load_state()
    assert "Опубликовано" in w.page.inner_text(".notice")
    page.page.reload()
    assert "Ждём вас снова, Магазин «Ромашка»!" in page.page.inner_text(".block-footer")
    # A second version, published, then rolled back to the first.
    w.page.goto("/admin/page/blocks/footer")
    w.page.fill("#s\\.text", "Версия два")
    w.page.click("#save-block")
    w.page.wait_for_url("**/admin/page")
    w.page.locator("table.versions button.publish").first.click()
    w.page.wait_for_load_state()
    page.page.reload()
    assert "Версия два" in page.page.inner_text(".block-footer")
    w.page.click("#rollback")
    w.page.wait_for_load_state()
    assert "Откат выполнен" in w.page.inner_text(".notice")
    page.page.reload()
    assert "Ждём вас снова, Магазин «Ромашка»!" in page.page.inner_text(".block-footer")
    w.clean()
    page.clean()


def test_the_pdf_link_on_a_320_px_phone_downloads_the_receipt(cloud: Cloud, open_page: object) -> None:  # noqa: F811
    reg = cloud.register()
    path = _receipt(cloud, reg, 4)
    w: Watched = open_page(320)  # type: ignore[operator]
    w.page.goto(path)
    link = w.page.locator(".pdf-link a")
    assert link.inner_text() == "Скачать PDF"
    box = link.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 320
    assert box["height"] >= 32  # a finger's target
    assert w.page.evaluate("document.documentElement.scrollWidth") <= 320
    with w.page.expect_download() as started:
        link.click()
    download = started.value
    assert download.suggested_filename == "чек-4-2026-11-23.pdf"  # Chromium reads RFC 5987's filename*
    saved = download.path()
    assert saved is not None
    assert saved.read_bytes().startswith(b"%PDF-")
    w.page.emulate_media(media="print")  # the print view keeps the receipt and drops the link
    assert not link.is_visible()
    assert w.page.locator("img.qr").is_visible()
    w.clean()


def test_the_message_links_kept_page_reloads_in_chromium_with_every_field_and_a_real_open(
    cloud: Cloud,
    browser: Browser,  # noqa: F811
) -> None:
    """The link in the e-mail or SMS (`/r/{token}`): the reload is answered from the page kept at the first
    fetch (cloud.pages.kept), and is still the whole legal page whose script reports a person's open."""
    reg = cloud.register()
    _receipt(cloud, reg, 3)
    cloud.run_jobs()  # the delivery, whose link this is
    with cloud.session() as s:
        token = s.execute(sa.select(DeliveryRow.link_token)).scalar_one()
    base = str(cloud.http.base_url).rstrip("/")
    # A phone's browser (headless Chromium's own user agent is judged a bot, whose view opens nothing).
    context = browser.new_context(base_url=base, user_agent=PERSON_UA, viewport={"width": 360, "height": 780})
    w = Watched(context.new_page(), base)
    w.page.goto(f"/r/{token}")
    deadline = time.monotonic() + 10
    while True:  # on PostgreSQL the page is kept just after its answer (cloud.pages.kept_writer)
        with cloud.session() as s:
            if s.execute(sa.select(sa.func.count()).select_from(PageKept)).scalar_one():
                break
        assert time.monotonic() < deadline, "the page was never kept"
        time.sleep(0.05)
    w.page.reload()
    text = w.page.inner_text("main")
    for field in LEGAL:
        assert field in text, field
    assert w.page.locator("img.qr").is_visible()
    assert w.page.evaluate("document.documentElement.scrollWidth") <= 360
    for _ in range(40):  # the script reports the view after a second of visible page
        with cloud.session() as s:
            if s.execute(sa.select(DeliveryRow.opened_at)).scalar_one() is not None:
                break
        w.page.wait_for_timeout(250)
    with cloud.session() as s:
        assert s.execute(sa.select(DeliveryRow.opened_at)).scalar_one() is not None
    w.clean()
    context.close()
