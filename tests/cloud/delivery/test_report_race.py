"""A provider's report that overtakes the worker: the provider calls back before the worker has written the
message id it answered with. The field simulator lost one delivery this way (an SMS "delivered" answered as
an unknown message id, then the step waited out its 3600 s deadline). Reproduced deterministically: the
fake SMS.ru stays silent and the report is posted, over the real callback, from inside the worker's
provider call, after SMS.ru answered and before the worker could record the answer."""

import time

import httpx
from sqlmodel import select

from cloud.delivery import service
from cloud.delivery.cascade import Channel
from cloud.delivery.models import ReportRow
from fakes.behaviour import Mode
from tests.cloud.delivery.conftest import SMS_SECRET, Rig, drain


def test_a_report_that_arrives_before_the_send_is_recorded_still_ends_the_step(rig: Rig) -> None:
    f = rig.fakes
    f.viber.default = Mode.REJECT  # not a Viber user → SMS, whose step waits 3600 s for "delivered"
    f.sms.default = Mode.SILENT  # the report below is the only one
    ids = rig.send_receipts(["+79160000042"])
    callback = f"{rig.base_url}/v1/delivery/callbacks/{rig.reg.tenant_id}/sms/{SMS_SECRET}"
    answers: list[httpx.Response] = []

    def report_first(response: httpx.Response) -> None:
        if not response.url.path.endswith("/sms/send"):
            return
        response.read()
        sms_id = next(iter(response.json()["sms"].values()))["sms_id"]
        line = f"sms_status\n{sms_id}\n103\n{int(time.time())}"  # 103: delivered
        answers.append(httpx.post(callback, data={"data[]": line}))

    worker = rig.worker(http=httpx.Client(timeout=10, event_hooks={"response": [report_first]}))
    try:
        # Without the fix the report is "unknown" and the delivery waits an hour: this drain times out.
        drain(worker, lambda: rig.timeline(ids[0])["delivery"]["status"] == "delivered")
        assert [a.status_code for a in answers] == [200]
        tl = rig.timeline(ids[0])
        assert tl["delivery"]["channel"] == "sms"
        sms = tl["attempts"][1]
        assert sms["status"] == "delivered"
        assert any("before the send was recorded" in h["what"] for h in sms["history"])
        assert [r["effect"] for r in tl["reports"]] == ["applied"]  # parked, then applied once
        with rig.session() as s:
            again = service.replay_parked(
                s, rig.reg.tenant_id, Channel.SMS, sms["provider_message_id"], {}, service._now()
            )
            assert again == 0  # the callback and the worker may both try; it applies once
            assert len(s.exec(select(ReportRow)).all()) == 1
    finally:
        worker.close()
