"""The buyer's pages: the popup's QR landing waits for the receipt, then shows it; message links work."""

import sqlalchemy as sa

from cloud.delivery.models import DeliveryRow
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud
from tests.support.receipts import wire_receipt

LANDING = "Zr4nd0m-landing0"


def test_qr_landing_waits_then_shows_the_receipt_and_counts_as_opened(cloud: Cloud) -> None:
    reg = cloud.register()
    url = f"/r/c/{reg.register_id}/{LANDING}"
    waiting = cloud.http.get(url)
    assert waiting.status_code == 200
    assert "Чек почти готов" in waiting.text
    assert waiting.headers["cache-control"] == "no-store"

    receipt = wire_receipt(
        1,
        contact={"kind": "email", "value": "maria@example.ru"},
        extra={"checkout_id": "T1-1", "landing": LANDING},
    )
    receipt["items"][0]["name"] = "<script>alert(1)</script>"
    stored = cloud.http.post(batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth)
    assert stored.json()["accepted"][0]["status"] == "stored"
    cloud.run_jobs()  # "receipt stored" → its delivery (whose link the landing opens)

    shown = cloud.http.get(url)
    assert shown.status_code == 200
    assert "Итого: 52.00 ₽" in shown.text
    assert "<script>" not in shown.text  # every receipt value is escaped
    with cloud.session() as s:
        opened = s.execute(sa.select(DeliveryRow.opened_at)).scalar_one()
    assert opened is not None
    assert cloud.http.get(f"/r/c/{reg.register_id + 1}/{LANDING}").text == waiting.text  # other register


def test_message_link_shows_the_receipt_and_unknown_tokens_are_404(cloud: Cloud) -> None:
    reg = cloud.register()
    receipt = wire_receipt(2, contact={"kind": "phone", "value": "79161234567"})
    cloud.http.post(
        batch_path(reg.store_id), json={"receipts": [receipt]}, headers=reg.auth
    ).raise_for_status()
    cloud.run_jobs()
    with cloud.session() as s:
        token = s.execute(sa.select(DeliveryRow.link_token)).scalar_one()
    page = cloud.http.get(f"/r/{token}")
    assert page.status_code == 200
    assert "ФН 9251440300227597 ФД 2" in page.text
    assert cloud.http.get("/r/" + "x" * 20).status_code == 404
    assert cloud.http.get("/r/short").status_code == 404
