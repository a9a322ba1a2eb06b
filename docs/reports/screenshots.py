"""Regenerate the dashboards' screenshots in this folder with the real Chromium (Debian's /usr/bin/chromium):

    PYTHONPATH=$PWD .venv/bin/python docs/reports/screenshots.py [--serve]

A fresh SQLite cloud with a chain of 8 stores in 3 regions and a month of seeded receipts, deliveries, page
events and promo codes (benchmarks/support/report_data.py), served on loopback; every dashboard shot at a
phone's 360 px and a desktop's 1280 px, signed in as the owner, and the Sending dashboard as a regional
analyst. `--serve` keeps the cloud running afterwards (and prints its address) to look around by hand.
"""

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlmodel import Session

from benchmarks.support.report_data import make_chain, seed_month
from cloud.accounts import tenants, users
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.app import create_app
from cloud.db import make_engine, migrate
from tests.support.live_server import live_server

HERE = Path(__file__).parent
PASSWORD = "демо-пароль-2026"
STORES = [
    ("Тверская 7", "Москва"),
    ("Арбат 12", "Москва"),
    ("Ленинский 45", "Москва"),
    ("Баумана 3", "Казань"),
    ("Кремлёвская 2", "Казань"),
    ("Невский 28", "Санкт-Петербург"),
    ("Лиговский 30", "Санкт-Петербург"),
    ("Садовая 5", "Санкт-Петербург"),
]
DASHBOARDS = ("fleet", "sending", "elements", "ropo")


def seed(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as s:
        tenant, _key = tenants.create_tenant(s, "ООО «Хозтовары»")
        assert tenant.id is not None
        tenant_id = tenant.id
        users.add_user(
            s, tenant_id, "owner@hoztovary.example", PASSWORD, Role.OWNER, StoreScope(), actor="cli"
        )
        users.add_user(
            s,
            tenant_id,
            "analyst.kazan@hoztovary.example",
            PASSWORD,
            Role.ANALYST,
            StoreScope.of([], ["Казань"]),
            actor="cli",
        )
    chain = make_chain(engine, tenant_id, STORES, registers_per_store=3)
    seed_month(engine, chain, end=datetime.now(UTC), days=30, receipts_per_register_day=12, seed=7)
    engine.dispose()


def shoot(base: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for email, who in (("owner@hoztovary.example", ""), ("analyst.kazan@hoztovary.example", "analyst-")):
            for width in (360, 1280):
                context = browser.new_context(
                    base_url=base, viewport={"width": width, "height": 800}, locale="ru-RU"
                )
                page = context.new_page()
                page.goto("/login")
                page.fill("#email", email)
                page.fill("#password", PASSWORD)
                page.click("#sign-in")
                page.wait_for_load_state()
                for slug in DASHBOARDS if not who else ("sending",):
                    page.goto(f"/reports/{slug}?since={_month_ago()}")
                    # A phone's shot: the first three screens (a whole dashboard is tens of screens long).
                    height = page.evaluate("document.documentElement.scrollHeight")
                    clip = {
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": min(height, 2400 if width < 400 else 4000),
                    }
                    page.screenshot(path=str(HERE / f"{who}{slug}-{width}.png"), full_page=True, clip=clip)
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, (slug, width)
                context.close()
        browser.close()


def _month_ago() -> str:
    from datetime import timedelta

    return (datetime.now(UTC) - timedelta(days=29)).date().isoformat()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cloud.db"
        migrate(url)
        seed(url)
        with live_server(create_app(url)) as base:
            shoot(base)
            if "--serve" in sys.argv:
                print(f"{base}  (owner@hoztovary.example / {PASSWORD}); Ctrl-C to stop", flush=True)
                while True:
                    time.sleep(3600)


if __name__ == "__main__":
    main()
