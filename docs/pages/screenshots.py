"""Regenerate the buyer's receipt-page screenshots in this folder with Debian's Chromium (/usr/bin/chromium):

    PYTHONPATH=$PWD .venv/bin/python docs/pages/screenshots.py

A fresh SQLite cloud with one store (seller, INN, address, time zone set as `tenant set` / `store set` do) and
one sale at two VAT rates with a discount, served on loopback; its QR landing is shot at phone width
(390×844) and desktop width (1280×900).
"""

import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.app import create_app
from cloud.db import make_engine, migrate
from cloud.fleet import enrollment
from sync.protocol import ENROLL_PATH, batch_path
from tests.support.live_server import live_server
from tests.support.receipts import wire_receipt

HERE = Path(__file__).parent
LANDING = "Zr4nd0m-landing0"
SHOTS = {"receipt-phone.png": "390,844", "receipt-desktop.png": "1280,900"}


def _seed(url: str, base: str) -> str:
    """The store and its receipt; returns the receipt's QR landing path."""
    with Session(make_engine(url)) as s:
        tenant, _key = tenants.create_tenant(s, "Ромашка")
        assert tenant.id is not None
        store = tenants.create_store(s, tenant.id, "Ленина 1")
        assert store.id is not None
        tenants.set_tenant_details(
            s, tenant.id, legal_name='ООО "Ромашка"', inn="7707083893", taxation="usn_income"
        )
        tenants.set_store_details(
            s,
            store.id,
            address="620014, г. Екатеринбург, ул. Ленина, д. 1",
            settlement_place="Магазин «Ромашка»",
            time_zone="Asia/Yekaterinburg",
        )
        code = enrollment.issue_enrollment_code(s, store.id, timedelta(hours=1)).code
        store_id = store.id
    reg = httpx.post(base + ENROLL_PATH, json={"code": code, "hostname": "till-1"}).json()
    items = [
        {"name": "Кофе зерновой 250 г", "price": 10000, "quantity": "2", "total": 18000, "vat": "vat20"},
        {"name": "Молоко 3,2% 1 л", "price": 5200, "quantity": "1", "total": 5200, "vat": "vat10"},
    ]
    receipt = wire_receipt(
        36,
        total=23200,
        contact={"kind": "phone", "value": "79161234567"},
        items=items,
        payments=[{"kind": "cash", "amount": 3200}, {"kind": "card", "amount": 20000}],
        extra={"landing": LANDING, "cashier": "Иванова А."},
    )
    httpx.post(
        base + batch_path(store_id),
        json={"receipts": [receipt]},
        headers={"Authorization": f"Bearer {reg['token']}"},
    ).raise_for_status()
    return f"/r/c/{reg['register_id']}/{LANDING}"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cloud.db"
        migrate(url)
        with live_server(create_app(url)) as base:
            path = _seed(url, base)
            for name, size in SHOTS.items():
                subprocess.run(
                    [
                        "/usr/bin/chromium",
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--hide-scrollbars",
                        f"--screenshot={HERE / name}",
                        f"--window-size={size}",
                        base + path,
                    ],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                print(HERE / name)


if __name__ == "__main__":
    main()
