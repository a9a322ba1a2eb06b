"""The template editor over HTTP: only the templates permission (owner, admin) gets in; a block's settings,
segment rules and holdout are edited with plain forms (CSRF-checked), each change is a new version,
previews are framed by the editor only, publish and roll back move what buyers see."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import sqlalchemy as sa

from cloud.pages.models import PageTemplate
from cloud.pages.webhook import verify
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, now_utc
from tests.support.receipts import wire_receipt


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_only_the_templates_permission_opens_the_editor(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    cloud.user(tenant_id, "analyst@shop.example", "analyst")
    cloud.user(tenant_id, "it@shop.example", "store_it")
    for email in ("analyst@shop.example", "it@shop.example"):
        with cloud.browser(email) as b:
            for path in ("/admin/page", "/admin/page/blocks/footer", "/admin/page/preview/0"):
                assert b.get(path).status_code == 403, (email, path)
            assert b.post("/admin/page/rollback", data={"csrf": "x"}).status_code == 403
            assert "Шаблон чека" not in b.get("/account").text
    assert cloud.http.get("/admin/page", follow_redirects=False).status_code == 303  # sign in first


def test_an_admin_edits_a_block_previews_publishes_and_rolls_back(cloud: Cloud) -> None:
    reg = cloud.register()
    cloud.user(reg.tenant_id, "admin@shop.example", "admin")
    receipt = wire_receipt(
        1, contact={"kind": "phone", "value": "79161234567"}, extra={"landing": "landing-edit-0001"}
    )
    cloud.http.post(
        batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth
    ).raise_for_status()
    page_path = f"/r/c/{reg.register_id}/landing-edit-0001"
    with cloud.browser("admin@shop.example") as b:
        editor = b.get("/admin/page")
        assert editor.status_code == 200
        assert "Шаблон электронного чека" in editor.text
        csrf = _csrf(editor.text)
        assert b.post("/admin/page/blocks/footer", data={"csrf": "wrong", "s.text": "x"}).status_code == 403
        form = b.get("/admin/page/blocks/footer")
        assert 'name="s.text"' in form.text
        saved = b.post(
            "/admin/page/blocks/footer",
            data={"csrf": csrf, "rules": "0", "s.text": "Ждём вас снова в {{ store }}!", "add_rule": "1"},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/page/blocks/footer"
        ruled = b.post(
            "/admin/page/blocks/footer",
            data={
                "csrf": csrf,
                "rules": "1",
                "s.text": "Ждём вас снова в {{ store }}!",
                "holdout": "0",
                "r0.regions": "Санкт-Петербург",
                "r0.total_over": "10000",
                "r0.s.text": "Спасибо за крупную покупку!",
            },
        )
        assert ruled.status_code == 303
        bad = b.post("/admin/page/blocks/footer", data={"csrf": csrf, "rules": "0", "s.text": "{% for %}"})
        assert bad.status_code == 422
        assert "текст с ошибкой" in bad.text
        bad_link = b.post("/admin/page/add", data={"csrf": csrf, "type": "link_banner"})
        assert bad_link.status_code == 303
        refused = b.post(
            "/admin/page/blocks/link-banner",
            data={"csrf": csrf, "rules": "0", "s.link": "javascript:alert(1)", "s.button": "x"},
        )
        assert refused.status_code == 422
        assert "https://" in refused.text
        with cloud.session() as s:
            rows = s.execute(sa.select(PageTemplate).order_by(PageTemplate.number)).scalars().all()  # type: ignore[arg-type]
        assert [r.number for r in rows] == [1, 2, 3]  # every change a version; refused ones none
        assert rows[1].body["blocks"][-1]["rules"][0]["when"]["total_over"] == 1_000_000
        # The preview: the segment list names the rule; each segment framed at both widths.
        editor = b.get("/admin/page?segment=1").text
        assert "регион: Санкт-Петербург; чек больше 10000 ₽" in editor
        assert editor.count("<iframe") == 2
        assert 'width="320"' in editor
        assert 'width="640"' in editor
        preview = b.get(f"/admin/page/preview/{rows[-1].id}?segment=2")  # 1: the default loyalty rule
        assert preview.status_code == 200
        assert "Спасибо за крупную покупку!" in preview.text
        assert preview.headers["x-frame-options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
        assert "Ждём вас снова в" in b.get(f"/admin/page/preview/{rows[-1].id}?segment=0").text
        # Buyers still see the default until a version is published.
        assert "Ждём вас снова" not in cloud.http.get(page_path).text
        b.post("/admin/page/publish", data={"csrf": csrf, "version": str(rows[1].id)})
        assert "Ждём вас снова в Tverskaya 7!" in cloud.http.get(page_path).text
        published = b.post("/admin/page/publish", data={"csrf": csrf, "version": str(rows[0].id)})
        assert "Опубликовано" in published.text
        rolled = b.post("/admin/page/rollback", data={"csrf": csrf})
        assert "Откат выполнен" in rolled.text
        assert "admin@shop.example" in rolled.text
        assert "Ждём вас снова в Tverskaya 7!" in cloud.http.get(page_path).text
        audit = b.get("/admin/audit").text
        assert "шаблон чека откачен" in audit
        assert "шаблон чека опубликован" in audit


class _Crm(BaseHTTPRequestHandler):
    """The tenant's CRM: refuses the first delivery (500), takes the rest; keeps what it got."""

    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first: ClassVar[list[bool]] = [True]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((dict(self.headers), body))
        status = 500 if self.fail_first and self.fail_first.pop() else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_answers_go_to_the_crm_webhook_signed_and_retried(cloud: Cloud) -> None:
    _Crm.got.clear()  # class-level state: the other database's run of this test used it
    _Crm.fail_first[:] = [True]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Crm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reg = cloud.register()
        cloud.user(reg.tenant_id, "admin@shop.example", "admin")
        with cloud.browser("admin@shop.example") as b:
            csrf = _csrf(b.get("/admin/page").text)
            refused = b.post("/admin/page/webhook", data={"csrf": csrf, "url": "http://crm.example/hook"})
            assert refused.status_code == 422
            url = f"http://127.0.0.1:{server.server_port}/hook"
            issued = b.post("/admin/page/webhook", data={"csrf": csrf, "url": url})
            secret = re.search(r'class="secret"[^>]*>([^<]+)<', issued.text)
            assert secret is not None
        receipt = wire_receipt(
            2, contact={"kind": "phone", "value": "79161234567"}, extra={"landing": "landing-hook-0002"}
        )
        cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
        page = cloud.http.get(f"/r/c/{reg.register_id}/landing-hook-0002").text
        section = page.split('data-block="loyalty"', 1)[1].split("</section>", 1)[0]
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', section))
        assert cloud.http.post("/r/act", data={**form, "action": "signup"}).status_code == 303
        cloud.run_jobs()  # the CRM answers 500: the job waits for its retry
        assert len(_Crm.got) == 1
        with cloud.session() as s:
            s.execute(
                sa.text("UPDATE job SET due_at = :now WHERE name = 'pages.webhook'"), {"now": now_utc()}
            )
            s.commit()
        cloud.run_jobs()
        assert len(_Crm.got) == 2
        headers, body = _Crm.got[-1]
        assert verify(secret.group(1).strip(), headers["X-Echeck-Signature"], body)
        assert not verify("another secret", headers["X-Echeck-Signature"], body)
        sent = json.loads(body)
        assert headers["X-Echeck-Delivery"] == str(sent["id"]) == _Crm.got[0][0]["X-Echeck-Delivery"]
        assert (sent["kind"], sent["field"], sent["contact"]) == ("loyalty", "signup", "79161234567")
        assert sent["consent_id"] is not None
        cloud.run_jobs()
        assert len(_Crm.got) == 2  # delivered once
    finally:
        server.shutdown()
