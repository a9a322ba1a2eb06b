"""The ATOL proxy between a POS (httpx) and the ATOL web server emulator, both on real loopback HTTP."""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from drivers.atol import emulator as emu
from drivers.atol.proxy import AtolProxyServer, ProxySettings
from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.protocol import receipts_path
from sync.settings import SyncSettings
from sync.worker import SyncWorker
from tests.cloud import conftest as cloud_support
from tests.drivers.support import cashier
from tests.support.live_server import live_server

cloud = cloud_support.cloud  # the cloud served on loopback (tests/cloud/conftest.py)

SELL = {
    "type": "sell",
    "taxationType": "osn",
    "operator": {"name": "Иванова А."},
    "items": [
        {
            "type": "position",
            "name": "Молоко 3,2%",
            "price": 89.90,
            "quantity": 2,
            "amount": 179.80,
            "paymentMethod": "fullPayment",
            "paymentObject": "commodity",
            "tax": {"type": "vat10"},
        },
        {"type": "text", "text": "Спасибо за покупку"},
    ],
    "payments": [{"type": "electronically", "sum": 179.80}],
    "total": 179.80,
}


@dataclass
class Till:
    pos: httpx.Client
    upstream: httpx.Client
    emulator: emu.AtolEmulator
    service: CheckoutService
    outbox: Outbox

    def submit(self, tasks: list[dict], request_id: str | None = None) -> str:
        request_id = request_id or str(uuid.uuid4())
        answer = self.pos.post("/api/v2/requests", json={"uuid": request_id, "request": tasks})
        assert answer.status_code == 201, answer.text
        return request_id

    def result(self, request_id: str) -> dict:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = self.pos.get(f"/api/v2/requests/{request_id}").json()["results"][0]
            if answer["status"] not in ("wait", "inProgress"):
                return answer
            time.sleep(0.02)
        raise AssertionError("task never became final")

    def outbox_rows(self, count: int) -> list[dict]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(self.outbox.pending(100)) < count:
            time.sleep(0.02)
        return [r.payload for r in self.outbox.pending(100)]


@pytest.fixture
def till(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Till]:
    """The POS, the proxy in front of the emulator, the agent's service and outbox. Indirect parameters
    override ProxySettings."""
    overrides = getattr(request, "param", {})
    emulator = emu.AtolEmulator()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    service = CheckoutService(outbox)
    with live_server(emu.create_app(emulator)) as upstream_url:
        settings = ProxySettings(
            **{"upstream": upstream_url, "ask_timeout_s": 2.0, "poll_interval_s": 0.01, **overrides}
        )
        server = AtolProxyServer(CheckoutHook(service), settings, port=0).start()
        with (
            httpx.Client(base_url=server.url, timeout=10) as pos,
            httpx.Client(base_url=upstream_url, timeout=10) as upstream,
        ):
            yield Till(pos, upstream, emulator, service, outbox)
        server.stop()
    outbox.close()


def test_receipt_without_contact_gets_the_cashiers_answer_as_tag_1008(till: Till) -> None:
    with cashier(till.service.prompts, "8 (916) 123-45-67"):
        request_id = till.submit([SELL])
    result = till.result(request_id)
    assert result["status"] == "ready"
    params = result["result"]["fiscalParams"]
    [entry] = till.emulator.register.journal
    assert entry.tag_1008 == "+79161234567"
    [row] = till.outbox_rows(1)
    fiscal = row["fiscal"]
    assert (fiscal["fn_serial"], fiscal["fd_number"], fiscal["fpd"]) == (
        params["fnNumber"],
        params["fiscalDocumentNumber"],
        int(params["fiscalDocumentSign"]),
    )
    assert row["total"] == 17980
    assert row["contact"]["value"] == "79161234567"


def test_skip_or_no_answer_forwards_the_task_byte_for_byte(till: Till) -> None:
    with cashier(till.service.prompts, None):  # Esc
        body = httpx.Request("POST", "/", json={"uuid": "u-skip", "request": [SELL]}).content
        assert till.pos.post("/api/v2/requests", content=body).status_code == 201
    assert till.emulator.bodies[-1] == body
    assert till.result("u-skip")["status"] == "ready"
    [row] = till.outbox_rows(1)
    assert row["contact"] is None


def test_contact_from_the_pos_is_kept_and_nobody_is_asked(till: Till) -> None:
    task = {**SELL, "clientInfo": {"emailOrPhone": "buyer@example.ru"}}
    body = httpx.Request("POST", "/", json={"uuid": "u-pos", "request": [task]}).content
    assert till.pos.post("/api/v2/requests", content=body).status_code == 201
    assert till.emulator.bodies[-1] == body
    assert till.result("u-pos")["status"] == "ready"
    [row] = till.outbox_rows(1)
    assert row["contact"]["value"] == "buyer@example.ru"


def test_other_tasks_and_unknown_endpoints_pass_through_unchanged(till: Till) -> None:
    body = b'{"uuid": "u-x",  "request": [{"type": "reportX", "operator": {"name": "\\u0418"}}]}'
    assert till.pos.post("/api/v2/requests", content=body).status_code == 201
    assert till.emulator.bodies[-1] == body  # not even re-serialized
    for path in ("/api/v2/requests/u-x", "/api/v2/operations/queryDeviceInfo", "/api/v2/nonsense", "/x?y=1"):
        via_proxy, direct = till.pos.get(path), till.upstream.get(path)
        assert (via_proxy.status_code, via_proxy.content) == (direct.status_code, direct.content), path
    garbage = till.pos.post("/api/v2/requests", content=b"{not json")
    assert garbage.status_code == 400
    assert till.emulator.bodies[-1] == b"{not json"
    assert till.emulator.register.journal == []
    assert till.outbox.pending(10) == []


@pytest.mark.parametrize(
    "task_type", ["getDeviceInfo", "getFnInfo", "getRegistrationInfo", "ofdExchangeStatus", "getShiftStatus"]
)
def test_start_up_tasks_pass_through_unchanged(till: Till, task_type: str) -> None:
    """What a POS asks at start goes to the web server as it came and comes back as it was answered."""
    body = f'{{"uuid": "u-{task_type}", "request": [{{"type": "{task_type}"}}]}}'.encode()
    assert till.pos.post("/api/v2/requests", content=body).status_code == 201
    assert till.emulator.bodies[-1] == body
    result = till.result(f"u-{task_type}")
    assert result["status"] == "ready", result
    via_proxy = till.pos.get(f"/api/v2/requests/u-{task_type}")
    direct = till.upstream.get(f"/api/v2/requests/u-{task_type}")
    assert via_proxy.content == direct.content
    assert via_proxy.headers["content-type"] == direct.headers["content-type"]
    assert till.outbox.pending(10) == []


def test_register_that_prints_then_errors_is_answered_with_its_own_document_once(till: Till) -> None:
    till.emulator.faults.fiscalize_then_error = 1
    first = till.submit([SELL])
    result = till.result(first)
    assert result["status"] == "ready", "the proxy tells the POS the truth: the receipt was printed"
    [entry] = till.emulator.register.journal
    assert result["result"]["fiscalParams"]["fiscalDocumentNumber"] == entry.fiscal_document_number
    assert till.result(first) == result  # the same task asked again: the same answer
    again = till.pos.post("/api/v2/requests", json={"uuid": first, "request": [SELL]})
    assert again.status_code == 409, "the same task posted again is that task: printed once"
    assert len(till.emulator.register.journal) == 1
    assert till.result(first) == result
    [row] = till.outbox_rows(1)
    assert row["fiscal"]["fd_number"] == entry.fiscal_document_number


def test_after_a_recovery_identical_sales_are_each_printed_synced_and_stored(
    till: Till, cloud: cloud_support.Cloud
) -> None:
    """Issue 11's acceptance: "fiscalize then error" once, then three identical sales (a second bottle of the
    same milk, paid the same way): four documents, four outbox rows, four receipts in the cloud."""
    till.emulator.faults.fiscalize_then_error = 1
    answers = [till.result(till.submit([SELL])) for _ in range(4)]
    assert [a["status"] for a in answers] == ["ready"] * 4
    journal = till.emulator.register.journal
    assert len(journal) == 4
    numbers = [a["result"]["fiscalParams"]["fiscalDocumentNumber"] for a in answers]
    assert numbers == [e.fiscal_document_number for e in journal], "each sale its own document"
    assert len({e.request_uuid for e in journal}) == 4
    rows = till.outbox_rows(4)
    assert sorted(r["fiscal"]["fd_number"] for r in rows) == numbers

    register = cloud.register()
    with httpx.Client(base_url=cloud.http.base_url, auth=BearerToken(register.token), timeout=10) as client:
        worker = SyncWorker(till.outbox, client, SyncSettings(store_id=register.store_id))
        deadline = time.monotonic() + 30
        while till.outbox.stats().pending and time.monotonic() < deadline:
            worker.run_once()
    assert till.outbox.stats().acked == 4
    stored = cloud.http.get(receipts_path(register.store_id), headers=register.tenant_auth).json()
    assert len(stored["receipts"]) == 4


def test_a_refused_sale_is_not_answered_with_an_earlier_alike_receipt(till: Till) -> None:
    """The register printed this very sale earlier, behind the proxy's back (or before it started); now it
    refuses the same sale. The earlier document is not this task's: the POS hears the error."""
    direct = str(uuid.uuid4())
    assert till.upstream.post("/api/v2/requests", json={"uuid": direct, "request": [SELL]}).status_code == 201
    till.emulator.faults.refuse_receipts = 1
    refused = till.result(till.submit([SELL]))
    assert refused["status"] == "error"
    assert refused["errorDescription"] == "Нет бумаги"
    assert len(till.emulator.register.journal) == 1
    again = till.result(till.submit([SELL]))  # the POS sells again once there is paper: printed
    assert again["status"] == "ready"
    assert len(till.emulator.register.journal) == 2
    [row] = till.outbox_rows(1)
    assert row["fiscal"]["fd_number"] == again["result"]["fiscalParams"]["fiscalDocumentNumber"]


@pytest.mark.parametrize("till", [{"fallback_poll_after_s": 60.0}], indirect=True)
def test_a_receipt_nobody_polled_yet_is_not_taken_by_a_later_refused_sale(till: Till) -> None:
    """Sale A is printed but its POS has not asked for the result yet (and the proxy's own fallback poll
    is far off); sale B, alike, is refused. The register's last receipt is A's, not B's."""
    first = till.submit([SELL])
    deadline = time.monotonic() + 10
    while not till.emulator.register.journal and time.monotonic() < deadline:
        time.sleep(0.01)
    till.emulator.faults.refuse_receipts = 1
    refused = till.result(till.submit([SELL]))
    assert refused["status"] == "error", "B is answered with the register's error, not with A's receipt"
    [entry] = till.emulator.register.journal
    printed = till.result(first)["result"]["fiscalParams"]
    assert printed["fiscalDocumentNumber"] == entry.fiscal_document_number
    [row] = till.outbox_rows(1)
    assert row["fiscal"]["fd_number"] == entry.fiscal_document_number
