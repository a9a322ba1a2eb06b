"""What no database can hold is a 422 naming the field, never a 500; one bad receipt never sinks its batch."""

import json
from typing import Any

import pytest

from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH, batch_path, receipts_path
from tests.cloud.conftest import Cloud, now_utc, wire_receipt

BIG = 2**63  # one past the largest 64-bit id (receipts)
BIG32 = 2**31  # one past the largest 32-bit id (tenants, stores, registers on PostgreSQL)


def _locs(resp: Any) -> list[list[Any]]:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "invalid_request"
    return [e["loc"] for e in body["detail"]]


def test_ids_above_64_bits_are_422_naming_the_parameter(cloud: Cloud) -> None:
    reg = cloud.register()
    assert _locs(cloud.http.get(receipts_path(BIG), headers=reg.tenant_auth)) == [["path", "store_id"]]
    page = cloud.http.get(receipts_path(reg.store_id), params={"after_id": 2**64}, headers=reg.tenant_auth)
    assert _locs(page) == [["query", "after_id"]]
    batch = cloud.http.post(batch_path(BIG), json={"receipts": [wire_receipt(1)]}, headers=reg.auth)
    assert _locs(batch) == [["path", "store_id"]]
    timeline = cloud.http.get(f"/v1/receipts/{BIG * 10}/delivery", headers=reg.tenant_auth)
    assert _locs(timeline) == [["path", "receipt_id"]]
    summary = cloud.http.get("/v1/delivery/summary", params={"store_id": -BIG32 - 1}, headers=reg.tenant_auth)
    assert _locs(summary) == [["query", "store_id"]]
    # Store ids are 32-bit in the schema: the largest is a valid id that does not exist, one more is 422.
    assert cloud.http.get(receipts_path(BIG32 - 1), headers=reg.tenant_auth).status_code == 404
    assert _locs(cloud.http.get(receipts_path(BIG32), headers=reg.tenant_auth)) == [["path", "store_id"]]
    assert cloud.http.get(f"/v1/receipts/{BIG - 1}/delivery", headers=reg.tenant_auth).status_code == 404
    # And the contract says so.
    doc = cloud.http.get("/openapi.json").json()
    params = doc["paths"]["/v1/stores/{store_id}/receipts"]["get"]["parameters"]
    assert {p["name"]: p["schema"]["maximum"] for p in params} == {
        "store_id": BIG32 - 1,
        "after_id": BIG - 1,
        "limit": 1000,
    }


def test_one_bad_receipt_never_sinks_its_batch(cloud: Cloud) -> None:
    reg = cloud.register()
    huge_fd = wire_receipt(2)
    huge_fd["fiscal"]["fd_number"] = BIG
    huge_total = wire_receipt(3)
    huge_total["total"] = BIG
    huge_total["items"][0]["total"] = huge_total["items"][0]["price"] = BIG
    surrogate = wire_receipt(4)
    surrogate["items"][0]["name"] = "Milk \ud800"
    nul = wire_receipt(5, loyalty_card="12\x0034")
    long_card = wire_receipt(6, loyalty_card="7" * 65)
    bad_key = wire_receipt(7, extra={"k" * 100: "v"})
    batch = [wire_receipt(1), huge_fd, huge_total, surrogate, nul, long_card, bad_key, "not a receipt", None]
    # Sent as JSON text with \ud800 escaped, the way a client with a broken string would send it.
    resp = cloud.http.post(
        batch_path(reg.store_id),
        content=json.dumps({"receipts": batch}).encode(),
        headers={**reg.auth, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [(a["index"], a["status"]) for a in body["accepted"]] == [(0, "stored")]
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert reasons[1].startswith("fiscal.fd_number: must fit in 64 bits")
    assert "; total: must fit in 64 bits (below 2^63)" in reasons[2]
    assert reasons[3] == "items.0.name: contains a lone UTF-16 surrogate"
    assert reasons[4] == "loyalty_card: contains a NUL character"
    assert reasons[5].startswith("loyalty_card: at most 64 characters")
    assert reasons[6].startswith("extra: a field name is too long")
    page = cloud.http.get(receipts_path(reg.store_id), headers=reg.tenant_auth).json()
    assert page["count"] == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent_version", "9" * 65),
        ("agent_version", "1.0\x00"),
        ("instance_id", "a\udc00"),
        ("queue_depth", 2**31),
    ],
)
def test_heartbeat_identifiers_and_numbers_have_limits(cloud: Cloud, field: str, value: object) -> None:
    reg = cloud.register()
    beat = {"register_time": now_utc().isoformat(), field: value}
    resp = cloud.http.post(
        HEARTBEAT_PATH,
        content=json.dumps(beat).encode(),
        headers={**reg.auth, "Content-Type": "application/json"},
    )
    assert _locs(resp) == [["body", field]]


def test_heartbeat_free_text_is_cleaned_and_cut_not_refused(cloud: Cloud) -> None:
    reg = cloud.register()
    beat = {
        "register_time": now_utc().isoformat(),
        "last_error": "disk \x00 full " + "x" * 5000,
        "dead_letter": ["k: " + "y" * 1000],
    }
    resp = cloud.http.post(
        HEARTBEAT_PATH,
        content=json.dumps(beat).encode(),
        headers={**reg.auth, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text


def test_enrollment_strings_cannot_hold_nul(cloud: Cloud) -> None:
    store = cloud.store(cloud.tenant()[0])
    resp = cloud.http.post(ENROLL_PATH, json={"code": cloud.code(store), "hostname": "till\x001"})
    assert _locs(resp) == [["body", "hostname"]]


def test_a_report_period_is_a_date_time_not_a_number(cloud: Cloud) -> None:
    reg = cloud.register()
    resp = cloud.http.get("/v1/delivery/summary", params={"until": "0.5"}, headers=reg.tenant_auth)
    assert _locs(resp) == [["query", "until"]]
    ok = cloud.http.get(
        "/v1/delivery/summary", params={"until": "2026-11-23T10:00:00Z"}, headers=reg.tenant_auth
    )
    assert ok.status_code == 200
