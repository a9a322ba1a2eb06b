"""The localhost checkout API over real HTTP, served by a real (not enrolled) agent with a real outbox."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.bootstrap import Agent, create_app
from agent.cashier_api import landing_url
from agent.config import load_config
from receipts.examples import REFERENCE_FISCAL, REFERENCE_QR, REFERENCE_SALE
from sync.outbox import Outbox
from tests.support.live_server import live_server

FISCAL = REFERENCE_FISCAL
SALE = REFERENCE_SALE


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    return tmp_path / "agent"


@pytest.fixture
def pos(agent_dir: Path) -> Iterator[httpx.Client]:
    config = load_config(tmp_path_config(agent_dir), env={})
    agent = Agent(config)
    with live_server(create_app(agent)) as url, httpx.Client(base_url=url + "/pos/v1", timeout=10) as client:
        yield client


def tmp_path_config(agent_dir: Path) -> Path:
    path = agent_dir.parent / "agent.toml"
    path.write_text(f'[agent]\ndata_dir = "{agent_dir}"\ncredentials = "file"\n', encoding="utf-8")
    return path


def open_checkout(pos: httpx.Client, cid: str = "T1-1") -> str:
    response = pos.post("/checkouts", json={"checkout_id": cid})
    assert response.status_code == 201, response.text
    return response.json()["checkout_id"]


def test_member_confirms_masked_phone_and_receipt_is_queued(pos: httpx.Client, agent_dir: Path) -> None:
    cid = open_checkout(pos)
    pos.post(
        f"/checkouts/{cid}/card",
        json={"card_number": "2770001", "holder_name": "Мария", "phone": "8 916 123-45-67"},
    ).raise_for_status()
    prompt = pos.post(f"/checkouts/{cid}/ask-contact").json()
    assert prompt["mode"] == "confirm"
    assert prompt["masked_phone"] == "+7 *** ***-45-67"
    assert prompt["phone_tail"] == "45-67"
    assert pos.post(f"/checkouts/{cid}/contact", json={"confirm": True}).json()["state"] == "contact_given"
    closed = pos.post(f"/checkouts/{cid}/close", json=SALE)
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["queued"] is True
    assert body["receipt_key"] == "9251440300227597:55497:617635937"
    assert body["fns_qr"] == REFERENCE_QR
    with Outbox(agent_dir / "outbox.sqlite3") as outbox:
        [entry] = outbox.pending(10)
    assert entry.payload["contact"] == {"kind": "phone", "value": "79161234567"}
    assert entry.payload["loyalty_card"] == "2770001"
    # the popup's QR landing finds the receipt in the cloud by this unguessable token
    assert entry.payload["extra"]["checkout_id"] == cid
    assert len(entry.payload["extra"]["landing"]) == 16


def test_landing_url_needs_a_cloud_an_enrollment_and_a_token() -> None:
    assert landing_url("https://echeck.example.ru/", 31, "tok") == "https://echeck.example.ru/r/c/31/tok"
    assert landing_url(None, 31, "tok") is None
    assert landing_url("https://echeck.example.ru", None, "tok") is None
    assert landing_url("https://echeck.example.ru", 31, None) is None


def test_second_close_with_the_same_fiscal_data_is_idempotent(pos: httpx.Client, agent_dir: Path) -> None:
    cid = open_checkout(pos)
    first = pos.post(f"/checkouts/{cid}/close", json=SALE).json()
    second = pos.post(f"/checkouts/{cid}/close", json=SALE)
    assert second.status_code == 200
    assert second.json() == {**first, "queued": False}
    other = {**SALE, "fiscal": {**FISCAL, "fd_number": 55498}}
    refused = pos.post(f"/checkouts/{cid}/close", json=other)
    assert refused.status_code == 409
    assert "other fiscal data" in refused.json()["detail"]
    with Outbox(agent_dir / "outbox.sqlite3") as outbox:
        assert outbox.stats().total == 1


def test_out_of_order_calls_get_409_and_change_nothing(pos: httpx.Client) -> None:
    unknown = pos.post("/checkouts/nope/close", json=SALE)
    assert unknown.status_code == 404
    assert "open it first" in unknown.json()["detail"]
    cid = open_checkout(pos)
    assert pos.post("/checkouts", json={"checkout_id": cid}).status_code == 409
    pos.post(f"/checkouts/{cid}/close", json=SALE).raise_for_status()
    late = pos.post(f"/checkouts/{cid}/contact", json={"contact": "9161234567"})
    assert late.status_code == 409
    assert late.json()["detail"] == f"cannot set the contact: checkout {cid} is closed"
    assert pos.post(f"/checkouts/{cid}/cancel").status_code == 409
    assert pos.get(f"/checkouts/{cid}").json()["state"] == "closed"


def test_bad_input_gets_422_with_the_reason(pos: httpx.Client) -> None:
    cid = open_checkout(pos)
    bad_phone = pos.post(f"/checkouts/{cid}/contact", json={"contact": "12345"})
    assert bad_phone.status_code == 422
    assert "not a valid phone" in bad_phone.json()["detail"]
    bad_mail = pos.post(f"/checkouts/{cid}/contact", json={"contact": "ivan@"})
    assert bad_mail.status_code == 422
    wrong_total = pos.post(f"/checkouts/{cid}/close", json={**SALE, "total": 1})
    assert wrong_total.status_code == 422
    assert "sum of item totals" in str(wrong_total.json()["detail"])
    garbage = pos.post(
        f"/checkouts/{cid}/close", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 422
    assert pos.get(f"/checkouts/{cid}").json()["state"] == "opened"


def test_a_garbage_loyalty_phone_never_blocks_the_sale(pos: httpx.Client) -> None:
    cid = open_checkout(pos)
    attached = pos.post(f"/checkouts/{cid}/card", json={"card_number": "277", "phone": "000"})
    assert attached.status_code == 200
    assert pos.post(f"/checkouts/{cid}/ask-contact").json()["mode"] == "enter"


def test_openapi_documents_the_checkout_api_with_examples(pos: httpx.Client) -> None:
    doc = httpx.get(str(pos.base_url).removesuffix("/pos/v1/") + "/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/pos/v1/checkouts",
        "/pos/v1/checkouts/{checkout_id}/close",
        "/pos/v1/checkouts/{checkout_id}/ask-contact",
        "/pos/v1/checkouts/{checkout_id}/contact",
        "/pos/v1/checkouts/{checkout_id}/card",
        "/pos/v1/checkouts/{checkout_id}/cancel",
    ):
        assert path in paths
    assert doc["components"]["schemas"]["CloseRequest"]["examples"]
