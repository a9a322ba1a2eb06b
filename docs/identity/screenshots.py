"""Regenerate the head-office identity page screenshots in this folder with Debian's Chromium
(/usr/bin/chromium, driven by Playwright):

    PYTHONPATH=$PWD .venv/bin/python docs/identity/screenshots.py

A fresh SQLite cloud on loopback with one tenant, its admin, one store and a register that sent receipts:
one buyer's phone with two loyalty cards and an e-mail with one of those cards (one profile, three links),
a cashier's own phone typed on seven cards (a hub: quarantined), and the shop's phone blocked. The real job
worker links them. Shots of `/identity?receipt=…`:

- `identity-phone.png` (320 px wide, whole page), `identity-desktop.png` (1280 px, whole page): the profile,
  why its identifiers are one person, a split form per link, the quarantined phone, the blocked value.
"""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlmodel import Session, select

from cloud.accounts import tenants, users
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.app import create_app
from cloud.bootstrap import bootstrap
from cloud.db import make_engine, migrate
from cloud.fleet import enrollment
from cloud.identity import service
from cloud.ingest.models import ReceiptRow
from cloud.privacy.keys import load_identity_keys
from sync.protocol import ENROLL_PATH, batch_path
from tests.support.live_server import live_server
from tests.support.receipts import wire_receipt

HERE = Path(__file__).parent
PASSWORD = "screenshots only"
ADMIN = "admin@romashka.example"


def _seed(url: str, base: str) -> int:
    """The tenant and its receipts, linked; returns the id of the buyer's first receipt."""
    engine = make_engine(url)
    with Session(engine) as s:
        tenant, _key = tenants.create_tenant(s, "Ромашка")
        assert tenant.id is not None
        tenant_id = tenant.id
        store = tenants.create_store(s, tenant_id, "Тверская 7", "Москва")
        assert store.id is not None
        store_id = store.id
        users.add_user(s, tenant_id, ADMIN, PASSWORD, Role.ADMIN, StoreScope.of(None, None), "cli")
        code = enrollment.issue_enrollment_code(s, store_id, timedelta(hours=1)).code
        service.block(
            s,
            load_identity_keys(url),
            tenant_id,
            "phone",
            "8 (495) 000-00-01",
            "телефон магазина",
            datetime.now(UTC),
        )
    reg = httpx.post(base + ENROLL_PATH, json={"code": code, "hostname": "till-1"}).json()

    def post(fd: int, kind: str, value: str, card: str) -> None:
        receipt = wire_receipt(fd, contact={"kind": kind, "value": value}, loyalty_card=card)
        httpx.post(
            base + batch_path(store_id),
            json={"receipts": [receipt]},
            headers={"Authorization": f"Bearer {reg['token']}"},
        ).raise_for_status()

    post(1, "phone", "79161234567", "10001001")
    post(2, "phone", "79161234567", "10001002")
    post(3, "email", "anna.petrova@example.ru", "10001002")
    for n in range(7):  # the cashier types her own phone for buyers without a contact
        post(10 + n, "phone", "79990001122", f"2000{n:04d}")
    runtime = bootstrap(engine, base)
    worker = runtime.worker()
    try:
        while worker.run_once():
            pass
    finally:
        runtime.close()
    with Session(engine) as s:
        row = s.exec(select(ReceiptRow).where(ReceiptRow.fd_number == 1)).one()
        assert row.id is not None
        receipt_id = row.id
    engine.dispose()
    return receipt_id


def _shot(page: Page, base: str, path: str, name: str) -> None:
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    if width > viewport["width"]:
        raise SystemExit(f"{name}: the page is {width} px wide in a {viewport['width']} px viewport")
    page.screenshot(path=str(HERE / name), full_page=True)
    print(HERE / name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cloud.db"
        migrate(url)
        with live_server(create_app(url)) as base, sync_playwright() as p:
            receipt_id = _seed(url, base)
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            for width, name in ((320, "identity-phone.png"), (1280, "identity-desktop.png")):
                page = browser.new_page(viewport={"width": width, "height": 800}, locale="ru-RU")
                page.goto(base + "/login")
                page.fill("#email", ADMIN)
                page.fill("#password", PASSWORD)
                page.click("#sign-in")
                page.wait_for_load_state()
                _shot(page, base, f"/identity?receipt={receipt_id}", name)
            browser.close()


if __name__ == "__main__":
    main()
