"""Regenerate the head-office screenshots in this folder with the real Chromium (Debian's /usr/bin/chromium):

    PYTHONPATH=$PWD .venv/bin/python docs/headoffice/screenshots.py

A fresh SQLite cloud with a small chain (two regions, registers in every state, one revoked), served on
loopback; pages shot at phone width (390 px) and desktop width (1280 px).
"""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright
from sqlmodel import Session

from cloud.accounts import register_credentials, tenants, users
from cloud.accounts.models import Register
from cloud.accounts.roles import Role
from cloud.accounts.scope import StoreScope
from cloud.app import create_app
from cloud.db import make_engine, migrate
from cloud.fleet import enrollment
from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH
from tests.support.live_server import live_server

HERE = Path(__file__).parent
PASSWORD = "демо-пароль-2026"


def _seed(url: str, base: str) -> None:
    engine = make_engine(url)
    now = datetime.now(UTC)
    with Session(engine) as s, httpx.Client(base_url=base) as http:
        tenant, _key = tenants.create_tenant(s, "ООО «Хозтовары»")
        assert tenant.id is not None
        plan = [("Тверская 7", "Москва", 3), ("Арбат 12", "Москва", 2), ("Баумана 3", "Казань", 2)]
        tokens: list[tuple[int, str]] = []
        for name, region, count in plan:
            store = tenants.create_store(s, tenant.id, name, region)
            assert store.id is not None
            for n in range(count):
                code = enrollment.issue_enrollment_code(s, store.id).code
                body = http.post(
                    ENROLL_PATH,
                    json={"code": code, "hostname": f"{region[:3].lower()}-{store.id}-till{n + 1}"},
                ).json()
                tokens.append((body["register_id"], body["token"]))
        for i, (_register_id, token) in enumerate(tokens):
            if i == 4:
                continue  # never seen
            beat = {
                "agent_version": "0.1.0",
                "queue_depth": [0, 0, 14, 0, 0, 3, 0][i],
                "rejected_count": 1 if i == 2 else 0,
                "register_time": (now + timedelta(seconds=200 if i == 5 else 1)).isoformat(),
                "last_sync_at": now.isoformat(),
            }
            http.post(HEARTBEAT_PATH, json=beat, headers={"Authorization": f"Bearer {token}"})
        stale = s.get(Register, tokens[3][0])
        assert stale is not None
        stale.last_heartbeat_at = now - timedelta(hours=5)
        s.add(stale)
        s.commit()
        register_credentials.revoke_register(s, tenant.id, tokens[6][0], actor="owner@hoztovary.example")
        owner = "owner@hoztovary.example"
        people = [
            (owner, Role.OWNER, StoreScope(), "cli"),
            ("it.kazan@hoztovary.example", Role.STORE_IT, StoreScope.of([], ["Казань"]), owner),
            ("analyst@hoztovary.example", Role.ANALYST, StoreScope.of([], ["Москва"]), owner),
        ]
        for email, role, scope, actor in people:
            users.add_user(s, tenant.id, email, PASSWORD, role, scope, actor=actor)
        users.invite(
            s,
            tenant.id,
            "new.admin@hoztovary.example",
            Role.ADMIN,
            StoreScope(),
            actor="owner@hoztovary.example",
        )
    engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/cloud.db"
        migrate(url)
        with live_server(create_app(url)) as base:
            _seed(url, base)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                for width, suffix in ((390, "phone"), (1280, "desktop")):
                    page = browser.new_context(
                        base_url=base, viewport={"width": width, "height": 844}
                    ).new_page()
                    page.goto("/login")
                    page.screenshot(path=str(HERE / f"sign-in-{suffix}.png"), full_page=True)
                    page.fill("#email", "owner@hoztovary.example")
                    page.fill("#password", PASSWORD)
                    page.click("#sign-in")
                    page.wait_for_url("**/fleet")
                    page.screenshot(path=str(HERE / f"fleet-{suffix}.png"), full_page=True)
                    page.goto("/admin/users")
                    page.screenshot(path=str(HERE / f"users-{suffix}.png"), full_page=True)
                    if suffix == "desktop":
                        page.goto("/admin/keys")
                        page.screenshot(path=str(HERE / "keys-desktop.png"), full_page=True)
                        page.goto("/admin/audit")
                        page.screenshot(path=str(HERE / "audit-desktop.png"), full_page=True)
                browser.close()


if __name__ == "__main__":
    main()
