"""The cascade against the fake providers over real SMTP and HTTP, on SQLite and PostgreSQL."""

import json
import logging
import time

import httpx
import pytest

from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import Channel
from cloud.delivery.channels.base import hmac_hex
from fakes.behaviour import Mode
from tests.cloud.delivery.conftest import SMS_SECRET, VIBER_TOKEN, Rig, all_finished, drain
from tests.support.live_server import free_port


def test_each_buyer_gets_the_cheapest_channel_that_works(rig: Rig) -> None:
    f = rig.fakes
    with rig.session() as s:
        from cloud.delivery import service

        service.register_device(
            s, rig.cloud.keys, rig.reg.tenant_id, "+79160000001", "fcm-token-of-buyer-1-xxxxxxxx"
        )
    f.viber.recipients = {"79160000003": "reject"}  # not a Viber user → SMS
    ids = rig.send_receipts(["anna@example.com", "+79160000001", "+79160000002", "+79160000003", None])
    worker = rig.worker()
    try:
        drain(worker, lambda: all_finished(rig, 4))
    finally:
        worker.close()
    channels = {rid: rig.timeline(rid)["delivery"]["channel"] for rid in ids[:4]}
    assert channels == {ids[0]: "email", ids[1]: "push", ids[2]: "viber", ids[3]: "sms"}
    assert rig.timeline(ids[4])["delivery"] is None  # no contact, no delivery
    assert [m["to"] for m in f.sms.messages] == ["79160000003"]  # SMS only for the one without Viber
    sms_tl = rig.timeline(ids[3])
    assert [a["channel"] for a in sms_tl["attempts"]] == ["viber", "sms"]
    assert sms_tl["attempts"][0]["status"] == "failed"
    assert sms_tl["delivery"]["cost_kopecks"] == 140
    summary = rig.cloud.http.get("/v1/delivery/summary", headers=rig.reg.tenant_auth).json()["total"]
    assert summary["receipts"] == 4
    assert summary["delivered"] == 4
    assert summary["channel_mix"] == {"email": 1, "push": 1, "viber": 1, "sms": 1}
    assert summary["cost_kopecks"] == 140 + 60
    assert summary["operator_cost_kopecks"] == 800


def test_garbage_reports_get_clear_answers_change_nothing_and_log_no_contact(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    ids = rig.send_receipts(["+79160000005"])
    rig.fakes.viber.default = Mode.SILENT  # accepted, never reported: we report by hand below
    worker = rig.worker()
    try:
        drain(worker, lambda: rig.timeline(ids[0])["delivery"]["status"] == "waiting")
    finally:
        worker.close()
    token = rig.timeline(ids[0])["attempts"][0]["provider_message_id"]
    cb = f"/v1/delivery/callbacks/{rig.reg.tenant_id}"
    http = rig.cloud.http
    caplog.set_level(logging.INFO, logger="cloud")

    def viber(doc: object, signature: str | None = None) -> httpx.Response:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        sig = signature if signature is not None else hmac_hex(VIBER_TOKEN, body)
        return http.post(f"{cb}/viber", content=body, headers={"X-Viber-Content-Signature": sig})

    now_ms = int(time.time() * 1000)
    delivered = {
        "event": "delivered",
        "timestamp": now_ms,
        "message_token": int(token),
        "user_id": "79160000005",
    }
    assert viber(b"{not json").status_code == 400
    assert viber(delivered, signature="0" * 64).status_code == 401
    assert viber(delivered, signature="").status_code == 401
    assert viber({"event": "delivered"}).status_code == 400  # no message_token
    unknown = viber({**delivered, "message_token": 999}).json()
    assert unknown == {"applied": 0, "late": 0, "unknown": 1, "replayed": 0}
    sms = http.post(f"{cb}/sms/wrong-secret", data={"data[]": "sms_status\n1\n103\n1"})
    assert sms.status_code == 401
    # The secret in the query string (how it used to travel, and got logged) opens nothing.
    assert http.post(f"{cb}/sms", params={"secret": SMS_SECRET}, data={"data[]": "x"}).status_code == 404
    sms = http.post(f"{cb}/sms/{SMS_SECRET}", data={"data[]": "sms_status\nnope\n103\n1"})
    assert sms.status_code == 200
    assert sms.text == "100"
    assert (
        http.post(f"{cb}/email", content=b"{}", headers={"X-Echeck-Signature": "sha256=00"}).status_code
        == 401
    )
    assert (
        http.post(
            "/v1/delivery/app/events", json={"event": "opened"}, headers=rig.reg.tenant_auth
        ).status_code
        == 400
    )
    assert http.post("/v1/delivery/callbacks/999/viber", content=b"{}").status_code == 404
    assert rig.timeline(ids[0])["delivery"]["status"] == "waiting"  # nothing changed
    assert viber(delivered).json() == {"applied": 1, "late": 0, "unknown": 0, "replayed": 0}
    assert rig.timeline(ids[0])["delivery"]["status"] == "delivered"
    again = viber(delivered).json()  # the same callback again: a replay, applies nothing
    assert again == {"applied": 0, "late": 0, "unknown": 0, "replayed": 1}
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert "report.refused" in logged
    assert "report.unknown_message" in logged
    assert "9160000005" not in logged


def test_a_provider_down_for_the_whole_run_fails_over_and_others_flow(rig: Rig) -> None:
    with rig.session() as s:
        # Viber answers nothing at all: a closed port. Tenant policies allow deadlines from 15 s.
        delivery_config.set_channel(
            s, rig.reg.tenant_id, Channel.VIBER, {"base_url": f"http://127.0.0.1:{free_port()}"}
        )
        delivery_config.set_policy(s, rig.reg.tenant_id, "email:15:accepted,viber:15,sms:60")
    phones = [f"+7916000{n:04d}" for n in range(10)]
    ids = rig.send_receipts(["x1@example.com", *phones, "x2@example.com"])
    worker = rig.worker()
    try:
        drain(worker, lambda: all_finished(rig, len(ids)), timeout=60)
    finally:
        worker.close()
    for rid in ids:
        tl = rig.timeline(rid)
        assert tl["delivery"]["status"] == "delivered"
    sms = [rig.timeline(rid) for rid in ids[1:-1]]
    assert all(t["delivery"]["channel"] == "sms" for t in sms)
    assert all(t["attempts"][0]["status"] == "failed" for t in sms)
    assert len(rig.fakes.sms.messages) == len(phones)  # exactly one SMS each
    assert len(rig.fakes.mail.messages) == 2
