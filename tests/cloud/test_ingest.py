"""Batch ingest and the read endpoint, over real HTTP."""

import logging

import pytest
import sqlalchemy as sa

from cloud.ingest.models import ReceiptConflict, ReceiptRow
from cloud.logs import KeyValueFormatter
from sync.protocol import BatchResult, ItemStatus, batch_path, receipts_path
from tests.cloud.conftest import Cloud
from tests.support.receipts import wire_receipt

PHONE = {"kind": "phone", "value": "+7 916 123-45-67"}


def post(cloud: Cloud, store_id: int, receipts: list, headers: dict[str, str]) -> BatchResult:
    resp = cloud.http.post(batch_path(store_id), json={"receipts": receipts}, headers=headers)
    assert resp.status_code == 200, resp.text
    return BatchResult.model_validate(resp.json())


def test_missing_or_bad_token_is_401_with_bearer_challenge(cloud: Cloud) -> None:
    reg = cloud.register()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwdw=="}):
        resp = cloud.http.post(
            batch_path(reg.store_id), json={"receipts": [wire_receipt(1)]}, headers=headers
        )
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        assert "token" in resp.json()["detail"]


def test_a_register_cannot_write_another_store(cloud: Cloud) -> None:
    reg = cloud.register()
    other_store = cloud.store(reg.tenant_id, "Nevsky 1")
    resp = cloud.http.post(batch_path(other_store), json={"receipts": [wire_receipt(1)]}, headers=reg.auth)
    assert resp.status_code == 403
    assert f"cannot write receipts for store {other_store}" in resp.json()["detail"]
    with cloud.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ReceiptRow)).scalar_one() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"receipt": [wire_receipt(1)]}, "receipts"),
        ({"receipts": "nope"}, "receipts"),
        ({"receipts": []}, "receipts"),
    ],
)
def test_a_body_that_is_not_a_batch_is_422_naming_the_field(cloud: Cloud, body: dict, field: str) -> None:
    reg = cloud.register()
    resp = cloud.http.post(batch_path(reg.store_id), json=body, headers=reg.auth)
    assert resp.status_code == 422
    assert field in {str(part) for err in resp.json()["detail"] for part in err["loc"]}


def test_a_mixed_batch_loses_nothing(cloud: Cloud) -> None:
    reg = cloud.register()
    bad_total = wire_receipt(2, total=100)
    bad_total["total"] = 999
    bad_phone = wire_receipt(4, contact={"kind": "phone", "value": "12"})
    batch = [wire_receipt(1, contact=PHONE), bad_total, wire_receipt(3), bad_phone, {"hello": "world"}]
    result = post(cloud, reg.store_id, batch, reg.auth)

    assert [(a.index, a.status) for a in result.accepted] == [(0, ItemStatus.STORED), (2, ItemStatus.STORED)]
    assert result.accepted[0].key == f"{batch[0]['fiscal']['fn_serial']}:1:600000001"
    rejected = {r.index: r.reason for r in result.rejected}
    assert set(rejected) == {1, 3, 4}
    assert "total 999 differs" in rejected[1]
    assert "phone" in rejected[3]
    assert "fiscal" in rejected[4]

    with cloud.session() as s:
        rows = s.execute(sa.select(ReceiptRow).order_by(ReceiptRow.fd_number)).scalars().all()
        assert [r.fd_number for r in rows] == [1, 3]
        assert rows[0].contact_value == "79161234567"
        assert rows[0].contact_hash == cloud.keys.hash("79161234567")  # keyed, not a plain SHA-256
        assert rows[0].register_id == reg.register_id
        assert rows[0].store_id == reg.store_id
        assert rows[0].total == 5200
        assert rows[1].contact_kind is None


def test_a_resend_is_acknowledged_as_duplicate(cloud: Cloud) -> None:
    reg = cloud.register()
    batch = [wire_receipt(fd) for fd in (1, 2, 3)]
    assert {a.status for a in post(cloud, reg.store_id, batch, reg.auth).accepted} == {ItemStatus.STORED}
    # Same receipts, another spelling of the same values: still the same receipt.
    batch[0]["items"][0]["quantity"] = "1"
    again = post(cloud, reg.store_id, [*batch, wire_receipt(4)], reg.auth)
    assert [a.status for a in again.accepted] == [ItemStatus.DUPLICATE] * 3 + [ItemStatus.STORED]
    with cloud.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ReceiptRow)).scalar_one() == 4


def test_same_key_different_content_is_a_conflict_and_the_first_stays(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    reg = cloud.register()
    post(cloud, reg.store_id, [wire_receipt(1, total=5200)], reg.auth)
    changed = wire_receipt(1, total=9900, contact={"kind": "phone", "value": "+79161234567"})
    with caplog.at_level(logging.INFO, logger="cloud"):
        result = post(cloud, reg.store_id, [changed, changed], reg.auth)
        post(cloud, reg.store_id, [changed], reg.auth)  # the same conflicting resend is recorded once
    assert [a.status for a in result.accepted] == [ItemStatus.CONFLICT, ItemStatus.CONFLICT]
    with cloud.session() as s:
        (row,) = s.execute(sa.select(ReceiptRow)).scalars().all()
        assert row.total == 5200
        (conflict,) = s.execute(sa.select(ReceiptConflict)).scalars().all()
        assert conflict.receipt_id == row.id
        assert conflict.payload["total"] == 9900
    text = "\n".join(KeyValueFormatter().format(r) for r in caplog.records)
    assert "event=receipt.conflict" in text
    assert "key=9251440300227597:1:600000001" in text
    assert "79161234567" not in text  # logs carry the masked phone only
    assert "***-45-67" in text


def test_duplicates_inside_one_batch(cloud: Cloud) -> None:
    reg = cloud.register()
    result = post(
        cloud, reg.store_id, [wire_receipt(1), wire_receipt(1), wire_receipt(1, total=10)], reg.auth
    )
    assert [a.status for a in result.accepted] == [
        ItemStatus.STORED,
        ItemStatus.DUPLICATE,
        ItemStatus.CONFLICT,
    ]


def test_reads_are_tenant_scoped_and_paged(cloud: Cloud) -> None:
    reg = cloud.register()
    other = cloud.register(tenant=cloud.tenant("Other"))
    post(
        cloud,
        reg.store_id,
        [wire_receipt(fd, contact=PHONE if fd == 1 else None) for fd in range(1, 6)],
        reg.auth,
    )

    first = cloud.http.get(receipts_path(reg.store_id), params={"limit": 3}, headers=reg.tenant_auth)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["count"] == 5
    assert len(page["receipts"]) == 3
    top = page["receipts"][0]
    assert top["register_id"] == reg.register_id
    assert top["received_at"]
    assert top["receipt"]["contact"] == {"kind": "phone", "value": "79161234567"}
    assert top["receipt"]["fiscal"]["fd_number"] == 1
    rest = cloud.http.get(
        receipts_path(reg.store_id), params={"after_id": page["next_after_id"]}, headers=reg.tenant_auth
    ).json()
    assert [r["receipt"]["fiscal"]["fd_number"] for r in rest["receipts"]] == [4, 5]
    assert rest["next_after_id"] is None

    # Another tenant's key sees nothing of this store: 404, not 403, so store ids do not leak.
    foreign = cloud.http.get(receipts_path(reg.store_id), headers=other.tenant_auth)
    assert foreign.status_code == 404
    assert cloud.http.get(receipts_path(999999), headers=reg.tenant_auth).status_code == 404
    assert cloud.http.get(receipts_path(reg.store_id), headers=reg.auth).status_code == 401
