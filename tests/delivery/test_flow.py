"""The cascade against the fake providers over real SMTP and HTTP, on SQLite and PostgreSQL."""

from tests.delivery.conftest import Rig, drain, statuses


def test_each_buyer_gets_the_cheapest_channel_that_works(rig: Rig) -> None:
    f = rig.fakes
    with rig.session() as s:
        from cloud.delivery import service

        service.register_device(s, rig.reg.tenant_id, "+79160000001", "fcm-token-of-buyer-1-xxxxxxxx")
    f.viber.recipients = {"79160000003": "reject"}  # not a Viber user → SMS
    ids = rig.send_receipts(["anna@example.com", "+79160000001", "+79160000002", "+79160000003", None])
    worker = rig.worker()
    try:
        with rig.session() as s:
            drain(worker, lambda: all(v in ("delivered", "failed", "unreachable") for v in statuses(s).values())
                  and len(statuses(s)) == 4)  # fmt: skip
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
    assert summary["receipts"] == 4 and summary["delivered"] == 4
    assert summary["channel_mix"] == {"email": 1, "push": 1, "viber": 1, "sms": 1}
    assert summary["cost_kopecks"] == 140 + 60
    assert summary["operator_cost_kopecks"] == 800
