"""Regenerate the e-receipt screenshots in this folder with Debian's Chromium (/usr/bin/chromium, driven by
Playwright):

    PYTHONPATH=$PWD .venv/bin/python docs/pages/screenshots.py

A fresh SQLite cloud on loopback with one tenant (seller, INN, address, time zone set as `tenant set` /
`store set` do), stores in Moscow and St Petersburg, a promo rule and a published template whose blocks have
segment rules. Shots:

- `receipt-phone.png` (390 px), `receipt-desktop.png` (1280 px): the default template's page;
- `receipt-pdf-link.png` (320 px): the page's fiscal block with the FNS QR code and «Скачать PDF»;
- `segment-*.png` (390 px, whole page): the same template for each segment variant;
- `editor.png`, `editor-block.png` (1280 px): the head-office template editor and one block's form.
"""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlmodel import Session

from cloud.accounts import tenants, users
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.app import create_app
from cloud.db import make_engine, migrate
from cloud.delivery.models import PushDevice
from cloud.fleet import enrollment
from cloud.pages import versions
from cloud.pages.blocks import Block, BlockType, Rule, Template, default_template
from cloud.pages.promo import service as promo
from cloud.pages.promo.rules import Rule as PromoRule
from cloud.pages.segments import Condition
from cloud.privacy.keys import load_identity_keys
from sync.protocol import ENROLL_PATH, batch_path
from tests.support.live_server import live_server
from tests.support.receipts import wire_receipt

HERE = Path(__file__).parent
PASSWORD = "screenshots only"
PHONE = "79161234567"
ITEMS = [
    {"name": "Кофе зерновой 250 г", "price": 10000, "quantity": "2", "total": 18000, "vat": "vat20"},
    {"name": "Молоко 3,2% 1 л", "price": 5200, "quantity": "1", "total": 5200, "vat": "vat10"},
]
BIG = [
    {"name": "Кофемашина капельная", "price": 1_299_000, "quantity": "1", "total": 1_299_000, "vat": "vat20"}
]


def _template() -> Template:
    """The default blocks plus a banner, a promo code and recommendations, personalised by segment."""
    blocks = default_template().blocks
    banner = Block(
        id="banner",
        type=BlockType.BANNER,
        settings={
            "headline": "Скидка 15% на всё для завтрака",
            "text": "До конца недели во всех магазинах {{ seller }}.",
            "link": "https://shop.example/breakfast",
            "button": "Смотреть предложения",
        },
        rules=[
            Rule(
                when=Condition(total_over=10_000_00),
                settings={
                    "headline": "Спасибо за крупную покупку!",
                    "text": "Бесплатная доставка следующего заказа.",
                },
            ),
            Rule(
                when=Condition(regions=["Санкт-Петербург"]),
                settings={"headline": "Петербург, для вас — кофе с собой за полцены"},
            ),
            Rule(when=Condition(app=True), settings={"headline": "В приложении — двойные баллы"}),
        ],
    )
    promo_block = Block(id="promo", type=BlockType.PROMO, settings={"rule_name": "next10"})
    recs = Block(
        id="recs",
        type=BlockType.RECOMMENDATIONS,
        settings={
            "rules": [
                {"category": "кофе", "title": "Турка медная −20%", "link": "https://shop.example/turka"},
                {"category": "кофе", "title": "Сливки 10% к кофе", "text": "Вместе с кофе — дешевле"},
            ]
        },
    )
    social = Block(
        id="social",
        type=BlockType.SOCIAL,
        settings={"vk": "https://vk.com/shop", "ok": "https://ok.ru/shop", "telegram": "https://t.me/shop"},
    )
    by_id = {b.id: b for b in blocks}
    ordered = [
        by_id["styles"],
        banner,
        by_id["receipt"],
        by_id["totals"],
        promo_block,
        by_id["loyalty"],
        recs,
        by_id["profile"],
        by_id["survey"],
        by_id["qr"],
        social,
        by_id["footer"],
    ]
    return Template(blocks=ordered, categories={"кофе": ["кофе"]})


def _seed(url: str, base: str) -> dict[str, str]:
    """Tenant, two stores, receipts for each segment; returns {shot name: page path}."""
    engine = make_engine(url)
    with Session(engine) as s:
        tenant, _key = tenants.create_tenant(s, "Ромашка")
        assert tenant.id is not None
        tenant_id = tenant.id
        tenants.set_tenant_details(
            s, tenant_id, legal_name='ООО "Ромашка"', inn="7707083893", taxation="usn_income"
        )
        moscow = tenants.create_store(s, tenant_id, "Тверская 7", "Москва")
        spb = tenants.create_store(s, tenant_id, "Невский 20", "Санкт-Петербург")
        assert moscow.id is not None
        assert spb.id is not None
        tenants.set_store_details(
            s,
            moscow.id,
            address="125009, г. Москва, ул. Тверская, д. 7",
            settlement_place="Магазин «Ромашка»",
        )
        tenants.set_store_details(
            s,
            spb.id,
            address="191186, г. Санкт-Петербург, Невский пр., д. 20",
            settlement_place="Магазин «Ромашка»",
        )
        users.add_user(
            s, tenant_id, "admin@romashka.example", PASSWORD, Role.ADMIN, StoreScope.of(None, None), "cli"
        )
        codes = {
            sid: enrollment.issue_enrollment_code(s, sid, timedelta(hours=1)).code
            for sid in (moscow.id, spb.id)
        }
        ids = {"moscow": moscow.id, "spb": spb.id}
    regs = {
        name: httpx.post(base + ENROLL_PATH, json={"code": codes[sid], "hostname": f"till-{name}"}).json()
        for name, sid in ids.items()
    }
    paths: dict[str, str] = {}

    def post(name: str, store: str, fd: int, phone: str, items: list[dict[str, Any]]) -> None:
        total = sum(i["total"] for i in items)
        receipt = wire_receipt(
            fd,
            total=total,
            contact={"kind": "phone", "value": phone},
            items=items,
            payments=[{"kind": "card", "amount": total}],
            extra={"landing": f"shot-landing-{fd:04d}", "cashier": "Иванова А."},
        )
        reg = regs[store]
        httpx.post(
            base + batch_path(ids[store]),
            json={"receipts": [receipt]},
            headers={"Authorization": f"Bearer {reg['token']}"},
        ).raise_for_status()
        paths[name] = f"/r/c/{reg['register_id']}/shot-landing-{fd:04d}"

    post("receipt", "moscow", 36, PHONE, ITEMS)  # before any template: the default one
    with Session(engine) as s:
        promo.save_rule(
            s,
            tenant_id,
            PromoRule(name="next10", percent=10, valid_days=14),
            actor="cli",
            now=datetime.now(UTC),
        )
        row = versions.save(s, tenant_id, _template(), actor="admin@romashka.example", note="первый шаблон")
        assert row.id is not None
        versions.publish(s, tenant_id, row.id, actor="admin@romashka.example")
        keys = load_identity_keys(url)
        s.add(
            PushDevice(
                tenant_id=tenant_id,
                contact_hash=keys.hash("79035550101"),
                token="f" * 40,
                created_at=datetime.now(UTC),
            )
        )
        s.commit()
    post("segment-moscow", "moscow", 37, "79161230001", ITEMS)
    post("segment-spb", "spb", 38, "79211230002", ITEMS)
    post("segment-big-receipt", "spb", 39, "79211230003", BIG)
    post("segment-app", "moscow", 40, "79035550101", ITEMS)
    engine.dispose()
    return paths


def _shot(page: Page, base: str, path: str, name: str, full: bool = True) -> None:
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(HERE / name), full_page=full)
    print(HERE / name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cloud.db"
        migrate(url)
        with live_server(create_app(url)) as base, sync_playwright() as p:
            paths = _seed(url, base)
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="ru-RU")
            desktop = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
            # The default template (first receipt): viewport-sized, as before.
            _shot(phone, base, paths["receipt"], "receipt-phone.png", full=False)
            _shot(desktop, base, paths["receipt"], "receipt-desktop.png", full=False)
            narrow = browser.new_page(viewport={"width": 320, "height": 640}, locale="ru-RU")
            narrow.goto(base + paths["receipt"])
            narrow.locator(".block-qr").screenshot(path=str(HERE / "receipt-pdf-link.png"))
            print(HERE / "receipt-pdf-link.png")
            for name in ("segment-moscow", "segment-spb", "segment-big-receipt", "segment-app"):
                _shot(phone, base, paths[name], f"{name}.png")
            desktop.goto(base + "/login")
            desktop.fill("#email", "admin@romashka.example")
            desktop.fill("#password", PASSWORD)
            desktop.click("#sign-in")
            desktop.wait_for_load_state()
            _shot(desktop, base, "/admin/page?segment=1", "editor.png")
            _shot(desktop, base, "/admin/page/blocks/banner", "editor-block.png")
            browser.close()


if __name__ == "__main__":
    main()
