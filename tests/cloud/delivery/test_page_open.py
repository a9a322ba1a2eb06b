"""The push step's "delivered or opened": a person's open of the e-receipt (reported by the page's script)
ends the cascade on that step; a link preview's fetch, or its replay of the script, does not."""

import sqlalchemy as sa

from cloud.delivery import config as delivery_config
from cloud.delivery import service
from cloud.delivery.models import DeliveryRow
from fakes.behaviour import Mode
from tests.cloud.delivery.conftest import Rig, drain
from tests.support.page_script import Phone

PHONE = "+79160000011"


def _link(rig: Rig, receipt_id: int) -> str:
    with rig.session() as s:
        token = s.execute(
            sa.select(DeliveryRow.link_token).where(DeliveryRow.receipt_id == receipt_id)
        ).scalar_one()
    return f"/r/{token}"


def test_a_persons_open_is_the_push_steps_success_and_a_preview_is_not(rig: Rig) -> None:
    with rig.session() as s:
        delivery_config.set_policy(s, rig.reg.tenant_id, "push:600:delivered,viber:600:delivered")
        service.register_device(s, rig.cloud.keys, rig.reg.tenant_id, PHONE, "fcm-token-of-buyer-11-xxxxxxxx")
    rig.fakes.push.default = Mode.SILENT  # accepted; the app never says "delivered"
    receipt_id = rig.send_receipts([PHONE])[0]
    worker = rig.worker()
    try:
        drain(worker, lambda: rig.timeline(receipt_id)["delivery"]["status"] == "waiting")
        path = _link(rig, receipt_id)
        preview = Phone(rig.base_url, user_agent="TelegramBot (like TwitterBot)")
        try:
            preview.view(path)  # fetched, and even its replay of the script's open
        finally:
            preview.close()
        assert rig.timeline(receipt_id)["delivery"]["status"] == "waiting"
        assert rig.timeline(receipt_id)["delivery"]["opened_at"] is None

        person = Phone(rig.base_url)
        try:
            person.view(path)
        finally:
            person.close()
        worker.run_once()
    finally:
        worker.close()
    tl = rig.timeline(receipt_id)
    assert tl["delivery"]["status"] == "delivered"
    assert tl["delivery"]["channel"] == "push"
    assert tl["delivery"]["opened_at"] is not None
    push = tl["attempts"][0]
    assert push["status"] == "read"
    assert push["read_at"] is not None
    assert any("the buyer opened the e-receipt page" in h["what"] for h in push["history"])
    assert [a["channel"] for a in tl["attempts"]] == ["push"]  # Viber never paid for
    assert rig.fakes.viber.messages == []
